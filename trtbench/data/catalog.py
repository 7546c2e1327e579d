"""The datasets ``trtbench train --dataset`` knows, each read from a local folder in its published layout.

The five published datasets (``sen1floods11``, ``hls_burn_scars``, ``mados``, ``ai4smallfarms``,
``biomassters``) are read as their official releases ship them; :mod:`trtbench.data.published` states
each release's facts and their sources. Nothing is downloaded: point ``--data-root`` at the
extracted data, and run ``trtbench data check`` before training.

Also ``chips``, a generic folder: ``images/NAME.tif`` with ``masks/NAME.tif`` of the same name (or, for
image classification, a ``labels.csv`` of ``NAME,LABEL`` rows instead of ``masks/``), optional
``splits/{train,val,test}.txt`` (one NAME per line; otherwise a seeded 70/15/15 split). The bands are
named by ``--sensor`` (a sensor table, or several joined with ``+``) with the order taken from the
GeoTIFF band descriptions when present, or by ``--wavelengths`` (µm; normalization statistics are then
computed from the training chips).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, TrtbenchError
from ..raster import open_raster, read_pixels
from ..sensors import Sensor, custom_sensor
from .chips import ChipDataset, LabelSpec, Record
from .published import DATASETS, DatasetSpec, Query, need, split_note
from .sources import Source, sensor_from_spec, stack_sensors
from .splits import SPLITS, seeded_split


@dataclass(frozen=True)
class DataOptions:
    """What the user said about the data (command-line options of ``trtbench train``)."""

    dataset: str
    root: Path
    modalities: Sequence[str] | None = None
    bands: Sequence[str] | None = None
    sensor: str | None = None                    # chips: band table(s) of the images
    wavelengths: Sequence[float] | None = None   # chips: µm per image band, instead of --sensor
    band_names: Sequence[str] | None = None      # chips: names for --wavelengths
    fixed_channels: bool = False                 # chips: the model reads no wavelengths (UNet): none needed
    num_classes: int | None = None               # chips: default inferred from the training masks
    class_names: Sequence[str] | None = None
    task: str = "segmentation"                   # chips: segmentation or regression
    nodata: float | None = None                  # chips: image no-data value if the files declare none
    ignore_index: int = -1
    split_seed: int = 0
    split: str = "official"                      # official (the release's / PANGAEA's) or seeded


@dataclass
class DataBundle:
    """The three splits of a dataset, plus what a model needs to know about its channels and targets.

    ``split_note`` says how the splits were made (reports quote it: scores are only comparable on
    the same split); ``notes`` lists what loading skipped or assumed (``trtbench data check`` shows them).
    """

    name: str
    task: str
    sensor: Sensor                 # stacked band table of the model's channels, in order
    class_names: list[str]
    ignore_index: int
    splits: dict[str, ChipDataset] = field(default_factory=dict)
    split_note: str = ""
    notes: list[str] = field(default_factory=list)
    root: str = ""                       # the folder it was read from
    check: dict[str, Any] | None = None  # the data check's report, once training has run it

    @property
    def num_classes(self) -> int | None:
        return None if self.task == "regression" else len(self.class_names)


def load_data(options: DataOptions) -> DataBundle:
    """Build train/val/test datasets for ``options`` (fails with the expected layout when files are missing)."""
    root = Path(options.root).expanduser()
    if not root.is_dir():
        raise InputError(f"dataset folder not found: {root}", "pass --data-root with the extracted dataset folder")
    if options.dataset == "chips":
        spec = _chips_spec(root, options)
    elif options.dataset in DATASETS:
        spec = DATASETS[options.dataset]
    else:
        raise TrtbenchError(f"unknown dataset '{options.dataset}'", f"use one of: chips, {', '.join(DATASETS)}")
    names = list(options.modalities or spec.default_sources)
    unknown = [n for n in names if n not in spec.sources]
    if unknown:
        raise TrtbenchError(f"{spec.name} has no modality {unknown}", f"use any of: {', '.join(spec.sources)}")
    channels, tables = _select(spec, names, options.bands)
    sensor = stack_sensors(tables)
    bundle = DataBundle(spec.name, spec.task, sensor, list(spec.classes), spec.labels.ignore_index,
                        split_note=split_note(spec, options.split, options.split_seed), root=str(root))
    for split in SPLITS:
        records = spec.find(Query(root, split, names, options.split_seed, options.split, bundle.notes))
        if not records:
            raise InputError(f"{spec.name}: no chips in the {split} split under {root}",
                             "check the layout (see trtbench.data.published) with `trtbench data check`")
        bundle.splits[split] = ChipDataset(records, [spec.sources[n] for n in names], channels, sensor.mean,
                                           sensor.std, spec.labels)
    return bundle


def _select(spec: DatasetSpec, names: Sequence[str], bands: Sequence[str] | None) -> tuple[list[list[int]], list[Sensor]]:
    """Per chosen source, the file indices and band table of the requested bands (all by default)."""
    def owned(name: str) -> list[str] | None:
        return [b for b in bands if any(t.matches(b) for t in spec.sources[name].sensor.bands)] if bands else None

    unknown = sorted(set(bands or ()) - {b for n in names for b in owned(n) or ()})
    if unknown:
        raise TrtbenchError(f"band(s) {unknown} are in none of the sources {list(names)}",
                            "check --bands and --modalities")
    channels, tables = [], []
    for name in names:
        if bands and not owned(name):
            raise TrtbenchError(f"--bands selects nothing from the '{name}' modality",
                                "drop that modality or add some of its bands")
        indices, table = spec.sources[name].select(owned(name))
        channels.append(indices)
        tables.append(table)
    return channels, tables


def _chips_spec(root: Path, options: DataOptions) -> DatasetSpec:
    images = need(root / "images", "chips images folder")
    table = root / "labels.csv"
    classify = table.is_file() and not (root / "masks").is_dir()
    masks = root / "masks" if classify else need(root / "masks", "chips masks folder (or labels.csv)")
    names = sorted(p.stem for p in images.glob("*.tif"))
    if not names:
        raise InputError(f"no .tif chips in {images}", "put images/NAME.tif with masks/NAME.tif beside them")
    class_of = _image_classes(table, names, options.class_names) if classify else {}
    missing = [n for n in names if not (masks / f"{n}.tif").exists()] if not classify else []
    if missing:
        raise InputError(f"{len(missing)} chip(s) have no mask: {', '.join(missing[:5])}",
                         f"add masks/NAME.tif for every images/NAME.tif under {root}")
    splits = _chip_splits(root, names, options.split_seed)
    source = _chips_source(images / f"{names[0]}.tif", options, [images / f"{n}.tif" for n in splits["train"]])
    task = "classification" if classify else options.task
    labels = LabelSpec(task, ignore_index=options.ignore_index)
    if task != "regression":
        inferred = (max(class_of.values()) + 1) if classify else None
        k = options.num_classes or len(options.class_names or ()) or inferred \
            or _infer_classes(masks, splits["train"], labels)
        labels = LabelSpec(task, k, options.ignore_index)
    classes = tuple(options.class_names or (f"class{i}" for i in range(labels.num_classes or 0)))
    if task != "regression" and len(classes) != labels.num_classes:
        raise TrtbenchError(f"{len(classes)} class names for {labels.num_classes} classes", "give one name per class")

    def find(q: Query) -> list[Record]:
        if classify:
            return [Record(n, ((images / f"{n}.tif",),), table, class_of[n]) for n in splits[q.split]]
        return [Record(n, ((images / f"{n}.tif",),), masks / f"{n}.tif") for n in splits[q.split]]

    listed = (root / "splits").is_dir()
    note = "splits/{train,val,test}.txt" if listed else "seeded 70/15/15 split (split seed {seed})"
    return DatasetSpec("chips", task, classes, {"image": source}, ("image",), labels, find, {"official": note})


def _image_classes(table: Path, names: list[str], class_names: Sequence[str] | None) -> dict[str, int]:
    """``labels.csv`` rows ``NAME,LABEL`` (optional header): LABEL a class index, or a name from --class-names."""
    rows = [r for r in csv.reader(table.read_text().splitlines()) if len(r) >= 2]
    if rows and rows[0][0].strip().lower() == "name":
        rows = rows[1:]
    lookup = {c: i for i, c in enumerate(class_names or ())}
    classes = {}
    for name, value in ((r[0].strip(), r[1].strip()) for r in rows):
        if value.lstrip("-").isdigit():
            classes[name] = int(value)
        elif value in lookup:
            classes[name] = lookup[value]
        else:
            raise InputError(f"{table}: class '{value}' of {name} is neither an index nor one of --class-names",
                             "write class indices, or pass --class-names listing every class")
    unlabelled = [n for n in names if n not in classes]
    if unlabelled:
        raise InputError(f"{len(unlabelled)} chip(s) missing from {table}: {', '.join(unlabelled[:5])}",
                         "give every images/NAME.tif a row NAME,LABEL")
    return classes


def _chip_splits(root: Path, names: list[str], seed: int) -> dict[str, list[str]]:
    folder = root / "splits"
    if not folder.is_dir():
        return seeded_split(names, seed)
    splits = {s: need(folder / f"{s}.txt", "split list").read_text().split() for s in SPLITS}
    unknown = sorted({n for s in splits.values() for n in s} - set(names))
    if unknown:
        raise InputError(f"split lists name chips that are not in images/: {', '.join(unknown[:5])}",
                         "list NAME (without .tif) of existing chips")
    return splits


def _chips_source(first: Path, options: DataOptions, train: list[Path]) -> Source:
    with open_raster(first) as ds:   # the chip every other is held against must itself read whole
        read_pixels(ds)
        count, descriptions = ds.count, list(ds.descriptions)
    named = descriptions if all(descriptions) else None
    if options.wavelengths:
        names = list(options.band_names or named or (f"band{i + 1}" for i in range(count)))
        if len(options.wavelengths) != count or len(names) != count:
            raise InputError(f"{first} has {count} bands but {len(options.wavelengths)} wavelengths / "
                             f"{len(names)} names were given", "give one wavelength (and name) per band")
        mean, std = _band_stats(train, options.nodata)
        table = custom_sensor(options.wavelengths, 10.0, mean, std, names)
        return Source("image", table, tuple(names), options.nodata)
    if not options.sensor and options.fixed_channels:
        # A model without a band embedding needs names and statistics, not wavelengths: NaN says "none known".
        names = list(options.band_names or named or (f"band{i + 1}" for i in range(count)))
        mean, std = _band_stats(train, options.nodata)
        return Source("image", custom_sensor([math.nan] * count, 10.0, mean, std, names), tuple(names), options.nodata)
    if not options.sensor:
        raise TrtbenchError("the chips' bands are not described", "pass --sensor NAME (or A+B) or --wavelengths")
    table = sensor_from_spec(options.sensor)
    names = named or table.band_names
    if len(names) != count:
        raise InputError(f"{first} has {count} bands but sensor '{options.sensor}' has {len(table.bands)} and the "
                         "file does not name its bands", "pass --bands, or write band descriptions into the GeoTIFFs")
    return Source("image", table, tuple(names), options.nodata)


def _band_stats(paths: list[Path], nodata: float | None) -> tuple[list[float], list[float]]:
    """Per-band mean and std over the valid pixels of the training chips (custom bands have no table)."""
    total = total_sq = count = 0.0
    for path in paths:
        with open_raster(path) as ds:
            data = read_pixels(ds).astype(np.float64)
            marker = ds.nodata if ds.nodata is not None else nodata
        valid = ~np.isnan(data).any(0) & (~(data == marker).any(0) if marker is not None else True)
        pixels = data[:, valid]
        total, total_sq, count = total + pixels.sum(1), total_sq + (pixels**2).sum(1), count + pixels.shape[1]
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(total_sq / max(count, 1) - mean**2, 1e-12))
    return mean.tolist(), std.tolist()


def _infer_classes(masks: Path, names: list[str], labels: LabelSpec) -> int:
    from ..raster import read_chip

    top = -1
    for name in names:
        chip = read_chip(masks / f"{name}.tif")
        values = chip.pixels[0]
        if chip.nodata is not None:
            values = values[values != chip.nodata]
        values = values[values != labels.ignore_index]
        top = max(top, int(values.max()) if values.size else -1)
    if top < 1:
        raise InputError(f"the training masks hold fewer than 2 classes (max value {top})",
                         "check the masks, or pass --num-classes")
    return top + 1

