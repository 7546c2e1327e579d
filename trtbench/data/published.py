"""The five published datasets of the Clay/PANGAEA study, read exactly as their official releases ship them.

Each entry states the release facts it relies on and where they come from, so they can be checked:

* **sen1floods11** (Bonafilia et al. 2020; release bucket ``gs://sen1floods11``, layout as read by
  PANGAEA-bench ``pangaea/datasets/sen1floods11.py``): ``[v1.1/]splits/flood_handlabeled/
  flood_{train,valid,test}_data.csv`` (rows ``NAME_S1Hand.tif,NAME_LabelHand.tif``) and
  ``[v1.1/]data/flood_events/HandLabeled/{S1Hand,S2Hand,LabelHand}/``. S1: float32 VV, VH in dB, NaN
  no-data. S2: int16 L1C TOA reflectance x 10000, 13 bands, each band declaring no-data 0 (read per
  band, so a real 0 in one band never hides another; the bundled sample has no 0 in any band, B10
  cirrus being 7..16). Labels int16: -1 no data, 0 not water, 1 water.
* **hls_burn_scars** (dataset card ``ibm-nasa-geospatial/hls_burn_scars``: "each band has already been
  converted to reflectance"; 804 scenes of 512x512, 2/3 in ``training/``, 1/3 in ``validation/``):
  ``{training,validation}/subsetted_512x512_HLS.S30.<tile>.<date>.v1.4_merged.tif`` (float32, 6 bands
  B02, B03, B04, B8A, B11, B12, reflectance 0-1) with ``...v1.4.mask.tif`` (1 burn scar, 0 not
  burned, -1 missing). Normalised with the dataset's own statistics in 0-1 units, as PANGAEA-bench
  ``configs/dataset/hlsburnscars.yaml`` and Prithvi's burn-scars config do (means 0.033-0.232), not
  with Prithvi's x 10000 pre-training statistics. Split ``official`` (PANGAEA's): test is
  ``validation/``; train/val is sklearn ``train_test_split(arange(n), test_size=0.1, random_state=23)``
  over the sorted ``training/*merged.tif`` (``hlsburnscars.py``), reproduced exactly by
  :func:`trtbench.data.splits.sklearn_shuffle_split`. Split ``seeded``: our seeded 90/10 split.
* **mados** (Kikaki et al. 2024, Zenodo 10664073; authors' loader ``gkakogeorgiou/mados``
  ``utils/dataset.py``): ``Scene_*/10/Scene_N_L2R_cl_K.tif`` labels (uint8 1..15, 0 unlabelled) and
  one file per band ``Scene_*/{10,20,60}/Scene_N_L2R_rhorc_<nm>_K.tif``: ACOLITE Rayleigh-corrected
  reflectance (``rhorc``, about 0-0.3 over water, NaN no-data) named by the centre wavelength of the
  satellite that took the scene: Sentinel-2A 443, 492, 560, 665, 704, 740, 783, 833, 865, 1614, 2202
  nm, Sentinel-2B 442, 492, 559, 665, 704, 739, 780, 833, 864, 1610, 2186 nm; both map to B01..B12 by
  nearest wavelength. ``splits/{train,val,test}_X.txt`` list ``Scene_N_K``. Normalised with the
  authors' band statistics (``bands_mean``/``bands_std`` of ``utils/dataset.py``, the same as
  PANGAEA-bench ``configs/dataset/mados.yaml``), in rhorc units. 20/60 m bands are upsampled to 10 m
  by nearest neighbour, as both loaders do. Pixels with NaN are dropped from the loss (the authors
  impute the band mean and keep them).
* **ai4smallfarms** (DANS doi:10.17026/dans-xy6-ngg6; PANGAEA-bench ``ai4smallfarms.py``):
  ``sentinel-2-asia/{train,validate,test}/{images,masks}/*.tif``, paired in sorted order. The release
  names the validation folder ``validate``; PANGAEA renames it ``val`` after downloading; both are
  accepted. Images: Sentinel-2 B02, B03, B04, B08 (PANGAEA's means 750-2416, i.e. x 10000). Masks:
  any non-zero value is a crop field, 0 background (PANGAEA: ``target.bool()``); a no-data value the
  mask may declare is NOT applied, since it would turn background into "ignore".
* **biomassters** (DrivenData release, ``features_metadata.csv`` with columns ``filename, chip_id,
  satellite, split, month, size, cksum, s3path_us, s3path_eu, s3path_as, corresponding_agbm``, as
  torchgeo's ``datasets/biomassters.py`` reads it; torchgeo's Hugging Face copy names it
  ``biomassters_features_metadata.csv``): ``{train,test}_features/CHIP_{S1,S2}_MM.tif`` (MM = month
  index 00..11, 00 = September) and ``{train,test}_agbm/CHIP_agbm.tif`` (float32 Mg/ha). S1: 4 bands VV,
  VH ascending then VV, VH descending, dB, -9999 no-data; the descending orbit is mostly no-data, so
  the default is the ascending pair (as Clay's preprocessing). S2: 10 L2A bands x 10000 plus a cloud
  probability layer (never selected). Splits: the metadata's ``train``/``test`` chips, and a seeded
  20% of the train chips for validation (the split the IBM/NASA Prithvi copy of the dataset
  describes: 80/20), or PANGAEA's ``{train,val,test}_Data_list.csv`` (column ``chip_id``) when those
  lists are present. Single month ``BIOMASSTERS_MONTH`` (PANGAEA's ``temp: 6``); not every chip has an
  S2 file for every month (torchgeo), so chips whose chosen month is missing for a chosen source are
  skipped (as torchgeo does, rather than filled with zeros as PANGAEA does, which would train on
  empty inputs against real targets), and the count is reported. A file the metadata lists but the
  folder lacks is an incomplete download, an error.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, TrtbenchError
from ..sensors import Band, Sensor, get_sensor
from .chips import LabelSpec, Record
from .sources import Source
from .splits import seeded_split, sklearn_shuffle_split

BIOMASSTERS_MONTH = 6
SPLIT_SCHEMES = ("official", "seeded")
_S2_L1C = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
_S2_L2A_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
MADOS_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
# gkakogeorgiou/mados utils/dataset.py bands_mean / bands_std (rhorc, 0-1), in MADOS_BANDS order.
_MADOS_MEAN = (0.0582676, 0.05223386, 0.04381474, 0.0357083, 0.03412902, 0.03680401, 0.03999107, 0.03566642,
               0.03965081, 0.0267993, 0.01978944)
_MADOS_STD = (0.03240627, 0.03432253, 0.0354812, 0.0375769, 0.03785412, 0.04992323, 0.05884482, 0.05545856,
              0.06423746, 0.04211187, 0.03019115)
# PANGAEA-bench configs/dataset/hlsburnscars.yaml data_mean / data_std (reflectance 0-1): B02 B03 B04 B8A B11 B12.
_BURN_MEAN = (0.033349706741586264, 0.05701185520536176, 0.05889748132001316, 0.2323245113436119,
              0.1972854853760658, 0.11944914225186566)
_BURN_STD = (0.02269135568823774, 0.026807560223070237, 0.04004109844362779, 0.07791732423672691,
             0.08708738838140137, 0.07241979477437814)
MADOS_MATCH_NM = 25  # a rhorc file's wavelength must be this close (nm) to a band's centre


@dataclass(frozen=True)
class Query:
    """What a dataset's finder is asked for: one split of the folder, the chosen sources and split scheme."""

    root: Path
    split: str
    sources: Sequence[str]
    seed: int = 0
    scheme: str = "official"
    notes: list[str] = field(default_factory=list)  # what the finder skipped or assumed, for the data check


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its task, classes, sources (file kinds), labels, finder and how its splits are made."""

    name: str
    task: str
    classes: tuple[str, ...]
    sources: dict[str, Source]
    default_sources: tuple[str, ...]
    labels: LabelSpec
    find: Callable[[Query], list[Record]]
    split_notes: dict[str, str] = field(default_factory=dict)  # scheme -> how the splits are made


def need(path: Path, what: str) -> Path:
    """``path`` if it exists, else an error naming what is missing and where the layout is documented."""
    if not path.exists():
        raise InputError(f"{what} not found: {path}", "check --data-root and the layout in trtbench.data.published")
    return path


def _sen1floods11(q: Query) -> list[Record]:
    base = q.root / "v1.1" if (q.root / "v1.1").is_dir() else q.root
    csv_name = {"train": "train", "val": "valid", "test": "test"}[q.split]
    rows = need(base / "splits" / "flood_handlabeled" / f"flood_{csv_name}_data.csv", "Sen1Floods11 split file")
    data = base / "data" / "flood_events" / "HandLabeled"
    records = []
    for row in csv.reader(rows.read_text().splitlines()):
        if len(row) < 2:
            continue
        s1, label = row[0].strip(), row[1].strip()
        files = {"s1": data / "S1Hand" / s1, "s2": data / "S2Hand" / s1.replace("S1Hand", "S2Hand")}
        images = tuple((need(files[s], f"Sen1Floods11 {s.upper()} chip"),) for s in q.sources)
        records.append(Record(s1.replace("_S1Hand.tif", ""), images, need(data / "LabelHand" / label, "label")))
    return records


def _hls_burn_scars(q: Query) -> list[Record]:
    folder = need(q.root / ("validation" if q.split == "test" else "training"), "HLS Burn Scars folder")
    records = []
    for image in sorted(folder.glob("*_merged.tif")):
        stem = image.name[: -len("_merged.tif")]
        masks = [folder / f"{stem}.mask.tif", folder / f"{stem}_mask.tif"]
        label = next((m for m in masks if m.exists()), None)
        records.append(Record(stem, ((image,),), label or need(masks[0], "burn scar mask")))
    if q.split == "test":
        return records
    if q.scheme == "official":
        chosen = sklearn_shuffle_split(len(records), test_size=0.1, random_state=23)[0 if q.split == "train" else 1]
        return [records[i] for i in chosen]
    names = set(seeded_split([r.name for r in records], q.seed, val=0.1, test=0.0)[q.split])
    return [r for r in records if r.name in names]


def mados_band(nm: int) -> str:
    """The Sentinel-2 band of a MADOS ``rhorc_<nm>`` file: nearest centre wavelength (S2A and S2B names differ)."""
    s2 = get_sensor("sentinel-2-l1c")
    distance = {b: abs(s2.band(b).wavelength * 1000 - nm) for b in MADOS_BANDS}
    band = min(distance, key=distance.__getitem__)
    if distance[band] > MADOS_MATCH_NM:
        raise InputError(f"MADOS band file at {nm} nm matches no Sentinel-2 band within {MADOS_MATCH_NM} nm",
                         "keep only the rhorc_<nm> files of the release (S2A or S2B centre wavelengths)")
    return band


def _mados(q: Query) -> list[Record]:
    wanted = set(need(q.root / "splits" / f"{q.split}_X.txt", "MADOS split file").read_text().split())
    records = []
    for label in sorted(q.root.glob("Scene_*/10/*_L2R_cl_*.tif")):
        scene = label.parts[-3]
        crop = label.stem.rsplit("_cl_", 1)[1]
        if f"{scene}_{crop}" not in wanted:
            continue
        bands: dict[str, Path] = {}
        for path in sorted(label.parents[1].glob(f"*/*_L2R_rhorc_*_{crop}.tif")):
            band = mados_band(int(path.stem.split("_")[-2]))
            if band in bands:
                raise InputError(f"MADOS {scene} crop {crop}: {bands[band].name} and {path.name} are both {band}",
                                 "keep one rhorc file per band (the scene's own satellite)")
            bands[band] = path
        missing = [b for b in MADOS_BANDS if b not in bands]
        if missing:
            raise InputError(f"MADOS {scene} crop {crop}: no band file(s) for {missing}",
                             "check that the 10/, 20/ and 60/ folders of the scene are complete")
        records.append(Record(f"{scene}_{crop}", (tuple(bands[b] for b in MADOS_BANDS),), label))
    return records


def _ai4smallfarms(q: Query) -> list[Record]:
    asia = need(q.root / "sentinel-2-asia", "AI4SmallFarms sentinel-2-asia folder")
    names = ("validate", "val") if q.split == "val" else (q.split,)
    base = next((asia / n for n in names if (asia / n).is_dir()), None)
    if base is None:
        raise InputError(f"AI4SmallFarms {q.split} folder not found: {' or '.join(str(asia / n) for n in names)}",
                         "extract the release unchanged (its validation folder is sentinel-2-asia/validate)")
    images = sorted(need(base / "images", "images folder").glob("*.tif"))
    masks = sorted(need(base / "masks", "masks folder").glob("*.tif"))
    if len(images) != len(masks):
        raise InputError(f"AI4SmallFarms {q.split}: {len(images)} images but {len(masks)} masks",
                         "every image needs its mask (paired in sorted order)")
    return [Record(i.stem, ((i,),), m) for i, m in zip(images, masks)]


BIOMASSTERS_METADATA = ("features_metadata.csv", "biomassters_features_metadata.csv")
BIOMASSTERS_VAL = 0.2


def _biomassters(q: Query) -> list[Record]:
    folder = "train" if q.split == "val" else q.split
    features = need(q.root / f"{folder}_features", "BioMassters features folder")
    labels = need(q.root / f"{folder}_agbm", "BioMassters agbm folder")
    kind = {"s1": "S1", "s2": "S2"}
    listed = q.root / f"{q.split}_Data_list.csv"
    metadata = next((q.root / n for n in BIOMASSTERS_METADATA if (q.root / n).is_file()), None)
    if listed.is_file():
        with open(listed, newline="") as fh:
            chips = [row["chip_id"] for row in csv.DictReader(fh)]
        available = None
    elif metadata is not None:
        chips, available = _biomassters_metadata(metadata, folder)
        if q.split != "test":
            chips = seeded_split(chips, q.seed, val=BIOMASSTERS_VAL, test=0.0)[q.split]
    else:
        raise InputError(f"BioMassters: neither {BIOMASSTERS_METADATA[0]} nor {q.split}_Data_list.csv in {q.root}",
                         "put the release's features_metadata.csv beside the train_features/ folder")
    records, skipped, absent = [], [], []
    for chip in chips:
        files = [features / f"{chip}_{kind[s]}_{BIOMASSTERS_MONTH:02d}.tif" for s in q.sources]
        if available is not None:
            not_acquired = [f for f in files if f.name not in available]
            absent += [f for f in files if f.name in available and not f.exists()]
        else:
            not_acquired = [f for f in files if not f.exists()]
        if not_acquired:
            skipped.append(chip)
            continue
        records.append(Record(chip, tuple((f,) for f in files), need(labels / f"{chip}_agbm.tif", "biomass label")))
    if absent:
        raise InputError(f"BioMassters: {len(absent)} file(s) listed in {metadata.name} are missing, e.g. {absent[0]}",
                         "finish the download (or re-extract the features archive)")
    if skipped:
        q.notes.append(f"{q.split}: skipped {len(skipped)} of {len(chips)} chip(s) without month "
                       f"{BIOMASSTERS_MONTH:02d} for {'/'.join(q.sources)} (e.g. {skipped[0]})")
    return records


def _biomassters_metadata(path: Path, folder: str) -> tuple[list[str], set[str]]:
    """Chip ids of one release split (sorted, for a reproducible val split) and the feature files it lists."""
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("split") == folder]
    if not rows:
        raise InputError(f"{path} lists no '{folder}' rows", "use the release's features_metadata.csv")
    return sorted({r["chip_id"] for r in rows}), {r["filename"] for r in rows}


def _s1_pairs() -> Sensor:
    s1 = get_sensor("sentinel-1-rtc")
    bands = tuple(Band(f"{b.name}_{orbit}", b.wavelength, b.mean, b.std, bandwidth=b.bandwidth)
                  for orbit in ("asc", "desc") for b in s1.bands)
    return Sensor("sentinel-1-asc-desc", s1.gsd, bands, units=s1.units)


def _restat(base: Sensor, name: str, bands: Sequence[str], mean: Sequence[float], std: Sequence[float],
            units: str) -> Sensor:
    """``base``'s bands (wavelengths, aliases) with a dataset's own statistics, under a name of its own."""
    table = base.select(bands)
    return Sensor(name, base.gsd, tuple(Band(b.name, b.wavelength, m, s, b.aliases, b.bandwidth)
                                        for b, m, s in zip(table.bands, mean, std)), units=units)


_HLS_BANDS = ("B02", "B03", "B04", "B8A", "B11", "B12")
DATASETS: dict[str, DatasetSpec] = {
    "sen1floods11": DatasetSpec(
        "sen1floods11", "segmentation", ("land", "water"),
        {"s1": Source("s1", get_sensor("sentinel-1-rtc"), ("VV", "VH"), nodata=float("nan")),
         "s2": Source("s2", get_sensor("sentinel-2-l1c"), _S2_L1C, nodata=0)},
        ("s2",), LabelSpec("segmentation", 2), _sen1floods11,
        {"official": "the release's hand-labelled flood_{train,valid,test}_data.csv"}),
    "hls_burn_scars": DatasetSpec(
        "hls_burn_scars", "segmentation", ("not burned", "burn scar"),
        {"hls": Source("hls", _restat(get_sensor("hls-s30"), "hls-burn-scars", _HLS_BANDS, _BURN_MEAN, _BURN_STD,
                                      "surface reflectance 0-1"), _HLS_BANDS, nodata=-9999)},
        ("hls",), LabelSpec("segmentation", 2), _hls_burn_scars,
        {"official": "PANGAEA-bench: test = validation/; train/val = sklearn train_test_split(test_size=0.1, "
                     "random_state=23) of the sorted training/ files",
         "seeded": "test = validation/; train/val = seeded 90/10 split of training/ (split seed {seed})"}),
    "mados": DatasetSpec(
        "mados", "segmentation",
        ("marine debris", "dense sargassum", "sparse floating algae", "natural organic material", "ship",
         "oil spill", "marine water", "sediment-laden water", "foam", "turbid water", "shallow water",
         "waves and wakes", "oil platform", "jellyfish", "sea snot"),
        {"s2": Source("s2", _restat(get_sensor("sentinel-2-l1c"), "mados-rhorc", MADOS_BANDS, _MADOS_MEAN,
                                    _MADOS_STD, "Rayleigh-corrected reflectance (rhorc)"), MADOS_BANDS)},
        ("s2",), LabelSpec("segmentation", 15, offset=-1), _mados,
        {"official": "the release's splits/{train,val,test}_X.txt"}),
    "ai4smallfarms": DatasetSpec(
        "ai4smallfarms", "segmentation", ("background", "crop field"),
        {"s2": Source("s2", get_sensor("sentinel-2-l2a"), ("B02", "B03", "B04", "B08"))},
        ("s2",), LabelSpec("segmentation", 2, binarize=True, file_nodata=False), _ai4smallfarms,
        {"official": "the release's sentinel-2-asia/{train,validate,test} folders"}),
    "biomassters": DatasetSpec(
        "biomassters", "regression", (),
        {"s1": Source("s1", _s1_pairs(), ("VV_asc", "VH_asc", "VV_desc", "VH_desc"), nodata=-9999,
                      default_bands=("VV_asc", "VH_asc")),
         "s2": Source("s2", get_sensor("sentinel-2-l2a"), (*_S2_L2A_BANDS, "CLP"))},
        ("s2",), LabelSpec("regression"), _biomassters,
        {"official": "the release's train/test chips (features_metadata.csv); val = seeded 20% of train "
                     "(split seed {seed}); or {train,val,test}_Data_list.csv where present"}),
}


def split_note(spec: DatasetSpec, scheme: str, seed: int) -> str:
    """How ``spec``'s splits are made under ``scheme`` (an error when the dataset does not define it)."""
    if scheme not in SPLIT_SCHEMES:
        raise TrtbenchError(f"unknown split scheme '{scheme}'", f"use one of: {', '.join(SPLIT_SCHEMES)}")
    if scheme not in spec.split_notes:
        raise TrtbenchError(f"{spec.name} has no '{scheme}' split",
                            f"use one of: {', '.join(spec.split_notes) or 'official'}")
    return spec.split_notes[scheme].replace("{seed}", str(seed))
