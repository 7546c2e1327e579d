"""``trtbench stac``: describe an exported artifact as a STAC Item with the MLM extension."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli_options import STDOUT
from ..fileio import check_writable


def default_item_path(artifact: str | Path) -> Path:
    """Where an artifact's item goes unless told: beside it, ``<artifact name>.stac.json``."""
    artifact = Path(artifact)
    return artifact.with_name(f"{artifact.name}.stac.json")


@click.command("stac")
@click.argument("artifact", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(), help="Item JSON file ('-': standard output) "
              "[default: ARTIFACT.stac.json beside the artifact].")
def stac(artifact: str, output: str | None) -> None:
    """Describe ARTIFACT (ONNX or TensorRT engine) as a STAC Item with the Machine Learning Model extension.

    The item names the bands (with wavelengths), input shape and normalisation, the outputs and classes,
    and the artifact with its checksum; `trtbench predict` and `eval` accept the item in place of the artifact.
    """
    import json

    from .mlm import mlm_item, write_mlm_item

    if output == STDOUT:
        click.echo(json.dumps(mlm_item(artifact), indent=2))
        return
    path = Path(output) if output else default_item_path(artifact)
    check_writable(path, option="-o", suffixes=(".json",))
    click.echo(f"wrote {write_mlm_item(artifact, path)}")
