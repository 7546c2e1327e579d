"""``trtbench models``: every registered model with its facts, as a table or JSON."""

from __future__ import annotations

import json

import click

from ..fileio import atomic_output, check_writable
from .build import parameter_count
from .registry import MODELS, facts_dict

COLUMNS = (("name", 12), ("family", 6), ("variant", 7), ("params", 8), ("patch", 5), ("input", 5), ("dim", 5),
           ("upernet", 13), ("agnostic", 8), ("wavelengths", 11))


def model_table() -> list[dict]:
    """One record per registered model: its facts, its parameter count and its aliases."""
    return [{**facts_dict(spec), "parameters": parameter_count(name)} for name, spec in MODELS.items()]


def _row(record: dict) -> list[str]:
    layers = record["upernet_layers"]
    units = record["wavelength_units"]
    return [record["name"], record["label"], record["variant"], f"{record['parameters'] / 1e6:.1f}M",
            str(record["patch_size"]), str(record["input_size"]), str(record["embed_dim"] or "-"),
            ",".join(map(str, layers)) if layers else "-", record["band_agnostic"] or "no",
            units.split(" ")[0] if units else "fixed"]


@click.command("models")
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help="Also write every model's full facts (band convention, normalisation, official weights, "
                   "sources) as JSON to this file; '-' prints the JSON instead of the table.")
def models(json_path: str | None) -> None:
    """List every registered model: parameters, patch and input size, width, UPerNet taps, band handling."""
    if json_path and json_path != "-":
        check_writable(json_path, option="--json", suffixes=(".json",))
    records = model_table()
    text = json.dumps(records, indent=2, ensure_ascii=False)
    if json_path == "-":
        click.echo(text)
        return
    click.echo("  ".join(f"{title:<{width}}" for title, width in COLUMNS).rstrip())
    for record in records:
        click.echo("  ".join(f"{cell:<{width}}" for cell, (_, width) in zip(_row(record), COLUMNS)).rstrip())
    click.echo("parameters: the encoder's (UNet: whole network at 10 bands in, 2 classes out); "
               "agnostic: the --dynamic-bands convention; details with --json")
    if json_path:
        with atomic_output(json_path) as tmp:
            tmp.write_text(text + "\n")
        click.echo(f"wrote {json_path}")
