"""An experiment: optional LR search, then one run per seed, summarised in ``experiment.json``.

Layout of ``-o runs/NAME``::

    experiment.json        config, trainable parameters (and the LoRA adapters), LR search, every seed's result,
                           mean/std of the test metrics
    best.ckpt              the run with the best validation score (ready for `trtbench export`)
    seed_K/                metrics.csv, checkpoints/, best.ckpt, result.json for seed K
    lr_search/trial_NNN/   the Optuna trials, laid out like seed folders

Bad input is caught before anything is written; a run that fails midway removes the folder it
created, so no half-finished experiment is ever mistaken for a result.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..data import DataBundle, DataOptions, load_data
from ..errors import TrtbenchError
from ..fileio import atomic_output, check_writable
from ..models.lora import LORA_KEY
from .module import MONITOR
from .run import RunResult, TrainConfig, build_model, fit, trainable_parameters
from .search import search_lr

EXPERIMENT_FILE = "experiment.json"


def run_experiment(config: TrainConfig, data: DataOptions | DataBundle, output: str | Path) -> dict[str, Any]:
    """Train ``config`` on ``data`` over every seed; returns (and writes) the experiment record."""
    config.validate()
    output = check_writable(output, "folder", option="-o")   # an unwritable -o fails now, not after loading
    if (output / EXPERIMENT_FILE).exists():
        raise TrtbenchError(f"{output} already holds an experiment", "choose another -o, or delete the folder")
    bundle = data if isinstance(data, DataBundle) else load_data(data)
    # Fails on a wrong checkpoint, head or LoRA target before anything is written.
    model = build_model(config, bundle, config.seeds[0])
    trainable = {"trainable_parameters": trainable_parameters(model),
                 LORA_KEY: (model.metadata.training or {}).get(LORA_KEY)}
    created = not output.exists()
    output.mkdir(parents=True, exist_ok=True)
    try:
        return _run(config, bundle, output, trainable)
    except BaseException:
        if created:
            shutil.rmtree(output, ignore_errors=True)
        raise


def _run(config: TrainConfig, bundle: DataBundle, output: Path, trainable: dict[str, Any]) -> dict[str, Any]:
    search = search_lr(config, bundle, output / "lr_search") if config.lr_search else None
    lr = search["best_lr"] if search else config.lr
    runs = [fit(config, bundle, seed, lr, output / f"seed_{seed}") for seed in config.seeds]
    _, mode = MONITOR[bundle.task]
    chosen = (max if mode == "max" else min)(runs, key=lambda r: r.best_val)
    shutil.copyfile(Path(chosen.folder) / "best.ckpt", output / "best.ckpt")
    record = {"name": output.name, "dataset": bundle.name, "split": bundle.split_note, "task": bundle.task, "class_names": bundle.class_names,
              "bands": bundle.sensor.band_names, "config": asdict(config), **trainable, "lr": lr, "lr_search": search,
              "best_seed": chosen.seed, "runs": [asdict(r) for r in runs], "summary": summarize(runs)}
    with atomic_output(output / EXPERIMENT_FILE) as tmp:
        tmp.write_text(json.dumps(record, indent=2))
    return record


def summarize(runs: list[RunResult]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation over seeds of every test metric."""
    keys = sorted(set.intersection(*(set(r.test) for r in runs)))
    return {k: {"mean": float(np.mean([r.test[k] for r in runs])), "std": float(np.std([r.test[k] for r in runs])),
                "n": len(runs)} for k in keys}


def auto_class_weights(bundle: DataBundle) -> tuple[float, ...]:
    """Inverse-frequency class weights from the training labels, scaled to average 1 (``--class-weights auto``)."""
    if bundle.task == "regression":
        raise TrtbenchError("--class-weights applies to classes, not regression", "drop --class-weights")
    train = bundle.splits["train"]
    counts = np.zeros(bundle.num_classes or 0)
    for i in range(len(train)):
        target = train.read_label(i)
        counts += np.bincount(target[target != bundle.ignore_index], minlength=len(counts))[: len(counts)]
    weights = 1.0 / np.maximum(counts, 1)
    return tuple(float(w) for w in weights / weights.mean())
