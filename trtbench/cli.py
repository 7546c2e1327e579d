"""The ``trtbench`` command line."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import click

from .errors import TrtbenchError


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


class LazyGroup(click.Group):
    """Subcommands named as ``module:attribute`` and imported when run (click's lazy-loading pattern).

    ``trtbench predict`` then starts without importing Lightning, fvcore or PyTorch, which the train,
    report, bench and flops commands need.
    """

    def __init__(self, *args, lazy: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, attribute = self.lazy[name].split(":")
            return getattr(importlib.import_module(module, __package__), attribute)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, lazy={
    "predict": ".predict.command:predict", "bench": ".bench.cli:bench", "flops": ".bench.cli:flops",
    "check": ".check.command:check", "train": ".train.cli:train", "report": ".train.cli:report"})
@click.version_option(package_name="trtbench")
def cli() -> None:
    """From a fine-tuned geospatial foundation model to a fast, verified deployment."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def doctor(as_json: bool) -> None:
    """Versions, CPU/GPU and which backends can run here (and why not)."""
    from .doctor import report

    info = report()
    if as_json:
        click.echo(json.dumps(info, indent=2))
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
@click.option("--sensor", default="sentinel-2-l2a", show_default=True, help="Sensor table of the bands.")
@click.option("--bands", help="Comma-separated band names (default: all of the sensor's bands).")
@click.option("--task", type=click.Choice(["embedding", "segmentation", "regression"]), default="embedding",
              show_default=True)
@click.option("--head", default="fcn", show_default=True, help="Head for segmentation/regression tasks.")
@click.option("--num-classes", type=int, help="Classes of a segmentation head.")
@click.option("--input-size", type=int, default=256, show_default=True, help="Default tile edge recorded.")
@click.option("--opset", type=int, help="ONNX opset (default: the family's export recipe).")
@click.option("--format", "fmt", type=click.Choice(["onnx", "engine"]), default="onnx", show_default=True,
              help="ONNX file, or a TensorRT engine (+ JSON sidecar; needs TensorRT and a GPU).")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]), default="fp32", show_default=True,
              help="fp16: mixed precision ONNX (LayerNorm, Softmax, generators in fp32); int8: Q/DQ calibrated on chips.")
@click.option("--shapes", help="Engine profile, e.g. min=1x10x224x224,opt=8x10x256x256,max=32x10x512x512.")
@click.option("--calib-data", multiple=True, help="INT8 calibration GeoTIFFs or folders of them; repeatable.")
@click.option("--calib-samples", type=int, default=256, show_default=True, help="Calibration tiles to use.")
@click.option("--calib-method", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax",
              show_default=True)
@click.option("--data-bands", help="The calibration files' band names or sensor, if not in the GeoTIFF.")
@click.option("--workspace", type=float, help="TensorRT workspace limit in GiB.")
@click.option("--opt-level", type=int, default=3, show_default=True, help="TensorRT builder optimization level 0..5.")
@click.option("--timing-cache", type=click.Path(dir_okay=False), help="Persistent TensorRT timing cache file.")
@click.option("--plugin-lib", "--plugin", "plugin_lib", multiple=True,
              help="TensorRT plugin library (or its build folder) to load; repeatable.")
@click.option("--dynamic-bands", is_flag=True,
              help="One band-agnostic ONNX: wavelengths and GSD are inputs, the band set is chosen at run time.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output .onnx file, or .engine/.plan with --format engine.")
def export(model: str, variant: str | None, checkpoint: str | None, random_init: bool, seed: int, sensor: str,
           bands: str | None, task: str, head: str, num_classes: int | None, input_size: int, opset: int | None,
           fmt: str, precision: str, shapes: str | None, calib_data: tuple[str, ...], calib_samples: int,
           calib_method: str, data_bands: str | None, workspace: float | None, opt_level: int,
           timing_cache: str | None, plugin_lib: tuple[str, ...], dynamic_bands: bool, output: str) -> None:
    """Export MODEL (a family such as `clay`, a registry name, a trtbench checkpoint, or an existing
    trtbench .onnx file) to ONNX or a TensorRT engine, at fp32, fp16 or int8."""
    from .export.pipeline import ExportRequest, export_artifact
    from .models import create_model, model_from_checkpoint, resolve_model_name

    request = ExportRequest(fmt, precision, opset, shapes, calib_data, calib_samples, calib_method,
                            _split(data_bands), workspace, opt_level, timing_cache, plugin_lib,
                            dynamic_bands=dynamic_bands)
    if Path(model).suffix == ".onnx":
        if random_init or checkpoint:
            raise TrtbenchError("an ONNX file carries its own weights", "drop --random-init/--checkpoint")
        for path in export_artifact(model, output, request):
            click.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
        return
    if Path(model).suffix in (".ckpt", ".pt", ".safetensors"):
        if random_init or checkpoint:
            raise TrtbenchError("a trtbench checkpoint carries its own weights", "drop --random-init/--checkpoint")
        net = model_from_checkpoint(model)
    elif bool(checkpoint) == bool(random_init):
        raise TrtbenchError("say where the weights come from", "pass exactly one of --checkpoint or --random-init")
    else:
        net = create_model(resolve_model_name(model, variant), checkpoint=checkpoint, sensor=sensor,
                           bands=_split(bands), task=task, head=head if task != "embedding" else None,
                           num_classes=num_classes, seed=seed, input_size=input_size)
    meta = net.metadata
    for path in export_artifact(net, output, request):
        click.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB): {meta.model} {meta.task}, "
                   f"{meta.num_bands} bands of {meta.sensor} ({', '.join(meta.bands)}), outputs {', '.join(meta.outputs)}")


@cli.command("eval")
@click.option("--engine", "artifact", required=True, type=click.Path(dir_okay=False),
              help="Exported artifact (.onnx) whose metadata drives the evaluation.")
@click.option("--data", multiple=True, required=True, help="GeoTIFF chip(s) or folder(s) of them; repeatable.")
@click.option("--labels", multiple=True, help="Label GeoTIFF(s), one per data file, or a folder of labels named like them.")
@click.option("--reference", type=click.Path(dir_okay=False), help="Checkpoint of the PyTorch reference.")
@click.option("--backend", default="onnxruntime", show_default=True)
@click.option("--data-bands", help="The files' band names or a sensor name, if not in the GeoTIFF.")
@click.option("--sensor", help="Band-agnostic artifacts: the data's sensor (or a stack: sentinel-1-rtc+sentinel-2-l1c).")
@click.option("--bands", help="Band-agnostic artifacts: comma-separated bands of --sensor to use, in order.")
@click.option("--wavelengths", help="Band-agnostic artifacts: centre wavelengths in µm, one per band.")
@click.option("--tile", type=int, help="Tile edge in pixels (default: the artifact's input size).")
@click.option("--batch-size", type=int, default=4, show_default=True)
@click.option("--ignore-index", type=int, default=-1, show_default=True, help="Label value to ignore.")
@click.option("--tolerance", type=float, default=None,
              help="Max |artifact - reference| relative to the output's scale [default: by the artifact's "
                   "precision: fp32 1e-4, fp16 1e-2, int8 1e-1].")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the full result as JSON.")
@click.option("--markdown", "md_path", type=click.Path(dir_okay=False), help="Write a Markdown report.")
def eval_(artifact: str, data: tuple[str, ...], labels: tuple[str, ...], reference: str | None, backend: str,
          data_bands: str | None, sensor: str | None, bands: str | None, wavelengths: str | None, tile: int | None,
          batch_size: int, ignore_index: int, tolerance: float | None, json_path: str | None,
          md_path: str | None) -> None:
    """Parity of an artifact against its PyTorch reference on real chips, and task metrics with labels."""
    from .bands import parse_wavelengths
    from .evaluate import evaluate
    from .fileio import atomic_output
    from .report import eval_markdown, eval_table

    result = evaluate(artifact, data, labels=labels or None, reference=reference, backend=backend, tile=tile,
                      batch_size=batch_size, data_bands=_split(data_bands), ignore_index=ignore_index,
                      tolerance=tolerance, sensor=sensor, bands=_split(bands),
                      wavelengths=parse_wavelengths(wavelengths))
    click.echo(eval_table(result))
    for path, text in ((json_path, lambda: json.dumps(result.to_dict(), indent=2)), (md_path, lambda: eval_markdown(result))):
        if path:
            with atomic_output(path) as tmp:
                tmp.write_text(text())
    if not result.passed:
        raise click.exceptions.Exit(1)


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)  # returns the code of a click Exit instead of raising it
    except TrtbenchError as exc:
        click.echo(f"error: {exc.problem}", err=True)
        if exc.fix:
            click.echo(f"  fix: {exc.fix}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
