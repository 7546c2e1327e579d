"""``trtbench compare``: the deployment matrix in one command (accuracy, GFLOPs, speed, memory; tables and a page)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..cli_options import EXIT_GATE_FAILED, check_outputs, emit_json, json_option
from ..errors import InputError
from ..fileio import atomic_output

if TYPE_CHECKING:
    from .matrix import Matrix

DATA_FOLDER = "data"   # OUT/data/: dataset splits written as chip folders


def _names(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _ints(value: str | None, option: str) -> list[int] | None:
    if value is None:
        return None
    try:
        numbers = [int(v) for v in _names(value) or []]
    except ValueError:
        raise InputError(f"{option} takes comma-separated integers, got '{value}'", f"e.g. {option} 1,8") from None
    if not numbers or min(numbers) < 1:
        raise InputError(f"{option} takes positive integers, got '{value}'", f"e.g. {option} 1,8")
    return numbers


@click.command("compare", help="Compare MODELS x backends x precisions x batch sizes x input sizes on a labelled "
                               "chip folder or a published dataset's split: task accuracy and its delta to PyTorch fp32, parity, GFLOPs, latency "
                               "percentiles with their spread, throughput (img/s, km²/s) and peak memory, one row "
                               "per cell (OUT/results.csv|json|md, OUT/report.html). MATRIX is a TOML file (see "
                               "trtbench.compare.matrix for the schema); without one, --models and --data describe "
                               "it. A rerun into the same OUT reuses finished cells and retries the others. Exit "
                               "status: 0 when every cell ran or says why it cannot (skipped, parity-failed), 1 "
                               "when a cell failed (the others are finished and written first), 2 for a mistake "
                               "found before any work.")
@click.argument("matrix_file", required=False, type=click.Path(dir_okay=False))
@click.option("--models", help="Comma-separated registry names, trtbench checkpoints or .onnx artifacts "
                               "(without MATRIX; registry names get seeded random weights).")
@click.option("--data", help="Labelled chip folder: images/NAME.tif and masks/NAME.tif (without MATRIX).")
@click.option("--dataset", help="Instead of --data: a published dataset layout (sen1floods11, ai4smallfarms; "
                                "trtbench.data.published), read from --data-root.")
@click.option("--data-root", type=click.Path(), help="The extracted dataset folder of --dataset.")
@click.option("--split", "data_split", type=click.Choice(["train", "val", "test"]), default="test",
              show_default=True, help="The --dataset split to evaluate on.")
@click.option("--modalities", help="Comma-separated --dataset modalities (default: the dataset's, e.g. s2).")
@click.option("--sensor", help="The images' sensor table (default: the one their band descriptions name).")
@click.option("--num-classes", type=click.IntRange(min=1), help="Classes (default: the largest mask value + 1).")
@click.option("--backends", help="Comma-separated backends [default: torch,onnxruntime,openvino]; overrides MATRIX.")
@click.option("--precisions", help="Comma-separated: fp32, fp16, int8, bf16 (the fp32 artifact run in bf16 on "
                                   "openvino/torch, where the CPU has bf16) [default: fp32,fp16,int8]; overrides MATRIX.")
@click.option("--batch", "batches", help="Comma-separated batch sizes [default: 1]; overrides MATRIX.")
@click.option("--input-size", "input_sizes", help="Comma-separated input edges [default: 224]; overrides MATRIX.")
@click.option("--rounds", type=click.IntRange(min=1), help="Interleaved timing rounds [default: 3]; overrides MATRIX.")
@click.option("--min-iters", type=click.IntRange(min=1), help="Timed runs per round, at least [default: 5].")
@click.option("--min-time", type=click.FloatRange(min=0), help="Seconds timed per round, at least [default: 0.5].")
@click.option("--warmup", type=click.IntRange(min=0), help="Untimed runs per round [default: 1].")
@click.option("--scheduler", help="Dask scheduler address (tcp://host:8786) for exports and accuracy; timing "
                                  "always runs here, one cell at a time. No local cluster is started.")
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--no-report", is_flag=True, help="Write the tables only, not report.html.")
@click.option("--quiet", is_flag=True, help="No progress bar (one line per finished cell still printed).")
@json_option("Also write the rows as JSON to FILE ('-': standard output).")
def compare(matrix_file: str | None, models: str | None, data: str | None, dataset: str | None,
            data_root: str | None, data_split: str, modalities: str | None, sensor: str | None,
            num_classes: int | None, backends: str | None, precisions: str | None, batches: str | None,
            input_sizes: str | None, rounds: int | None, min_iters: int | None, min_time: float | None,
            warmup: int | None, scheduler: str | None, out: str, no_report: bool, quiet: bool,
            json_path: str | None) -> None:
    from ..fileio import check_writable
    from .cells import ERROR
    from .run import check_scheduler, run_matrix
    from .tables import environment, write_tables

    out_dir = check_writable(out, "folder", option="-o")
    check_outputs((json_path, "--json"))
    if scheduler:
        check_scheduler(scheduler)
    fresh = not out_dir.exists()
    try:
        matrix = _matrix(matrix_file, models, data, {"dataset": dataset, "root": data_root, "split": data_split,
                                                      "modalities": _names(modalities)},
                         sensor, num_classes, backends, precisions, batches, input_sizes,
                         {"rounds": rounds, "min_iters": min_iters, "min_time": min_time, "warmup": warmup},
                         out_dir / DATA_FOLDER)
    except BaseException:
        if fresh:   # a dataset split may have been written before the mistake was found: leave nothing behind
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    for note in matrix.notes:
        click.echo(f"warning: {note} (recorded in matrix.json and results.md)", err=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = environment(matrix.timing.threads or None)
    rows = run_matrix(matrix, out_dir, scheduler=scheduler, progress=not quiet,
                      echo=lambda line: click.echo(line, err=True))
    with atomic_output(out_dir / "matrix.json") as tmp:
        tmp.write_text(json.dumps(matrix.to_dict(), indent=1))
    written = write_tables(rows, env, matrix.notes, out_dir)
    if not no_report:
        from .report_page import write_report

        written.append(write_report(rows, env, out_dir))
    counts = {s: sum(r["status"] == s for r in rows) for s in dict.fromkeys(r["status"] for r in rows)}
    click.echo(f"{len(rows)} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items()), err=True)
    click.echo((out_dir / "results.md").read_text(), err=json_path == "-")
    for path in written:
        click.echo(f"wrote {path}", err=True)
    emit_json(json_path, lambda: rows)
    failed = [r for r in rows if r["status"] == ERROR]   # skipped and parity-failed cells are results, with reasons
    if failed:
        click.echo(f"failed: {len(failed)} of {len(rows)} cells (the others are in the tables):", err=True)
        for row in failed:
            click.echo(f"  {row['cell_id']}: {row['reason']}", err=True)
        click.echo(f"  rerun the same command to retry only these cells (finished ones are reused from {out_dir})",
                   err=True)
        raise click.exceptions.Exit(EXIT_GATE_FAILED)


def _matrix(matrix_file: str | None, models: str | None, data: str | None, dataset: dict[str, Any],
            sensor: str | None, num_classes: int | None, backends: str | None, precisions: str | None,
            batches: str | None, input_sizes: str | None, overrides: dict[str, Any], staging: Path) -> Matrix:
    """The validated matrix of the file or the options, with the command line's axes and timing on top."""
    import dataclasses

    from .matrix import DEFAULT_BACKENDS, DEFAULT_PRECISIONS, build_matrix, load_matrix, matrix_from_options

    if dataset["dataset"] and (data or sensor or num_classes):
        raise InputError("--dataset names the evaluation set: --data, --sensor and --num-classes do not apply",
                         "pass either --data chips/ or --dataset NAME --data-root DIR")
    if not dataset["dataset"] and (dataset["root"] or dataset["modalities"]):
        raise InputError("--data-root/--modalities are the --dataset's", "add --dataset NAME, or drop them")
    if matrix_file:
        if models or data or sensor or num_classes or dataset["dataset"]:
            raise InputError("--models/--data/--dataset/--sensor/--num-classes describe a matrix without a file",
                             "put them in the MATRIX file, or drop the file")
        matrix = load_matrix(matrix_file, staging=staging)
        axes = {"backends": _names(backends), "precisions": _names(precisions), "batches": _ints(batches, "--batch"),
                "input_sizes": _ints(input_sizes, "--input-size")}
        if any(v is not None for v in axes.values()):
            given = {k: v for k, v in axes.items() if v is not None}
            notes = matrix.notes
            matrix = build_matrix(matrix.models, **({"backends": matrix.backends, "precisions": matrix.precisions,
                                                     "batches": matrix.batches, "input_sizes": matrix.input_sizes}
                                                    | given),
                                  data=dataclasses.asdict(matrix.data), timing=matrix.timing)
            matrix.notes = list(dict.fromkeys([*notes, *matrix.notes]))
    else:
        if not (models and (data or dataset["dataset"])):
            raise InputError("nothing to compare: no MATRIX file, and not both --models and --data (or --dataset)",
                             "pass a matrix .toml, or e.g. --models clay_base,unet --data chips/")
        matrix = matrix_from_options(_names(models) or [], data, backends=_names(backends) or DEFAULT_BACKENDS,
                                     precisions=_names(precisions) or DEFAULT_PRECISIONS,
                                     batches=_ints(batches, "--batch") or [1],
                                     input_sizes=_ints(input_sizes, "--input-size") or [224], sensor=sensor,
                                     num_classes=num_classes, dataset=dataset if dataset["dataset"] else None,
                                     staging=staging)
    timing = dataclasses.replace(matrix.timing, **{k: v for k, v in overrides.items() if v is not None})
    return dataclasses.replace(matrix, timing=timing)
