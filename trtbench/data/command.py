"""``trtbench data``: commands about datasets on disk (``trtbench data check``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .published import SPLIT_SCHEMES


@click.group()
def data() -> None:
    """Datasets on disk: check a download before training on it."""


@data.command()
@click.option("--dataset", required=True,
              help="sen1floods11, hls_burn_scars, mados, ai4smallfarms, biomassters, or chips (generic folder).")
@click.option("--data-root", required=True, type=click.Path(), help="Extracted dataset folder.")
@click.option("--modalities", help="Sources to stack, e.g. s1,s2 (default: the dataset's default).")
@click.option("--bands", help="Comma-separated band names to keep (default: the sources' default bands).")
@click.option("--sensor", help="chips: sensor table of the images, several joined with +.")
@click.option("--num-classes", type=int, help="chips: classes in the masks.")
@click.option("--split", type=click.Choice(SPLIT_SCHEMES), default="official", show_default=True,
              help="official: the release's (or PANGAEA's) split; seeded: our seeded split where one is defined.")
@click.option("--split-seed", type=int, default=0, show_default=True, help="Seed of generated splits.")
@click.option("--sample", type=click.IntRange(1, 10_000), default=8, show_default=True, help="Chips read per split.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the report as JSON.")
def check(dataset: str, data_root: str, modalities: str | None, bands: str | None, sensor: str | None,
          num_classes: int | None, split: str, split_seed: int, sample: int, json_path: str | None) -> None:
    """Check a downloaded dataset: layout, counts per split, band ranges and normalised statistics on a sample,
    label values, no-data, missing files. Exits 2 when training on it would be wrong."""
    from ..fileio import atomic_output, check_writable
    from .catalog import DataOptions
    from .check import check_data, format_report

    def names(value: str | None) -> list[str] | None:
        return [v.strip() for v in value.split(",") if v.strip()] if value else None

    if json_path:  # refuse an unwritable output before the work
        check_writable(json_path, option="--json", suffixes=(".json",))
    options = DataOptions(dataset, Path(data_root), modalities=names(modalities), bands=names(bands), sensor=sensor,
                          num_classes=num_classes, split_seed=split_seed, split=split)
    report = check_data(options, sample=sample)
    for line in format_report(report):
        click.echo(line)
    if json_path:
        with atomic_output(json_path) as tmp:
            tmp.write_text(json.dumps(report.to_dict(), indent=2))
        click.echo(f"wrote {json_path}")
    report.raise_if_wrong()
