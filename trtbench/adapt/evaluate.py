"""``trtbench eval --engine RUN/best.ckpt --ttt-steps K[,K...]``: TTT-MMR on the test split of the dataset the
checkpoint was trained on, for each step count, with the task metric and the time per image relative to K = 0.

TTT runs in PyTorch on the checkpoint (it changes the encoder's weights per batch, which no static artifact
can), reads the dataset the checkpoint records (``--data`` is its folder) with the recorded modalities, split
and normalisation, and batches the test chips in dataset order or, with ``--ttt-geo``, by location.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data import DataOptions, load_data
from ..errors import TrtbenchError
from .batching import chip_location, geographic_batches, sequential_batches
from .reconstruction import load_joint
from .ttt import StepsResult, TestTimeTrainer, TTTConfig, evaluate_ttt


@dataclass
class TTTEvalResult:
    checkpoint: str
    dataset: str
    data_root: str
    split: str
    batching: str
    batch_size: int
    batches: list[list[str]]
    lr: float
    optimizer: str
    monitor: str
    runs: list[StepsResult] = field(default_factory=list)

    def relative_time(self, run: StepsResult) -> float | None:
        """Time per image relative to K = 0 (when K = 0 ran)."""
        base = next((r for r in self.runs if r.steps == 0), None)
        return run.seconds_per_image / base.seconds_per_image if base and base.seconds_per_image else None

    def to_dict(self) -> dict[str, Any]:
        return {"mode": "ttt-mmr", "checkpoint": self.checkpoint, "dataset": self.dataset,
                "data_root": self.data_root, "split": self.split, "batching": self.batching,
                "batch_size": self.batch_size, "batches": self.batches, "ttt_lr": self.lr,
                "ttt_optimizer": self.optimizer, "monitor": self.monitor,
                "runs": [{"steps": r.steps, "metrics": r.metrics, "images": r.images,
                          "seconds_per_image": r.seconds_per_image, "time_vs_k0": self.relative_time(r)}
                         for r in self.runs]}

    def table(self) -> str:
        lines = [f"TTT-MMR on {self.dataset} test split ({sum(map(len, self.batches))} chips, {len(self.batches)} "
                 f"{self.batching} batches of up to {self.batch_size}; {self.optimizer} lr {self.lr:g}; PyTorch)",
                 f"{'K':>3}  {self.monitor:>8}  {'ms/image':>9}  {'time vs K=0':>11}"]
        for run in self.runs:
            ratio = self.relative_time(run)
            lines.append(f"{run.steps:>3}  {run.metrics.get(self.monitor, math.nan):>8.4f}  "
                         f"{1e3 * run.seconds_per_image:>9.1f}  {'-' if ratio is None else f'{ratio:.2f}x':>11}")
        return "\n".join(lines)

    def markdown(self) -> str:
        rows = [f"| {r.steps} | {r.metrics.get(self.monitor, math.nan):.4f} | {1e3 * r.seconds_per_image:.1f} | "
                f"{'-' if self.relative_time(r) is None else f'{self.relative_time(r):.2f}x'} |" for r in self.runs]
        return "\n".join([f"# TTT-MMR: {Path(self.checkpoint).name} on {self.dataset}", "",
                          f"Test split, {self.batching} batches of up to {self.batch_size}, {self.optimizer} "
                          f"lr {self.lr:g}, PyTorch.", "", f"| K | {self.monitor} | ms/image | time vs K=0 |",
                          "|---|---|---|---|", *rows, ""])


def parse_steps(value: str) -> list[int]:
    """``--ttt-steps 0,1,5`` -> [0, 1, 5]."""
    try:
        steps = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        steps = []
    if not steps or min(steps) < 0 or len(set(steps)) != len(steps):
        raise TrtbenchError(f"--ttt-steps takes distinct whole numbers >= 0, got '{value}'",
                            "e.g. --ttt-steps 5, or --ttt-steps 0,1,5 to compare")
    return steps


def ttt_eval(checkpoint: str | Path, data_root: str | Path, steps: list[int], *, lr: float = 1e-2,
             optimizer: str = "sgd", geo: bool = False, batch_size: int = 4) -> TTTEvalResult:
    """Evaluate the checkpoint on its dataset's test split after 0..K TTT steps per batch, for each K."""
    for k in steps:
        TTTConfig(k, lr, optimizer).validate()
    model, decoders, record = load_joint(checkpoint)
    meta = model.metadata
    bundle = load_data(DataOptions(record["dataset"], Path(data_root), modalities=record["modalities"],
                                   split=record["split"], split_seed=record["split_seed"]))
    test = bundle.splits["test"].view(size_multiple=meta.patch_size)
    test.mean = np.asarray(record["mean"], np.float32)[:, None, None]
    test.std = np.asarray(record["std"], np.float32)[:, None, None]
    if test.mean.shape[0] != sum(len(c) for c in test.channels):
        raise TrtbenchError(f"{data_root} gives {sum(len(c) for c in test.channels)} channels for "
                            f"{'+'.join(record['modalities'])}, the checkpoint was trained on {test.mean.shape[0]}",
                            "pass the folder of the dataset the checkpoint was trained on")
    samples = [test[i] for i in range(len(test))]
    names = [r.name for r in test.records]
    if geo:
        batches = geographic_batches([chip_location(r.images[0][0]) for r in test.records], batch_size)
    else:
        batches = sequential_batches(len(samples), batch_size)
    trainer = TestTimeTrainer(model, decoders, record["input_channels"], record["aux_channels"])
    monitor = "miou" if meta.task == "segmentation" else "rmse" if meta.task == "regression" else "accuracy"
    result = TTTEvalResult(str(checkpoint), record["dataset"], str(data_root), bundle.split_note,
                           "geographic" if geo else "sequential", batch_size, [[names[i] for i in b] for b in batches],
                           lr, optimizer, monitor)
    for k in sorted(steps):
        run, _ = evaluate_ttt(trainer, samples, batches, TTTConfig(k, lr, optimizer), meta.task, meta.num_classes,
                              bundle.ignore_index)
        result.runs.append(run)
    return result
