"""A published dataset's split as the comparison's evaluation set: written once as a labelled chip folder.

``trtbench compare`` evaluates every artifact with :func:`trtbench.evaluate.evaluate`, which reads a
labelled chip folder (``images/NAME.tif`` + ``masks/NAME.tif``) and normalises with the artifact's own
band table. The published layouts (:mod:`trtbench.data.published`: per-band files, several modalities,
label offsets and binarisation, release-specific names) are read here once, through the same
:func:`trtbench.data.load_data` that ``trtbench train`` uses, and written as such a folder:

* images: the chosen modalities' bands stacked in the dataset's band order, in the band table's units
  (what the table's mean/std are in), float32 with NaN where any source declared no data, each band
  described by its name so ``eval``'s band matching reads them by name, never by assumed order;
* masks: the decoded class of every pixel (offset and binarisation applied) with the dataset's ignore
  index for unlabelled pixels, and no no-data marker (the ignore index is the marker).

The folder's name is a hash of the dataset, split, modalities and the files the split lists (names,
sizes, modification times), so a rerun reuses it and a changed release gets a new folder. It is
written to a temporary folder and renamed when complete.

Only segmentation datasets whose band table is a registered sensor (or a stack of them) can be compared:
the exported models are bound to the data's sensor by name. Datasets normalised with their own
statistics (HLS Burn Scars, MADOS, BioMassters' S1 orbit pairs) are refused with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import ChipDataset
from ..errors import InputError, TrtbenchError

DATASET_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class StagedSplit:
    """A dataset split written as a labelled chip folder, and what the comparison needs to know about it."""

    folder: Path
    sensor: str
    num_classes: int
    ignore_index: int
    source: str        # the dataset, split, modalities and root, in words (reports, cell identity)


def stage_split(dataset: str, root: str | Path, split: str, modalities: Sequence[str] | None,
                staging: Path) -> StagedSplit:
    """``dataset``'s ``split`` under ``root`` as a chip folder inside ``staging`` (reused when already there)."""
    from ..data import DataOptions, load_data
    from ..sensors import get_sensor

    if split not in DATASET_SPLITS:
        raise InputError(f"unknown split '{split}' of {dataset}", f"use one of: {', '.join(DATASET_SPLITS)}")
    bundle = load_data(DataOptions(dataset, Path(root), modalities=list(modalities) if modalities else None))
    if bundle.task != "segmentation":
        raise InputError(f"{dataset} is a {bundle.task} dataset; trtbench compare evaluates segmentation",
                         "compare on a segmentation dataset (sen1floods11, ai4smallfarms), or evaluate this one "
                         "with `trtbench train`'s test metrics")
    try:
        registered = get_sensor(bundle.sensor.name)
    except TrtbenchError:   # a table of the dataset's own (its statistics), not a registered one
        registered = None
    if registered is None or registered.band_names != bundle.sensor.band_names \
            or registered.mean != bundle.sensor.mean or registered.std != bundle.sensor.std:
        raise InputError(f"{dataset} is normalised with its own band table '{bundle.sensor.name}', which is not a "
                         "registered sensor: models exported for the comparison could not be bound to it",
                         "compare on a dataset read with a registered sensor table (sen1floods11, "
                         "ai4smallfarms), or write the split as a labelled chip folder and pass --data")
    chips = bundle.splits[split]
    sizes = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for r in chips.records
             for p in (*(f for files in r.images for f in files), r.label)]
    digest = hashlib.sha256(json.dumps([dataset, split, bundle.sensor.name, sizes]).encode()).hexdigest()[:12]
    folder = staging / f"{dataset}-{split}-{digest}"
    source = (f"{dataset} {split} split ({len(chips.records)} chips, {bundle.sensor.name}) of "
              f"{Path(root).resolve()}; {bundle.split_note}")
    staged = StagedSplit(folder, bundle.sensor.name, int(bundle.num_classes or 0), bundle.ignore_index, source)
    if not folder.is_dir():
        _write_folder(chips, bundle.sensor.band_names, folder)
    return staged


def _write_folder(chips: ChipDataset, band_names: Sequence[str], folder: Path) -> None:
    """Every record of ``chips`` as images/NAME.tif + masks/NAME.tif."""
    import rasterio

    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        for sub in ("images", "masks"):
            (work / sub).mkdir()
        for index, record in enumerate(chips.records):
            label = chips.read_label(index)
            pixels = chips.read_pixels(index, label.shape)
            with rasterio.open(record.label) as ds:   # the label's grid: every source was checked to match it
                grid = {"crs": ds.crs, "transform": ds.transform, "width": ds.width, "height": ds.height}
            image = {"driver": "GTiff", "count": pixels.shape[0], "dtype": "float32", "nodata": float("nan"),
                     "compress": "deflate", **grid}
            with rasterio.open(work / "images" / f"{record.name}.tif", "w", **image) as out:
                out.write(pixels.astype(np.float32))
                out.descriptions = tuple(band_names)
            mask = {"driver": "GTiff", "count": 1, "dtype": "int16", "compress": "deflate", **grid}
            with rasterio.open(work / "masks" / f"{record.name}.tif", "w", **mask) as out:
                out.write(label.astype(np.int16)[None])
        os.replace(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
