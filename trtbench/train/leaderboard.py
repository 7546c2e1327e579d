"""Leaderboard outputs from experiment folders: GEO-Bench CSV + additional_info.json, per-class table, plot.

``results_and_parameters.csv`` and ``additional_info.json`` are written exactly as the GEO-Bench-2
leaderboard defines them (its repository's ``examples/`` folder and README, which says the JSON "MUST
have the same file name and contain the same keys"): the CSV has one row per (experiment, seed) with
the reference's columns in the reference's order (:data:`GEOBENCH_COLUMNS`), the JSON has exactly the
reference's keys (:data:`ADDITIONAL_INFO_KEYS`, ``"Code Repository Link "`` with its trailing space).
What the reference has no column for (regime, split, bands, GFLOPs) goes into the JSON's free-text
field and, in full, into ``trtbench_details.json`` beside them. ``per_class.md`` is a PANGAEA-style
table of per-class IoU (mean ± std over seeds); ``accuracy_vs_gflops.png`` places every experiment's
mean test score against the forward-pass GFLOPs of its model at its input size. With the cells of a
``trtbench compare`` run (``--compare``), the backend, precision and artifact hash each best checkpoint was
measured with go into ``<name>_deployment.csv`` and the details (:mod:`trtbench.train.deployment`), since
the reference CSV takes no extra column.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..errors import TrtbenchError
from ..fileio import atomic_output
from .deployment import attribute_cells, deployment_rows, load_cells, write_deployment_csv
from .experiment import EXPERIMENT_FILE
from .run import DATA_CHECK_FILE

GEOBENCH_COLUMNS = ("dataset", "Metric", "experiment_name", "partition name", "backbone", "decoder",
                    "batch_size_selection", "early_stop_patience", "n_trials", "Seed", "data_percentages", "batch_size",
                    "weight_decay", "lr", "test metric")
ADDITIONAL_INFO_KEYS = ("Paper Link", "Code Repository Link ", "License", "Number of HPO trials",
                        "Additional information about submission", "Comments on new models in submission",
                        "New model info")
NEW_MODEL_KEYS = ("model_display_name", "model_size", "unique_backbone_key")
TO_FILL = ("Paper Link", "Code Repository Link ", "License")  # only the submitter knows these
DETAILS_FILE = "trtbench_details.json"
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
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TrtbenchError(f"{path} is not a readable experiment record ({exc})",
                                "re-run that training, or remove its folder from the runs") from None
        if not isinstance(record, dict):
            raise TrtbenchError(f"{path} is not an experiment record (no JSON object)",
                                "re-run that training, or remove its folder from the runs")
        record["folder"] = str(path.parent)
        found.append(record)
    if not found:
        raise TrtbenchError(f"no {EXPERIMENT_FILE} under {root}", "train first: `trtbench train ... -o RUNS/NAME`")
    return found


def backbone_name(record: dict[str, Any]) -> str:
    meta = _best_metadata(record)
    return f"{meta['model']} ({meta['family']} {meta['variant']})"


def partition_name(fraction: float) -> str:
    """The leaderboard's training partition label: ``1.00x train`` for all training chips, ``0.10x train`` ..."""
    return f"{fraction:.2f}x train"


def data_percentage(fraction: float) -> str:
    """The leaderboard's ``data_percentages`` value: ``100%`` for all training chips."""
    return f"{100 * fraction:g}%"


def geobench_rows(experiments: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (experiment, seed), keyed by :data:`GEOBENCH_COLUMNS`."""
    rows = []
    for record in experiments:
        config = record["config"]
        head = _best_metadata(record).get("head")
        for run in record["runs"]:
            rows.append({
                "dataset": record["dataset"], "Metric": GEOBENCH_METRIC[record["task"]],
                "experiment_name": record["name"], "partition name": partition_name(config["fraction"]),
                "backbone": backbone_name(record), "decoder": head or "none", "batch_size_selection": "fixed",
                "early_stop_patience": config["patience"],
                "n_trials": (record.get("lr_search") or {}).get("n_trials", 0), "Seed": run["seed"],
                "data_percentages": data_percentage(config["fraction"]), "batch_size": config["batch_size"],
                "weight_decay": config["weight_decay"], "lr": run["lr"], "test metric": run["test"][run["monitor"]],
            })
    return rows


def check_geobench_csv(text: str, min_seeds: int = MIN_SEEDS) -> list[str]:
    """Problems that would keep a ``results_and_parameters.csv`` off the leaderboard (empty when fine)."""
    reader = csv.DictReader(io.StringIO(text))
    problems = []
    header = list(reader.fieldnames or [])
    missing = [c for c in GEOBENCH_COLUMNS if c not in header]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    extra = [c for c in header if c not in GEOBENCH_COLUMNS]
    if extra:
        problems.append(f"column(s) the leaderboard does not define: {', '.join(extra)}")
    if not missing and not extra and tuple(header) != GEOBENCH_COLUMNS:
        problems.append(f"columns out of the reference order: {', '.join(GEOBENCH_COLUMNS)}")
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
        if not re.fullmatch(r"\d+\.\d\dx train", str(row.get("partition name", ""))):
            problems.append(f"line {i}: partition name must read like '1.00x train', got {row.get('partition name')!r}")
        if not re.fullmatch(r"\d+(\.\d+)?%", str(row.get("data_percentages", ""))):
            problems.append(f"line {i}: data_percentages must read like '100%', got {row.get('data_percentages')!r}")
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


def additional_info(experiments: Sequence[dict[str, Any]], facts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``additional_info.json`` with exactly the reference's keys; ``facts`` per experiment folder (GFLOPs,
    parameters, split). The paper, code and licence fields are left empty for the submitter (warned about)."""
    models: dict[str, dict[str, str]] = {}
    lines = []
    for record in experiments:
        meta, config, fact = _best_metadata(record), record["config"], facts[record["folder"]]
        models.setdefault(meta["model"], {"model_display_name": backbone_name(record),
                                          "model_size": f"{fact['parameters'] / 1e6:.1f}M",
                                          "unique_backbone_key": meta["model"]})
        lines.append(f"{record['name']} ({record['dataset']}): {config['regime']} regime, "
                     f"{partition_name(config['fraction'])}, head {meta.get('head') or 'none'}, "
                     f"bands {','.join(meta['bands'])}, input {meta['input_size']} px, "
                     f"{fact['gflops']:.3g} GFLOPs per image, split: {fact['split'] or 'not recorded'}, "
                     f"pretrained: {config['checkpoint'] or 'none (random init)'}")
    trials = [(r.get("lr_search") or {}).get("n_trials", 0) for r in experiments]
    info = {  # ADDITIONAL_INFO_KEYS, in the reference's order
        "Paper Link": "", "Code Repository Link ": "", "License": "", "Number of HPO trials": max(trials, default=0),
        "Additional information about submission": f"trained with trtbench {__version__} (torch {torch.__version__}); "
                                                   + "; ".join(lines),
        "Comments on new models in submission": "; ".join(f"{m['model_display_name']}: registry name "
                                                          f"{m['unique_backbone_key']}" for m in models.values()),
        "New model info": list(models.values()),
    }
    return info


def details(experiments: Sequence[dict[str, Any]], facts: dict[str, dict[str, Any]],
            deployment: Mapping[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """Our own record of every experiment (what the leaderboard files have no field for), for ``trtbench_details.json``;
    ``deployment``: the comparison cells measured on each experiment folder's best checkpoint."""
    out: dict[str, Any] = {"software": f"trtbench {__version__}", "torch": torch.__version__, "experiments": {}}
    for record in experiments:
        meta, config, fact = _best_metadata(record), record["config"], facts[record["folder"]]
        out["experiments"][record["name"]] = {
            "backbone": backbone_name(record), "dataset": record["dataset"], "task": record["task"],
            "head": meta.get("head"), "regime": config["regime"], "fraction": config["fraction"],
            "split": fact["split"], "pretrained_checkpoint": config["checkpoint"], "bands": meta["bands"],
            "wavelengths_um": meta["wavelengths"], "input_size": meta["input_size"], "epochs": config["epochs"],
            "seeds": [r["seed"] for r in record["runs"]], "lr_search_trials": config["lr_search"],
            "gflops_per_image": fact["gflops"], "parameters": fact["parameters"], "test_summary": record["summary"],
        }
        if deployment is not None:
            out["experiments"][record["name"]]["deployment"] = deployment[record["folder"]]
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


def model_facts(checkpoint: str | Path) -> dict[str, float]:
    """Forward-pass GFLOPs (2 x MACs, the bench's fvcore count) for one image at its input size, and parameters."""
    from ..bench.flops import count_flops
    from ..models import model_from_checkpoint

    model = model_from_checkpoint(checkpoint)
    meta = model.metadata
    report = count_flops(model, (1, meta.channels, meta.input_size, meta.input_size), cross_check=False)
    return {"gflops": 2 * report.gmac_per_image, "parameters": sum(p.numel() for p in model.parameters())}


def recorded_split(record: dict[str, Any]) -> str | None:
    """How the best seed's data was split, from the ``data_check.json`` training wrote at its start."""
    path = Path(record["folder"]) / f"seed_{record['best_seed']}" / DATA_CHECK_FILE
    return json.loads(path.read_text()).get("split") if path.is_file() else None


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


def write_report(runs: str | Path, csv_path: str | Path, plot: bool = True,
                 compare: str | Path | None = None) -> dict[str, Any]:
    """All leaderboard outputs beside ``csv_path``; returns their paths and the CSV check's warnings.
    ``compare``: a ``trtbench compare`` output folder whose cells add the deployment facts."""
    experiments = find_experiments(runs)
    csv_path = Path(csv_path)
    folder = csv_path.parent
    deployment = None if compare is None else attribute_cells([r["folder"] for r in experiments],
                                                              load_cells(compare), Path(compare))
    facts = {r["folder"]: {**model_facts(Path(r["folder"]) / "best.ckpt"), "split": recorded_split(r)}
             for r in experiments}
    gflops = {key: fact["gflops"] for key, fact in facts.items()}
    warnings = write_geobench_csv(experiments, csv_path)
    outputs = {"geobench_csv": str(csv_path), "additional_info": str(folder / "additional_info.json"),
               "details": str(folder / DETAILS_FILE), "per_class": str(folder / "per_class.md")}
    with atomic_output(outputs["additional_info"]) as tmp:
        tmp.write_text(json.dumps(additional_info(experiments, facts), indent=2))
    warnings += [f"additional_info.json: fill in '{key}' before submitting" for key in TO_FILL]
    with atomic_output(outputs["details"]) as tmp:
        tmp.write_text(json.dumps(details(experiments, facts, deployment), indent=2))
    if deployment is not None:
        seeds = {(row["experiment_name"], row["Seed"]): row for row in geobench_rows(experiments)}
        best = {r["folder"]: seeds[(r["name"], r["best_seed"])] for r in experiments}
        outputs["deployment"] = str(write_deployment_csv(deployment_rows(best, deployment),
                                                         folder / f"{csv_path.stem}_deployment.csv"))
        if not any(deployment.values()):
            warnings.append(f"no cell of --compare {compare} measured these experiments' best.ckpt (by content): "
                            "add {checkpoint = \"RUNS/NAME/best.ckpt\"} to the comparison's models")
    with atomic_output(outputs["per_class"]) as tmp:
        tmp.write_text(per_class_table(experiments))
    if plot:
        outputs["plot"] = str(plot_accuracy_vs_gflops(experiments, gflops, folder / "accuracy_vs_gflops.png"))
    return {"outputs": outputs, "warnings": warnings, "experiments": len(experiments),
            "rows": sum(len(r["runs"]) for r in experiments)}


def _best_metadata(record: dict[str, Any]) -> dict[str, Any]:
    folder = Path(record["folder"]) / f"seed_{record['best_seed']}"
    return json.loads((folder / "result.json").read_text())["metadata"]
