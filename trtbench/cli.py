"""The ``trtbench`` command line."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .adapt.command import static_export_note, ttt_eval_command, ttt_options
from .cli_options import (
    EXIT_GATE_FAILED,
    EXIT_USER_MISTAKE,
    check_outputs,
    emit_json,
    human_output,
    json_option,
    write_text,
)
from .errors import TrtbenchError

if TYPE_CHECKING:
    from .serve.export_target import TritonTarget


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


class LazyGroup(click.Group):
    """Subcommands named as ``module:attribute`` and imported when run (click's lazy-loading pattern).

    ``trtbench predict`` then starts without importing Lightning, fvcore or PyTorch, which the train,
    report, bench and flops commands need; ``trtbench --help`` lists them from ``summaries`` (each command's
    first sentence, checked against the command by the tests) without importing any.
    """

    def __init__(self, *args, lazy: dict[str, str], summaries: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy
        self.summaries = summaries

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names), default=0)
        rows = []
        for name in names:
            if name in self.summaries:
                rows.append((name, click.utils.make_default_short_help(self.summaries[name], limit)))
            elif (command := self.get_command(ctx, name)) is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, attribute = self.lazy[name].split(":")
            return getattr(importlib.import_module(module, __package__), attribute)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, lazy={
    "predict": ".predict.command:predict", "bench": ".bench.cli:bench", "flops": ".bench.cli:flops",
    "check": ".check.command:check", "train": ".train.cli:train", "report": ".train.cli:report",
    "models": ".models.command:models",
    "compare": ".compare.command:compare",
    "data": ".data.command:data", "stac": ".stac.command:stac",
    "triton": ".serve.command:triton"}, summaries={
    "predict": "Map SCENES (GeoTIFFs or quoted globs) with ARTIFACT into Cloud-Optimized GeoTIFFs.",
    "bench": "Latency, throughput, memory and FLOPs on each backend, every backend parity-checked against "
             "PyTorch before it is timed.",
    "flops": "Multiply-accumulates per image of the deployed (folded) model, per operator and module, with "
             "fvcore and a torch.utils.flop_counter cross-check.",
    "check": "Audit ONNX_FILE for TensorRT without TensorRT: unsupported ops, dynamic channels, plugins, shapes.",
    "train": "Fine-tune MODEL (clay, unet or a registry name) on a dataset; writes OUTPUT/best.ckpt for "
             "`trtbench export`.",
    "report": "Leaderboard outputs (GEO-Bench CSV, additional_info.json, per-class table, plot) from training runs.",
    "models": "List every registered model: parameters, GFLOPs, patch and input size, width, UPerNet taps, bands.",
    "data": "Datasets on disk: check a download before training on it.",
    "compare": "Compare MODELS x backends x precisions x batch sizes x input sizes on a labelled chip folder or a published dataset's split: task "
               "accuracy and its delta to PyTorch fp32, parity, GFLOPs, latency percentiles with their spread, "
               "throughput (img/s, km²/s) and peak memory, one row per cell (OUT/results.csv|json|md, "
               "OUT/report.html).",
    "stac": "Describe ARTIFACT (ONNX or TensorRT engine) as a STAC Item with the Machine Learning Model extension.",
    "triton": "Package ARTIFACT (ONNX or TensorRT engine) as a Triton Inference Server model repository."})
@click.version_option(package_name="trtbench")
def cli() -> None:
    """From a fine-tuned geospatial foundation model to a fast, verified deployment."""


@cli.command()
@json_option()
def doctor(json_path: str | None) -> None:
    """Versions, CPU/GPU and which backends can run here (and why not)."""
    from .doctor import report

    check_outputs((json_path, "--json"))
    info = report()
    if json_path:
        emit_json(json_path, lambda: info)
        return
    for key, value in info.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(value)
        click.echo(f"{key:>22}  {value}")


@cli.command()
@click.argument("model")
@click.option("--variant", default=None, help="Clay size: v1.5 (large), v1 (base), small, tiny.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="Official Clay .ckpt or a trtbench checkpoint.")
@click.option("--random-init", is_flag=True, help="Export seeded random weights (tests, benchmarks).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for random init and new heads.")
@click.option("--sensor", help="Sensor table of the bands (default: the model's own, as `trtbench models --json -` lists).")
@click.option("--bands", help="Comma-separated band names (default: all of the sensor's bands).")
@click.option("--task", type=click.Choice(["embedding", "segmentation", "regression"]), default="embedding",
              show_default=True)
@click.option("--head", default="fcn", show_default=True, help="Head for segmentation/regression tasks.")
@click.option("--num-classes", type=click.IntRange(min=1), help="Classes of a segmentation head.")
@click.option("--input-size", type=click.IntRange(min=1),
              help="Default tile edge recorded, a multiple of the model's patch size (default: the model's "
                   "published input edge, `trtbench models` lists it).")
@click.option("--num-frames", type=click.IntRange(min=1),
              help="Time steps T of a time-series model (Prithvi): pixels [B, T*bands, H, W], frame-major [default: 1].")
@click.option("--opset", type=click.IntRange(min=1), help="ONNX opset (default: the family's export recipe).")
@click.option("--format", "fmt", type=click.Choice(["onnx", "engine", "triton"]), default="onnx", show_default=True,
              help="ONNX file, a TensorRT engine (+ JSON sidecar; needs TensorRT and a GPU), or a Triton model "
                   "repository: -o REPO/ gets REPO/NAME/config.pbtxt and REPO/NAME/1/model.onnx (model.plan with "
                   "--backend tensorrt).")
@click.option("--backend", "triton_backend", type=click.Choice(["onnxruntime", "tensorrt"]), default="onnxruntime",
              show_default=True, help="--format triton: the Triton backend (tensorrt builds an engine: TensorRT and a GPU).")
@click.option("--name", "triton_name", help="--format triton: the model's name (its folder) [default: the model's "
                                            "name, its precision unless fp32, and _trt for an engine].")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]), default="fp32", show_default=True,
              help="fp16: mixed precision ONNX (LayerNorm, Softmax, generators in fp32); int8: Q/DQ calibrated on chips.")
@click.option("--shapes", help="Engine profile, e.g. min=1x10x224x224,opt=8x10x256x256,max=32x10x512x512.")
@click.option("--calib-data", multiple=True, help="INT8 calibration GeoTIFFs or folders of them; repeatable.")
@click.option("--calib-samples", type=click.IntRange(min=1), default=256, show_default=True, help="Calibration tiles to use.")
@click.option("--calib-method", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax",
              show_default=True)
@click.option("--data-bands", help="The calibration files' band names or sensor, if not in the GeoTIFF.")
@click.option("--workspace", type=click.FloatRange(min=0, min_open=True), help="TensorRT workspace limit in GiB.")
@click.option("--opt-level", type=click.IntRange(0, 5), default=3, show_default=True, help="TensorRT builder optimization level 0..5.")
@click.option("--timing-cache", type=click.Path(dir_okay=False), help="Persistent TensorRT timing cache file.")
@click.option("--plugin-lib", "--plugin", "plugin_lib", multiple=True,
              help="TensorRT plugin library (or its build folder) to load; repeatable.")
@click.option("--dynamic-bands", is_flag=True,
              help="One band-agnostic ONNX: wavelengths and GSD are inputs, the band set is chosen at run time.")
@click.option("--external-data", is_flag=True,
              help="Weights in OUTPUT.data beside the .onnx (keep the two files together); automatic over 2 GB.")
@click.option("--stac", "stac_item", is_flag=True,
              help="Also describe the artifact as a STAC MLM item, OUTPUT.stac.json (see `trtbench stac`).")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Output .onnx file, or .engine/.plan with --format engine.")
def export(model: str, variant: str | None, checkpoint: str | None, random_init: bool, seed: int, sensor: str,
           bands: str | None, task: str, head: str, num_classes: int | None, input_size: int, num_frames: int | None, opset: int | None,
           fmt: str, precision: str, shapes: str | None, calib_data: tuple[str, ...], calib_samples: int,
           calib_method: str, data_bands: str | None, workspace: float | None, opt_level: int,
           timing_cache: str | None, plugin_lib: tuple[str, ...], dynamic_bands: bool, external_data: bool,
           stac_item: bool, output: str, triton_backend: str, triton_name: str | None) -> None:
    """Export MODEL (a family such as `clay`, a registry name, a trtbench checkpoint, or an existing
    trtbench .onnx file) to ONNX or a TensorRT engine, at fp32, fp16 or int8."""
    from .export.pipeline import ExportRequest, check_export_output, export_artifact
    from .models import create_model, model_from_checkpoint, resolve_model_name

    triton = _triton_target(output, model, variant, precision, triton_backend, triton_name, stac_item, fmt)
    if triton is None:
        check_export_output(output, fmt)   # before any model is built
    stac_path = _stac_output(output) if stac_item else None
    request = ExportRequest(fmt, precision, opset, shapes, calib_data, calib_samples, calib_method,
                            _split(data_bands), workspace, opt_level, timing_cache, plugin_lib,
                            dynamic_bands=dynamic_bands, external_data=external_data)
    if Path(model).suffix == ".onnx":
        if random_init or checkpoint:
            raise TrtbenchError("an ONNX file carries its own weights", "drop --random-init/--checkpoint")
        for path in triton.export(model, request) if triton else export_artifact(model, output, request):
            click.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
        _write_stac(output, stac_path)
        return
    if Path(model).suffix in (".ckpt", ".pt", ".safetensors"):
        if random_init or checkpoint:
            raise TrtbenchError("a trtbench checkpoint carries its own weights", "drop --random-init/--checkpoint")
        net = model_from_checkpoint(model)
        if note := static_export_note(net.metadata, model):   # a TTT-MMR checkpoint: say what a static file loses
            click.echo(f"note: {note}", err=True)
        if num_frames and num_frames != net.metadata.num_frames:
            raise TrtbenchError(f"{model} was trained on {net.metadata.num_frames} date(s), not {num_frames}",
                                "drop --num-frames: the checkpoint fixes the time steps")
    elif bool(checkpoint) == bool(random_init):
        raise TrtbenchError("say where the weights come from", "pass exactly one of --checkpoint or --random-init")
    else:
        net = create_model(resolve_model_name(model, variant), checkpoint=checkpoint, sensor=sensor,
                           bands=_split(bands), task=task, head=head if task != "embedding" else None,
                           num_classes=num_classes, seed=seed, input_size=input_size, num_frames=num_frames or 1)
        if getattr(getattr(net, "encoder", None), "num_frames", 1) != net.metadata.num_frames:
            raise TrtbenchError(f"{net.metadata.model} takes one date, not a time series of {num_frames}",
                                "drop --num-frames (time series: prithvi)")
    meta = net.metadata
    for path in triton.export(net, request) if triton else export_artifact(net, output, request):
        click.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB): {meta.model} {meta.task}, "
                   f"{meta.num_bands} bands of {meta.sensor} ({', '.join(meta.bands)}), outputs {', '.join(meta.outputs)}")
    _write_stac(output, stac_path)


def _triton_target(output: str, model: str, variant: str | None, precision: str, backend: str, name: str | None,
                   stac_item: bool, fmt: str) -> TritonTarget | None:
    """``--format triton``: the checked model folder (None for other formats, where --backend/--name are refused)."""
    if fmt != "triton":
        if name or backend != "onnxruntime":
            raise TrtbenchError("--backend and --name are for --format triton", "add --format triton, or drop them")
        return None
    if stac_item:
        raise TrtbenchError("--stac describes an artifact file, not a Triton repository",
                            "drop --stac, then run `trtbench stac REPO/NAME/1/model.onnx`")
    from .serve.export_target import TritonTarget, default_model_name

    return TritonTarget.check(output, default_model_name(model, variant, precision, backend), backend, name)


def _stac_output(artifact: str) -> Path:
    """Where ``export --stac`` writes the item, checked before the export starts."""
    from .fileio import check_writable
    from .stac.command import default_item_path

    return check_writable(default_item_path(artifact), option="--stac", suffixes=(".json",))


def _write_stac(artifact: str, item: Path | None) -> None:
    if item is not None:
        from .stac.mlm import write_mlm_item

        click.echo(f"wrote {write_mlm_item(artifact, item)}")


@cli.command("eval")
@click.option("--engine", "artifact", required=True, type=click.Path(dir_okay=False),
              help="Exported artifact (.onnx, engine, or its STAC MLM item) whose metadata drives the evaluation.")
@click.option("--data", multiple=True, required=True,
              help="GeoTIFF chip(s) or folder(s) of them; repeatable. A time series: one argument of one file per date "
                   "(d1.tif,d2.tif). Multi-modal: one file per modality (--data s2=A.tif --data s1=B.tif).")
@click.option("--dates", help="Time series: the frames' dates, comma-separated in frame order (2020-06-01,2020-07-01); "
                              "wins over the dates in file names and tags.")
@click.option("--labels", multiple=True, help="Label GeoTIFF(s), one per data file, or a folder of labels named like them.")
@click.option("--reference", type=click.Path(dir_okay=False), help="Checkpoint of the PyTorch reference.")
@click.option("--backend", default="auto", show_default=True,
              help="auto (picked for this machine, reason printed), torch, onnxruntime[-cpu|-cuda|-tensorrt|-fused], "
                   "openvino, tensorrt.")
@click.option("--precision", "runtime_precision", type=click.Choice(["fp32", "bf16"]), default="fp32",
              show_default=True, help="Runtime precision: bf16 runs OpenVINO/torch in bf16 on CPUs with AMX or "
                                      "AVX512-BF16 (refused elsewhere).")
@click.option("--data-bands", help="The files' band names or a sensor name, if not in the GeoTIFF.")
@click.option("--strict-bands", is_flag=True,
              help="Refuse files that name no band (by description or colour interpretation) instead of warning "
                   "and assuming their order.")
@click.option("--sensor", help="Band-agnostic artifacts: the data's sensor (or a stack: sentinel-1-rtc+sentinel-2-l1c).")
@click.option("--bands", help="Band-agnostic artifacts: comma-separated bands of --sensor to use, in order.")
@click.option("--wavelengths", help="Band-agnostic artifacts: centre wavelengths in µm, one per band.")
@click.option("--tile", type=click.IntRange(min=1),
              help="Tile edge in pixels, a multiple of the patch size (default: the artifact's input size).")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--ignore-index", type=int, default=-1, show_default=True, help="Label value to ignore.")
@click.option("--tolerance", type=click.FloatRange(min=0), default=None,
              help="Max |artifact - reference| relative to the output's scale [default: by the artifact's "
                   "precision, or bf16's 5e-2 with --precision bf16: fp32 1e-4, fp16 1e-2, int8 1e-1].")
@json_option("Write the full result as JSON to FILE ('-': standard output, the table then goes to stderr).")
@click.option("--markdown", "md_path", type=click.Path(), help="Write a Markdown report.")
@ttt_options
def eval_(artifact: str, data: tuple[str, ...], dates: str | None, labels: tuple[str, ...], reference: str | None, backend: str,
          runtime_precision: str, data_bands: str | None, strict_bands: bool, sensor: str | None, bands: str | None, wavelengths: str | None,
          tile: int | None, batch_size: int, ignore_index: int, tolerance: float | None, json_path: str | None,
          md_path: str | None, **ttt: Any) -> None:
    """Parity of an artifact against its PyTorch reference on real chips, and task metrics with labels."""
    if ttt["ttt_steps"] is not None:   # TTT-MMR on a checkpoint: trtbench/adapt/command.py
        return ttt_eval_command(artifact, data, batch_size, json_path, md_path,
                                {"--labels": labels, "--reference": reference, "--dates": dates}, **ttt)
    from .acquisition import parse_dates
    from .bands import parse_wavelengths
    from .evaluate import evaluate
    from .report import eval_markdown, eval_table

    check_outputs((json_path, "--json"), (md_path, "--markdown"))   # not after the whole run
    from .stac.mlm import resolve_artifact

    result = evaluate(str(resolve_artifact(artifact)), data, labels=labels or None, reference=reference, backend=backend, tile=tile,
                      batch_size=batch_size, data_bands=_split(data_bands), ignore_index=ignore_index,
                      tolerance=tolerance, sensor=sensor, bands=_split(bands),
                      wavelengths=parse_wavelengths(wavelengths), strict_bands=strict_bands,
                      precision=runtime_precision, dates=parse_dates(dates))
    if "auto" in result.backend:
        click.echo(f"backend: {result.backend['auto']['backend']} (auto: {result.backend['auto']['reason']})", err=True)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    human_output(json_path)(eval_table(result))
    write_text(md_path, lambda: eval_markdown(result))
    emit_json(json_path, result.to_dict)
    if not result.passed:
        raise click.exceptions.Exit(EXIT_GATE_FAILED)


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)  # returns the code of a click Exit instead of raising it
    except TrtbenchError as exc:
        click.echo(f"error: {exc.problem}", err=True)
        if exc.fix:
            click.echo(f"  fix: {exc.fix}", err=True)
        sys.exit(EXIT_USER_MISTAKE)
    except click.UsageError as exc:   # an option out of range, missing or unknown: a user mistake like any other
        click.echo(f"error: {exc.format_message()}", err=True)
        click.echo(f"  fix: {_usage_fix(exc)}", err=True)
        sys.exit(EXIT_USER_MISTAKE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    if isinstance(code, int) and code:
        sys.exit(code)


def _usage_fix(exc: click.UsageError) -> str:
    """The fix for a usage error: the allowed range of a numeric option, else the command's help."""
    param = getattr(exc, "param", None)
    kind = getattr(param, "type", None)
    if isinstance(param, click.Option) and isinstance(kind, (click.IntRange, click.FloatRange)):
        name = max(param.opts, key=len)
        low = None if kind.min is None else f"{'more than' if kind.min_open else 'at least'} {kind.min}"
        high = None if kind.max is None else f"{'less than' if kind.max_open else 'at most'} {kind.max}"
        return f"give {name} a value of {' and '.join(b for b in (low, high) if b)}"
    command = exc.ctx.command_path if exc.ctx else "trtbench"
    return f"see `{command} --help`"


if __name__ == "__main__":
    main()
