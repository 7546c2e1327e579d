"""Leaderboard outputs from experiment folders: GEO-Bench CSV + additional_info.json, per-class table, plot.

``results_and_parameters.csv`` has one row per (experiment, seed) with the GEO-Bench leaderboard's
columns; ``additional_info.json`` describes each backbone and experiment; ``per_class.md`` is a
PANGAEA-style table of per-class IoU (mean ± std over seeds); ``accuracy_vs_gflops.png`` places every
experiment's mean test score against the forward-pass GFLOPs of its model at its input size.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..errors import TrtbenchError
from ..fileio import atomic_output
from .experiment import EXPERIMENT_FILE

GEOBENCH_COLUMNS = ("backbone", "dataset", "Metric", "experiment_name", "batch_size_selection", "early_stop_patience",
                    "n_trials", "Seed", "batch_size", "weight_decay", "lr", "test metric", "frozen_or_full_ft")
GEOBENCH_METRIC = {"segmentation": "Multiclass_Jaccard_Index", "classification": "Overall_Accuracy",
                   "regression": "RMSE"}
MIN_SEEDS = 5  # GEO-Bench's protocol asks for at least five seeds per experiment


def find_experiments(root: str | Path) -> list[dict[str, Any]]:
    """Every ``experiment.json`` under ``root`` (the folder itself or any sub-folder), sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise TrtbenchError(f"runs folder not found: {root}", "pass the -o folder (or its parent) of `trtbench train`")
    found = []
    for path in sorted(root.rglob(EXPERIMENT_FILE)):
        record = json.loads(path.read_text())
        record["folder"] = str(path.parent)
        found.append(record)
    if not found:
        raise TrtbenchError(f"no {EXPERIMENT_FILE} under {root}", "train first: `trtbench train ... -o RUNS/NAME`")
    return found


def backbone_name(record: dict[str, Any]) -> str:
    meta = _best_metadata(record)
    return f"{meta['model']} ({meta['family']} {meta['variant']})"


def geobench_rows(experiments: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for record in experiments:
        config = record["config"]
        for run in record["runs"]:
            rows.append({
                "backbone": backbone_name(record), "dataset": record["dataset"],
                "Metric": GEOBENCH_METRIC[record["task"]], "experiment_name": record["name"],
                "batch_size_selection": "fixed", "early_stop_patience": config["patience"],
                "n_trials": (record.get("lr_search") or {}).get("n_trials", 0), "Seed": run["seed"],
                "batch_size": config["batch_size"], "weight_decay": config["weight_decay"], "lr": run["lr"],
                "test metric": run["test"][run["monitor"]],
                "frozen_or_full_ft": "frozen" if config["regime"] == "frozen" else "full_ft",
            })
    return rows


def check_geobench_csv(text: str, min_seeds: int = MIN_SEEDS) -> list[str]:
    """Problems that would keep a ``results_and_parameters.csv`` off the leaderboard (empty when fine)."""
    reader = csv.DictReader(io.StringIO(text))
    problems = []
    missing = [c for c in GEOBENCH_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    rows = list(reader)
    if not rows:
        problems.append("no result rows")
    seeds: dict[tuple[str, str, str], set[str]] = {}
    for i, row in enumerate(rows, start=2):
        for column in ("early_stop_patience", "n_trials", "Seed", "batch_size"):
            if not str(row.get(column, "")).lstrip("-").isdigit():
                problems.append(f"line {i}: {column} is not an integer: {row.get(column)!r}")
        for column in ("weight_decay", "lr", "test metric"):
            try:
                float(row.get(column, ""))
            except ValueError:
                problems.append(f"line {i}: {column} is not a number: {row.get(column)!r}")
        if row.get("frozen_or_full_ft") not in ("frozen", "full_ft"):
            problems.append(f"line {i}: frozen_or_full_ft must be 'frozen' or 'full_ft'")
        seeds.setdefault((row.get("backbone", ""), row.get("dataset", ""), row.get("experiment_name", "")),
                         set()).add(row.get("Seed", ""))
    for (backbone, dataset, name), found in seeds.items():
        if len(found) < min_seeds:
            problems.append(f"{name} ({backbone} on {dataset}): {len(found)} seed(s), the protocol asks for {min_seeds}")
    return problems


def write_geobench_csv(experiments: Sequence[dict[str, Any]], path: str | Path) -> list[str]:
    """Write the CSV; returns the schema check's warnings (e.g. fewer than 5 seeds) for the caller to show."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=GEOBENCH_COLUMNS)
    writer.writeheader()
    writer.writerows(geobench_rows(experiments))
    with atomic_output(path) as tmp:
        tmp.write_text(buffer.getvalue())
    return check_geobench_csv(buffer.getvalue())


def additional_info(experiments: Sequence[dict[str, Any]], gflops: dict[str, float]) -> dict[str, Any]:
    out: dict[str, Any] = {"software": f"trtbench {__version__}", "torch": torch.__version__, "experiments": {}}
    for record in experiments:
        meta = _best_metadata(record)
        config = record["config"]
        out["experiments"][record["name"]] = {
            "backbone": backbone_name(record), "dataset": record["dataset"], "task": record["task"],
            "head": meta.get("head"), "regime": config["regime"], "fraction": config["fraction"],
            "pretrained_checkpoint": config["checkpoint"], "bands": meta["bands"], "wavelengths_um": meta["wavelengths"],
            "input_size": meta["input_size"], "epochs": config["epochs"], "seeds": [r["seed"] for r in record["runs"]],
            "lr_search_trials": config["lr_search"], "gflops_per_image": gflops.get(record["folder"]),
            "test_summary": record["summary"],
        }
    return out


def per_class_table(experiments: Sequence[dict[str, Any]]) -> str:
    """Markdown: one row per segmentation experiment, per-class IoU and mIoU as mean ± std over seeds (in %)."""
    lines = []
    for record in experiments:
        if record["task"] != "segmentation":
            continue
        classes = record["class_names"]
        summary = record["summary"]
        cells = [_pct(summary.get(f"iou_{i}")) for i in range(len(classes))] + [_pct(summary.get("miou"))]
        lines += [f"### {record['name']}: {backbone_name(record)} on {record['dataset']}", "",
                  "| " + " | ".join([*classes, "mIoU"]) + " |", "|" + "---|" * (len(classes) + 1),
                  "| " + " | ".join(cells) + " |", ""]
    return "\n".join(lines) if lines else "No segmentation experiments.\n"


def _pct(stat: dict[str, float] | None) -> str:
    return "n/a" if stat is None else f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"


def count_gflops(checkpoint: str | Path) -> float:
    """Forward-pass GFLOPs (2 x MACs, the bench's fvcore count) of a checkpoint for one image at its input size."""
    from ..bench.flops import count_flops
    from ..models import model_from_checkpoint

    model = model_from_checkpoint(checkpoint)
    meta = model.metadata
    report = count_flops(model, (1, meta.num_bands, meta.input_size, meta.input_size), cross_check=False)
    return 2 * report.gmac_per_image


def plot_accuracy_vs_gflops(experiments: Sequence[dict[str, Any]], gflops: dict[str, float], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for record in experiments:
        stat = record["summary"][record["runs"][0]["monitor"]]
        ax.errorbar(gflops[record["folder"]], stat["mean"], yerr=stat["std"], fmt="o", capsize=3)
        ax.annotate(f"{record['name']} ({record['dataset']})", (gflops[record["folder"]], stat["mean"]),
                    textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("GFLOPs per image (forward pass)")
    ax.set_ylabel("test metric (mean ± std over seeds)")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return Path(path)


def write_report(runs: str | Path, csv_path: str | Path, plot: bool = True) -> dict[str, Any]:
    """All leaderboard outputs beside ``csv_path``; returns their paths and the CSV check's warnings."""
    experiments = find_experiments(runs)
    csv_path = Path(csv_path)
    folder = csv_path.parent
    gflops = {r["folder"]: count_gflops(Path(r["folder"]) / "best.ckpt") for r in experiments}
    warnings = write_geobench_csv(experiments, csv_path)
    outputs = {"geobench_csv": str(csv_path), "additional_info": str(folder / "additional_info.json"),
               "per_class": str(folder / "per_class.md")}
    with atomic_output(outputs["additional_info"]) as tmp:
        tmp.write_text(json.dumps(additional_info(experiments, gflops), indent=2))
    with atomic_output(outputs["per_class"]) as tmp:
        tmp.write_text(per_class_table(experiments))
    if plot:
        outputs["plot"] = str(plot_accuracy_vs_gflops(experiments, gflops, folder / "accuracy_vs_gflops.png"))
    return {"outputs": outputs, "warnings": warnings, "experiments": len(experiments),
            "rows": sum(len(r["runs"]) for r in experiments)}


def _best_metadata(record: dict[str, Any]) -> dict[str, Any]:
    folder = Path(record["folder"]) / f"seed_{record['best_seed']}"
    return json.loads((folder / "result.json").read_text())["metadata"]
