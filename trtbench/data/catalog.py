"""The datasets ``trtbench train --dataset`` knows, each read from a local folder in its published layout.

PANGAEA / GEO-Bench layouts (nothing is downloaded; point ``--data-root`` at the extracted data):

* ``sen1floods11``: ``[v1.1/]splits/flood_handlabeled/flood_{train,valid,test}_data.csv`` (rows
  ``NAME_S1Hand.tif,NAME_LabelHand.tif``) and ``[v1.1/]data/flood_events/HandLabeled/{S1Hand,S2Hand,
  LabelHand}/``. Sources ``s1`` (VV, VH dB, NaN no-data) and ``s2`` (13 L1C bands, 0 no-data); labels
  -1 no data, 0 land, 1 water.
* ``hls_burn_scars``: ``training/*_merged.tif`` + ``*_mask.tif`` and ``validation/`` likewise. 6 HLS S30
  bands; labels -1/0/1. Train/val is a seeded 90/10 split of ``training/``; test is ``validation/``.
* ``mados``: ``Scene_*/10/Scene_N_L2R_cl_K.tif`` labels, bands ``Scene_*/{10,20,60}/Scene_N_L2R_rhorc_<nm>_K.tif``
  and ``splits/{train,val,test}_X.txt`` listing ``Scene_N_K``. 11 Sentinel-2 bands (reflectance, scaled
  x 10000 to the table's units), 20/60 m bands resampled to 10 m; labels 1..15, 0 unlabelled.
* ``ai4smallfarms``: ``sentinel-2-asia/{train,val,test}/{images,masks}/*.tif`` paired in sorted order.
  Sentinel-2 B02, B03, B04, B08; masks: field boundary (non-zero) or background.
* ``biomassters``: ``{train,val,test}_Data_list.csv`` (column ``chip_id``), ``{train,test}_features/
  CHIP_S1_MM.tif`` (VV/VH ascending, VV/VH descending) and ``CHIP_S2_MM.tif`` (10 L2A bands + cloud
  probability), ``{train,test}_agbm/CHIP_agbm.tif`` (biomass, Mg/ha). Val reads the train folders.
  Single-temporal: one month (``BIOMASSTERS_MONTH``); pixel regression.

And ``chips``, a generic folder: ``images/NAME.tif`` with ``masks/NAME.tif`` of the same name (or, for
image classification, a ``labels.csv`` of ``NAME,LABEL`` rows instead of ``masks/``), optional
``splits/{train,val,test}.txt`` (one NAME per line; otherwise a seeded 70/15/15 split). The bands are
named by ``--sensor`` (a sensor table, or several joined with ``+``) with the order taken from the
GeoTIFF band descriptions when present, or by ``--wavelengths`` (µm; normalization statistics are then
computed from the training chips).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, TrtbenchError
from ..raster import open_raster
from ..sensors import Band, Sensor, custom_sensor, get_sensor
from .chips import ChipDataset, LabelSpec, Record
from .sources import Source, sensor_from_spec, stack_sensors
from .splits import SPLITS, seeded_split

BIOMASSTERS_MONTH = 6
_S2_L1C = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
_MADOS_NM = {442: "B01", 492: "B02", 559: "B03", 665: "B04", 704: "B05", 739: "B06", 780: "B07", 833: "B08",
             864: "B8A", 1610: "B11", 2186: "B12"}


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
    num_classes: int | None = None               # chips: default inferred from the training masks
    class_names: Sequence[str] | None = None
    task: str = "segmentation"                   # chips: segmentation or regression
    nodata: float | None = None                  # chips: image no-data value if the files declare none
    ignore_index: int = -1
    split_seed: int = 0


@dataclass
class DataBundle:
    """The three splits of a dataset, plus what a model needs to know about its channels and targets."""

    name: str
    task: str
    sensor: Sensor                 # stacked band table of the model's channels, in order
    class_names: list[str]
    ignore_index: int
    splits: dict[str, ChipDataset] = field(default_factory=dict)

    @property
    def num_classes(self) -> int | None:
        return None if self.task == "regression" else len(self.class_names)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    task: str
    classes: tuple[str, ...]
    sources: dict[str, Source]
    default_sources: tuple[str, ...]
    labels: LabelSpec
    find: Callable[[Path, str, Sequence[str], int], list[Record]]  # root, split, sources, seed -> records


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
    bundle = DataBundle(spec.name, spec.task, sensor, list(spec.classes), spec.labels.ignore_index)
    for split in SPLITS:
        records = spec.find(root, split, names, options.split_seed)
        if not records:
            raise InputError(f"{spec.name}: no chips in the {split} split under {root}",
                             "check the layout (see `trtbench train --help` or trtbench.data.catalog)")
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


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise InputError(f"{what} not found: {path}", "check --data-root and the layout in trtbench.data.catalog")
    return path


def _sen1floods11(root: Path, split: str, sources: Sequence[str], seed: int) -> list[Record]:
    base = root / "v1.1" if (root / "v1.1").is_dir() else root
    csv_name = {"train": "train", "val": "valid", "test": "test"}[split]
    rows = _need(base / "splits" / "flood_handlabeled" / f"flood_{csv_name}_data.csv", "Sen1Floods11 split file")
    data = base / "data" / "flood_events" / "HandLabeled"
    records = []
    for row in csv.reader(rows.read_text().splitlines()):
        if len(row) < 2:
            continue
        s1, label = row[0].strip(), row[1].strip()
        files = {"s1": data / "S1Hand" / s1, "s2": data / "S2Hand" / s1.replace("S1Hand", "S2Hand")}
        images = tuple((_need(files[s], f"Sen1Floods11 {s.upper()} chip"),) for s in sources)
        records.append(Record(s1.replace("_S1Hand.tif", ""), images, _need(data / "LabelHand" / label, "label")))
    return records


def _hls_burn_scars(root: Path, split: str, sources: Sequence[str], seed: int) -> list[Record]:
    folder = _need(root / ("validation" if split == "test" else "training"), "HLS Burn Scars folder")
    records = []
    for image in sorted(folder.glob("*_merged.tif")):
        stem = image.name[: -len("_merged.tif")]
        masks = [folder / f"{stem}.mask.tif", folder / f"{stem}_mask.tif"]
        label = next((m for m in masks if m.exists()), None)
        records.append(Record(stem, ((image,),), label or _need(masks[0], "burn scar mask")))
    if split == "test":
        return records
    chosen = set(seeded_split([r.name for r in records], seed, val=0.1, test=0.0)[split])
    return [r for r in records if r.name in chosen]


def _mados(root: Path, split: str, sources: Sequence[str], seed: int) -> list[Record]:
    wanted = set(_need(root / "splits" / f"{split}_X.txt", "MADOS split file").read_text().split())
    records = []
    for label in sorted(root.glob("Scene_*/10/*_L2R_cl_*.tif")):
        scene = label.parts[-3]
        crop = label.stem.rsplit("_cl_", 1)[1]
        if f"{scene}_{crop}" not in wanted:
            continue
        bands = {}
        for path in label.parents[1].glob(f"*/*_L2R_rhorc_*_{crop}.tif"):
            nm = int(path.stem.split("_")[-2])
            bands[nm] = path
        missing = [nm for nm in _MADOS_NM if nm not in bands]
        if missing:
            raise InputError(f"MADOS {scene} crop {crop}: no band file(s) for {missing} nm",
                             "check that the 10/, 20/ and 60/ folders of the scene are complete")
        records.append(Record(f"{scene}_{crop}", (tuple(bands[nm] for nm in sorted(_MADOS_NM)),), label))
    return records


def _ai4smallfarms(root: Path, split: str, sources: Sequence[str], seed: int) -> list[Record]:
    base = _need(root / "sentinel-2-asia" / split, "AI4SmallFarms split folder")
    images = sorted(_need(base / "images", "images folder").glob("*.tif"))
    masks = sorted(_need(base / "masks", "masks folder").glob("*.tif"))
    if len(images) != len(masks):
        raise InputError(f"AI4SmallFarms {split}: {len(images)} images but {len(masks)} masks",
                         "every image needs its mask (paired in sorted order)")
    return [Record(i.stem, ((i,),), m) for i, m in zip(images, masks)]


def _biomassters(root: Path, split: str, sources: Sequence[str], seed: int) -> list[Record]:
    ids = _need(root / f"{split}_Data_list.csv", "BioMassters chip list")
    folder = "train" if split == "val" else split
    features = _need(root / f"{folder}_features", "BioMassters features folder")
    labels = _need(root / f"{folder}_agbm", "BioMassters agbm folder")
    with open(ids, newline="") as fh:
        chips = [row["chip_id"] for row in csv.DictReader(fh)]
    kind = {"s1": "S1", "s2": "S2"}
    return [Record(chip, tuple((features / f"{chip}_{kind[s]}_{BIOMASSTERS_MONTH:02d}.tif",) for s in sources),
                   _need(labels / f"{chip}_agbm.tif", "biomass label")) for chip in chips]


def _s1_pairs() -> Sensor:
    s1 = get_sensor("sentinel-1-rtc")
    bands = tuple(Band(f"{b.name}_{orbit}", b.wavelength, b.mean, b.std) for orbit in ("asc", "desc") for b in s1.bands)
    return Sensor("sentinel-1-asc-desc", s1.gsd, bands, units=s1.units)


_S2_L2A_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
DATASETS: dict[str, DatasetSpec] = {
    "sen1floods11": DatasetSpec(
        "sen1floods11", "segmentation", ("land", "water"),
        {"s1": Source("s1", get_sensor("sentinel-1-rtc"), ("VV", "VH"), nodata=float("nan")),
         "s2": Source("s2", get_sensor("sentinel-2-l1c"), _S2_L1C, nodata=0)},
        ("s2",), LabelSpec("segmentation", 2), _sen1floods11),
    "hls_burn_scars": DatasetSpec(
        "hls_burn_scars", "segmentation", ("not burned", "burn scar"),
        {"hls": Source("hls", get_sensor("hls-s30"), ("B02", "B03", "B04", "B8A", "B11", "B12"), nodata=-9999)},
        ("hls",), LabelSpec("segmentation", 2), _hls_burn_scars),
    "mados": DatasetSpec(
        "mados", "segmentation",
        ("marine debris", "dense sargassum", "sparse floating algae", "natural organic material", "ship",
         "oil spill", "marine water", "sediment-laden water", "foam", "turbid water", "shallow water",
         "waves and wakes", "oil platform", "jellyfish", "sea snot"),
        {"s2": Source("s2", get_sensor("sentinel-2-l1c"), tuple(_MADOS_NM[nm] for nm in sorted(_MADOS_NM)),
                      scale=10000.0)},
        ("s2",), LabelSpec("segmentation", 15, offset=-1), _mados),
    "ai4smallfarms": DatasetSpec(
        "ai4smallfarms", "segmentation", ("background", "field boundary"),
        {"s2": Source("s2", get_sensor("sentinel-2-l2a"), ("B02", "B03", "B04", "B08"))},
        ("s2",), LabelSpec("segmentation", 2, binarize=True), _ai4smallfarms),
    "biomassters": DatasetSpec(
        "biomassters", "regression", (),
        {"s1": Source("s1", _s1_pairs(), ("VV_asc", "VH_asc", "VV_desc", "VH_desc"), nodata=-9999),
         "s2": Source("s2", get_sensor("sentinel-2-l2a"), (*_S2_L2A_BANDS, "CLP"))},
        ("s2",), LabelSpec("regression"), _biomassters),
}


def _chips_spec(root: Path, options: DataOptions) -> DatasetSpec:
    images = _need(root / "images", "chips images folder")
    table = root / "labels.csv"
    classify = table.is_file() and not (root / "masks").is_dir()
    masks = root / "masks" if classify else _need(root / "masks", "chips masks folder (or labels.csv)")
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

    def find(root_: Path, split: str, sources: Sequence[str], seed: int) -> list[Record]:
        if classify:
            return [Record(n, ((images / f"{n}.tif",),), table, class_of[n]) for n in splits[split]]
        return [Record(n, ((images / f"{n}.tif",),), masks / f"{n}.tif") for n in splits[split]]

    return DatasetSpec("chips", task, classes, {"image": source}, ("image",), labels, find)


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
    splits = {s: _need(folder / f"{s}.txt", "split list").read_text().split() for s in SPLITS}
    unknown = sorted({n for s in splits.values() for n in s} - set(names))
    if unknown:
        raise InputError(f"split lists name chips that are not in images/: {', '.join(unknown[:5])}",
                         "list NAME (without .tif) of existing chips")
    return splits


def _chips_source(first: Path, options: DataOptions, train: list[Path]) -> Source:
    with open_raster(first) as ds:
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
            data = ds.read().astype(np.float64)
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

