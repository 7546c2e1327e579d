"""The ``trtbench bench`` and ``trtbench flops`` commands."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from ..adapt.command import ttt_bench_command, ttt_bench_options
from ..cli_options import EXIT_GATE_FAILED, check_outputs, emit_json, human_output, json_option, write_text
from ..errors import InputError
from .target import ModelSpec

if TYPE_CHECKING:
    from ..metadata import ModelMetadata

MODEL_HELP = ("TARGET: an exported .onnx file, a trtbench checkpoint, or a model (`clay` with --variant, or a "
              "registry name) exported on the fly to a temporary folder.")


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _ints(value: str, option: str) -> list[int]:
    try:
        numbers = [int(v) for v in _split(value) or []]
    except ValueError:
        raise InputError(f"{option} takes comma-separated integers, got '{value}'", f"e.g. {option} 1,8") from None
    if not numbers or min(numbers) < 1:
        raise InputError(f"{option} takes positive integers, got '{value}'", f"e.g. {option} 1,8")
    return numbers


def _check_edge(meta: ModelMetadata, edge: int) -> None:
    """``--size`` must tile into whole patches (said before any model runs, in the option's own words)."""
    p = meta.patch_size
    if edge % p or edge < p:
        raise InputError(f"--size {edge} is not a multiple of {meta.model}'s patch size {p}",
                         f"pass --size {max(p, edge // p * p)}")


def model_options(fn: Callable) -> Callable:
    """The options that say how to build a model that is not yet exported (as `trtbench export`)."""
    options = [
        click.option("--variant", default=None, help="Clay size: v1.5 (large), v1 (base), small, tiny."),
        click.option("--checkpoint", type=click.Path(dir_okay=False), help="Official Clay .ckpt."),
        click.option("--random-init", is_flag=True, help="Seeded random weights (FLOPs and speed do not depend on them)."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--sensor", help="Sensor table of the bands (default: the model's own)."),
        click.option("--bands", help="Comma-separated band names (default: all of the sensor's bands)."),
        click.option("--task", type=click.Choice(["embedding", "segmentation", "regression"]), default="embedding",
                     show_default=True),
        click.option("--head", default="fcn", show_default=True),
        click.option("--num-classes", type=click.IntRange(min=1)),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _spec(size: int | None, **kw) -> ModelSpec:
    return ModelSpec(variant=kw["variant"], checkpoint=kw["checkpoint"], random_init=kw["random_init"],
                     seed=kw["seed"], sensor=kw["sensor"], bands=_split(kw["bands"]), task=kw["task"],
                     head=kw["head"], num_classes=kw["num_classes"], input_size=size or 256)


@click.command("bench", help=f"Latency, throughput, memory and FLOPs on each backend, every backend "
                             f"parity-checked against PyTorch before it is timed. {MODEL_HELP}")
@click.argument("target")
@model_options
@click.option("--reference", type=click.Path(dir_okay=False), help="Checkpoint of an artifact's reference.")
@click.option("--engine", type=click.Path(dir_okay=False), help="TensorRT engine of the same model (tensorrt backend).")
@click.option("--backends", default="torch,onnxruntime,openvino,tensorrt", show_default=True,
              help="Comma-separated: auto (the runner eval/predict pick here), torch, torch-cuda, "
                   "onnxruntime[-cpu|-cuda|-tensorrt|-fused], openvino, tensorrt; openvino-bf16 and torch-bf16 run "
                   "in bf16 (skipped, with the reason, on CPUs without AMX/AVX512-BF16).")
@click.option("--batch", "--batch-sizes", "batches", default="1,8", show_default=True, help="Comma-separated batch sizes.")
@click.option("--size", type=click.IntRange(min=1), help="Image edge in pixels (default: the model's input size).")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads for every backend (default: each backend's own).")
@click.option("--warmup", type=click.IntRange(min=0), default=2, show_default=True, help="Untimed runs before timing.")
@click.option("--min-iters", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--min-time", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Seconds timed per batch size, at least.")
@click.option("--tolerance", type=float, default=None,
              help="Max |backend - reference| relative to the output's scale [default: by the artifact's precision, "
                   "as in eval: fp32 1e-4, tf32 and fp16 1e-2, bf16 5e-2, int8 1e-1].")
@click.option("--data", type=click.Path(dir_okay=False),
              help="GeoTIFF whose tiles are the input (else random); a time series: one file per date (d1.tif,d2.tif); "
                   "multi-modal: one file per modality (s2=A.tif,s1=B.tif).")
@click.option("--dates", help="Time series: the frames' dates, comma-separated in frame order (wins over file names and tags).")
@click.option("--data-bands", help="The file's band names or a sensor name, if not in the GeoTIFF.")
@click.option("--strict-bands", is_flag=True,
              help="Refuse a --data file that names no band instead of warning and assuming their order.")
@json_option("Write the full result as JSON to FILE ('-': standard output, the table then goes to stderr).")
@click.option("--markdown", "md_path", type=click.Path(), help="Write a Markdown report.")
@click.option("--csv", "csv_path", type=click.Path(), help="Write one CSV row per backend and batch.")
@click.option("--plot", "plot_path", type=click.Path(), help="Write throughput vs batch (.png/.svg/.pdf).")
@ttt_bench_options
def bench(target: str, reference: str | None, engine: str | None, backends: str, batches: str, size: int | None, threads: int | None,
          warmup: int, min_iters: int, min_time: float, tolerance: float | None, data: str | None, dates: str | None,
          data_bands: str | None, strict_bands: bool, json_path: str | None, md_path: str | None, csv_path: str | None, plot_path: str | None, **model_kw) -> None:
    from ..acquisition import parse_dates
    from ..report import bench_csv, bench_json, bench_markdown, bench_table, plot_throughput
    from ..stacks import input_view_of, stack_inputs
    from .run import check_backends, run_bench
    from .target import make_feeds, open_target, random_source
    from .timing import TimingConfig

    check_outputs((json_path, "--json"), (md_path, "--markdown"), (csv_path, "--csv"), plot=plot_path)
    config = TimingConfig(warmup=warmup, min_iters=min_iters, min_time=min_time)
    if model_kw.get("ttt_steps") is not None:   # TTT-MMR beside its static model: trtbench/adapt/command.py
        ttt = {k: model_kw.pop(k) for k in ("ttt_steps", "ttt_lr", "ttt_optimizer")}
        return ttt_bench_command(target, _ints(batches, "--batch"), size, threads, config, json_path, md_path,
                                 {"--reference": reference, "--engine": engine, "--data": data, "--dates": dates,
                                  "--csv": csv_path, "--plot": plot_path}, **ttt)
    names = _split(backends) or []
    check_backends(names)
    with open_target(target, _spec(size, **model_kw), reference, engine) as bench_target:
        meta = bench_target.metadata
        edge = size or meta.input_size
        _check_edge(meta, edge)
        frame_dates = parse_dates(dates)
        with tempfile.TemporaryDirectory(prefix="trtbench-stacks-") as folder:   # a series' or modalities' VRT
            source = stack_inputs(meta, [data], folder, frame_dates, _split(data_bands), strict_bands)[0] if data else None
            match = input_view_of(source, meta, _split(data_bands), strict_bands, frame_dates).match if data else None
            if match and match.warning:
                click.echo(f"warning: {match.warning}", err=True)
            feeds = make_feeds(meta, _ints(batches, "--batch"), edge, source, _split(data_bands),
                               strict_bands=strict_bands, dates=frame_dates)
        result = run_bench(bench_target, backends=names, size=edge, threads=threads, config=config,
                           tolerance=tolerance, feeds=feeds, band_match=match.source if match else None,
                           input_source=f"tiles of {data} (bands by {match.source})" if match else random_source(meta))
    human_output(json_path)(bench_table(result))
    write_text(md_path, lambda: bench_markdown(result))
    write_text(csv_path, lambda: bench_csv(result))
    if plot_path and any(b.valid and b.timings for b in result.backends):
        plot_throughput(result, plot_path)
    elif plot_path:
        click.echo(f"warning: no plot written to {plot_path}: no backend has valid timings", err=True)
    emit_json(json_path, lambda: bench_json(result))
    if not result.passed:
        raise click.exceptions.Exit(EXIT_GATE_FAILED)


@click.command("flops", help=f"Multiply-accumulates per image of the deployed (folded) model, per operator "
                             f"and module, with fvcore and a torch.utils.flop_counter cross-check. {MODEL_HELP}")
@click.argument("target")
@model_options
@click.option("--size", type=click.IntRange(min=1), help="Image edge in pixels (default: the model's input size).")
@click.option("--no-cross-check", is_flag=True, help="Skip the torch.utils.flop_counter cross-check (one forward).")
@json_option()
def flops(target: str, size: int | None, no_cross_check: bool, json_path: str | None, **model_kw) -> None:
    from ..report import flops_text
    from .flops import count_flops
    from .target import build_model, is_artifact, open_target

    check_outputs((json_path, "--json"))
    if is_artifact(target):
        with open_target(target) as bench_target:
            model = bench_target.model
    else:   # FLOPs do not depend on the weights: seeded random ones unless --checkpoint is given
        model = build_model(target, _spec(size, **model_kw), weights_matter=False)
    meta = model.metadata
    edge = size or meta.input_size
    _check_edge(meta, edge)
    report = count_flops(model, (1, meta.channels, edge, edge), cross_check=not no_cross_check)
    if json_path:
        emit_json(json_path, report.to_dict)
        return
    click.echo(flops_text(report))

