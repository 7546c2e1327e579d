"""The ``trtbench bench`` and ``trtbench flops`` commands."""

from __future__ import annotations

import json
from collections.abc import Callable

import click

from ..errors import InputError
from ..fileio import atomic_output
from .target import ModelSpec

MODEL_HELP = ("TARGET: an exported .onnx file, a trtbench checkpoint, or a model (`clay` with --variant, or a "
              "registry name) exported on the fly to a temporary folder.")


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _ints(value: str, option: str) -> list[int]:
    try:
        return [int(v) for v in _split(value) or []]
    except ValueError:
        raise InputError(f"{option} takes comma-separated integers, got '{value}'", f"e.g. {option} 1,8") from None


def model_options(fn: Callable) -> Callable:
    """The options that say how to build a model that is not yet exported (as `trtbench export`)."""
    options = [
        click.option("--variant", default=None, help="Clay size: v1.5 (large), v1 (base), small, tiny."),
        click.option("--checkpoint", type=click.Path(dir_okay=False), help="Official Clay .ckpt."),
        click.option("--random-init", is_flag=True, help="Seeded random weights (FLOPs and speed do not depend on them)."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--sensor", default="sentinel-2-l2a", show_default=True),
        click.option("--bands", help="Comma-separated band names (default: all of the sensor's bands)."),
        click.option("--task", type=click.Choice(["embedding", "segmentation", "regression"]), default="embedding",
                     show_default=True),
        click.option("--head", default="fcn", show_default=True),
        click.option("--num-classes", type=int),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _spec(size: int | None, **kw) -> ModelSpec:
    return ModelSpec(variant=kw["variant"], checkpoint=kw["checkpoint"], random_init=kw["random_init"],
                     seed=kw["seed"], sensor=kw["sensor"], bands=_split(kw["bands"]), task=kw["task"],
                     head=kw["head"], num_classes=kw["num_classes"], input_size=size or 256)


def _write(path: str | None, text: Callable[[], str]) -> None:
    if path:
        with atomic_output(path) as tmp:
            tmp.write_text(text())


@click.command("bench", help=f"Latency, throughput, memory and FLOPs on each backend, every backend "
                             f"parity-checked against PyTorch before it is timed. {MODEL_HELP}")
@click.argument("target")
@model_options
@click.option("--reference", type=click.Path(dir_okay=False), help="Checkpoint of an artifact's reference.")
@click.option("--engine", type=click.Path(dir_okay=False), help="TensorRT engine of the same model (tensorrt backend).")
@click.option("--backends", default="torch,onnxruntime,openvino,tensorrt", show_default=True,
              help="Comma-separated: torch, torch-cuda, onnxruntime[-cpu|-cuda|-tensorrt], openvino, tensorrt.")
@click.option("--batch", "--batch-sizes", "batches", default="1,8", show_default=True, help="Comma-separated batch sizes.")
@click.option("--size", type=int, help="Image edge in pixels (default: the model's input size).")
@click.option("--threads", type=int, help="CPU threads for every backend (default: each backend's own).")
@click.option("--warmup", type=int, default=2, show_default=True, help="Untimed runs before timing.")
@click.option("--min-iters", type=int, default=5, show_default=True)
@click.option("--min-time", type=float, default=1.0, show_default=True, help="Seconds timed per batch size, at least.")
@click.option("--tolerance", type=float, default=1e-4, show_default=True,
              help="Max |backend - reference| relative to the output's scale.")
@click.option("--data", type=click.Path(dir_okay=False), help="GeoTIFF whose tiles are the input (else random).")
@click.option("--data-bands", help="The file's band names or a sensor name, if not in the GeoTIFF.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the full result as JSON.")
@click.option("--markdown", "md_path", type=click.Path(dir_okay=False), help="Write a Markdown report.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write one CSV row per backend and batch.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Write throughput vs batch (.png/.svg).")
def bench(target: str, reference: str | None, engine: str | None, backends: str, batches: str, size: int | None, threads: int | None,
          warmup: int, min_iters: int, min_time: float, tolerance: float, data: str | None, data_bands: str | None,
          json_path: str | None, md_path: str | None, csv_path: str | None, plot_path: str | None, **model_kw) -> None:
    from ..report import bench_csv, bench_json, bench_markdown, bench_table, plot_throughput
    from .run import run_bench
    from .target import make_feeds, open_target
    from .timing import TimingConfig

    config = TimingConfig(warmup=warmup, min_iters=min_iters, min_time=min_time)
    names = _split(backends)
    if not names:
        raise InputError("no backends given", "pass e.g. --backends torch,onnxruntime")
    with open_target(target, _spec(size, **model_kw), reference, engine) as bench_target:
        meta = bench_target.metadata
        edge = size or meta.input_size
        feeds = make_feeds(meta, _ints(batches, "--batch"), edge, data, _split(data_bands))
        result = run_bench(bench_target, backends=names, size=edge, threads=threads, config=config,
                           tolerance=tolerance, feeds=feeds, input_source=f"tiles of {data}" if data else "random normal")
    click.echo(bench_table(result))
    _write(json_path, lambda: bench_json(result))
    _write(md_path, lambda: bench_markdown(result))
    _write(csv_path, lambda: bench_csv(result))
    if plot_path:
        plot_throughput(result, plot_path)
    if not result.passed:
        raise click.exceptions.Exit(1)


@click.command("flops", help=f"Multiply-accumulates per image of the deployed (folded) model, per operator "
                             f"and module, with fvcore and a torch.utils.flop_counter cross-check. {MODEL_HELP}")
@click.argument("target")
@model_options
@click.option("--size", type=int, help="Image edge in pixels (default: the model's input size).")
@click.option("--no-cross-check", is_flag=True, help="Skip the torch.utils.flop_counter cross-check (one forward).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def flops(target: str, size: int | None, no_cross_check: bool, as_json: bool, **model_kw) -> None:
    from ..preprocess import check_size
    from ..report import flops_text
    from .flops import count_flops
    from .target import build_model, is_artifact, open_target

    if is_artifact(target):
        with open_target(target) as bench_target:
            model = bench_target.model
    else:
        model = build_model(target, _spec(size, **model_kw))
    meta = model.metadata
    edge = size or meta.input_size
    check_size(meta, edge, edge)
    report = count_flops(model, (1, meta.num_bands, edge, edge), cross_check=not no_cross_check)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(flops_text(report))

