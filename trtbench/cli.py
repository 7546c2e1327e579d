"""The ``trtbench`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .errors import TrtbenchError


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@click.group()
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
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output .onnx file.")
def export(model: str, variant: str | None, checkpoint: str | None, random_init: bool, seed: int, sensor: str,
           bands: str | None, task: str, head: str, num_classes: int | None, input_size: int, opset: int | None,
           output: str) -> None:
    """Export MODEL (a family such as `clay`, a registry name, or a trtbench checkpoint) to ONNX."""
    from .export import export_onnx
    from .models import create_model, resolve_model_name

    if Path(model).suffix in (".ckpt", ".pt", ".safetensors"):
        checkpoint, model = model, "clay"
        if random_init:
            raise TrtbenchError("--random-init contradicts a checkpoint", "drop one of them")
    elif bool(checkpoint) == bool(random_init):
        raise TrtbenchError("say where the weights come from", "pass exactly one of --checkpoint or --random-init")
    name = resolve_model_name(model, variant)
    net = create_model(name, checkpoint=checkpoint, sensor=sensor, bands=_split(bands), task=task,
                       head=head if task != "embedding" else None, num_classes=num_classes, seed=seed,
                       input_size=input_size)
    path = export_onnx(net, output, opset=opset)
    meta = net.metadata
    click.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB): {meta.model} {meta.task}, "
               f"{meta.num_bands} bands of {meta.sensor} ({', '.join(meta.bands)}), outputs {', '.join(meta.outputs)}")


@cli.command("eval")
@click.option("--engine", "artifact", required=True, type=click.Path(dir_okay=False),
              help="Exported artifact (.onnx) whose metadata drives the evaluation.")
@click.option("--data", multiple=True, required=True, help="GeoTIFF chip(s); repeatable.")
@click.option("--labels", multiple=True, help="Label GeoTIFF(s), one per --data.")
@click.option("--reference", type=click.Path(dir_okay=False), help="Checkpoint of the PyTorch reference.")
@click.option("--backend", default="onnxruntime", show_default=True)
@click.option("--data-bands", help="The files' band names or a sensor name, if not in the GeoTIFF.")
@click.option("--tile", type=int, help="Tile edge in pixels (default: the artifact's input size).")
@click.option("--batch-size", type=int, default=4, show_default=True)
@click.option("--ignore-index", type=int, default=-1, show_default=True, help="Label value to ignore.")
@click.option("--tolerance", type=float, default=1e-4, show_default=True,
              help="Max |artifact - reference| relative to the output's scale.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the full result as JSON.")
@click.option("--markdown", "md_path", type=click.Path(dir_okay=False), help="Write a Markdown report.")
def eval_(artifact: str, data: tuple[str, ...], labels: tuple[str, ...], reference: str | None, backend: str,
          data_bands: str | None, tile: int | None, batch_size: int, ignore_index: int, tolerance: float,
          json_path: str | None, md_path: str | None) -> None:
    """Parity of an artifact against its PyTorch reference on real chips, and task metrics with labels."""
    from .evaluate import evaluate
    from .fileio import atomic_output
    from .report import eval_markdown, eval_table

    result = evaluate(artifact, data, labels=labels or None, reference=reference, backend=backend, tile=tile,
                      batch_size=batch_size, data_bands=_split(data_bands), ignore_index=ignore_index,
                      tolerance=tolerance)
    click.echo(eval_table(result))
    for path, text in ((json_path, lambda: json.dumps(result.to_dict(), indent=2)), (md_path, lambda: eval_markdown(result))):
        if path:
            with atomic_output(path) as tmp:
                tmp.write_text(text())
    if not result.passed:
        raise click.exceptions.Exit(1)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except TrtbenchError as exc:
        click.echo(f"error: {exc.problem}", err=True)
        if exc.fix:
            click.echo(f"  fix: {exc.fix}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
