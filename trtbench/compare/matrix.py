"""The comparison matrix: which models, backends, precisions, batch sizes and input sizes, on which data.

Read from a TOML file (``trtbench compare matrix.toml``) or from options alone (``trtbench compare
--models clay_base,unet --data chips/``); both give the same :class:`Matrix`, validated completely
before any work, so a misspelt backend or a missing mask never costs an export. The schema::

    models = ["clay_base", "unet"]          # registry names (seeded random init) ...
    # or tables: {name = "clay_v1_5", checkpoint = "clay-v1.5.ckpt"}, {checkpoint = "runs/x/best.ckpt"},
    #            {artifact = "water.onnx"}; optional keys: seed, head, label
    backends = ["torch", "onnxruntime", "openvino"]
    precisions = ["fp32", "fp16", "int8"]     # and "bf16": the fp32 artifact run in bf16 (openvino, torch) on
                                              # CPUs with AMX or AVX512-BF16; skipped with the reason elsewhere
    batch = [1, 8]
    input_size = [224]

    [data]                  # a labelled chip folder: images/NAME.tif and masks/NAME.tif (same names)
    path = "chips/"
    sensor = "sentinel-2-l1c"   # optional: else the one sensor table the images' band descriptions name
    bands = ["B02", "B03"]      # optional subset of the sensor's bands
    num_classes = 2             # optional: else the largest mask value + 1 (recorded as an assumption)
    ignore_index = -1
    calib_samples = 64          # INT8 calibration tiles, from the same images

    # or one of the published dataset layouts (trtbench.data.published), instead of path:
    # dataset = "sen1floods11"   root = "sen1floods11/"   split = "test"   modalities = ["s2"]
    # (read once with trtbench.data.load_data and written as a chip folder in OUT/data/: see
    #  trtbench.compare.dataset_split; sensor, classes and ignore_index are then the dataset's)

    [timing]
    rounds = 3          # interleaved rounds over the backends
    warmup = 1
    min_iters = 5
    min_time = 0.5      # seconds per (backend, batch) and round, at least
    spread_limit = 0.25 # relative IQR above which a latency is flagged
    threads = 0         # CPU threads per backend (0: each backend's own default)

Paths in a file are relative to the file's folder. Anything the matrix does not say and the run had to
decide (weights, sensor, classes) is listed in :attr:`Matrix.notes` and written to ``matrix.json``.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..raster import open_raster, read_chip

CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".safetensors")
DEFAULT_BACKENDS = ("torch", "onnxruntime", "openvino")
DEFAULT_PRECISIONS = ("fp32", "fp16", "int8")
TOP_KEYS = {"models", "backends", "precisions", "batch", "input_size", "data", "timing"}
MODEL_KEYS = {"name", "checkpoint", "artifact", "seed", "head", "label"}
DATA_KEYS = {"path", "sensor", "bands", "num_classes", "ignore_index", "calib_samples", "dataset", "root", "split",
             "modalities"}
DATASET_KEYS = {"dataset", "root", "split", "modalities", "bands", "calib_samples"}   # what a dataset [data] takes


@dataclass(frozen=True)
class ModelEntry:
    """One model of the matrix: a registry name (with an official checkpoint or seeded weights), a trtbench
    checkpoint, or an existing ONNX artifact."""

    label: str
    name: str | None = None
    checkpoint: str | None = None
    artifact: str | None = None
    seed: int = 0
    head: str = "fcn"

    @property
    def weights(self) -> str:
        """Where the weights come from, in words (reports and ``matrix.json``)."""
        if self.artifact:
            return f"artifact {self.artifact}"
        if self.checkpoint:
            return f"checkpoint {self.checkpoint}"
        return f"seeded random init (seed {self.seed})"


@dataclass(frozen=True)
class DataSpec:
    """The evaluation set: a labelled chip folder, and how its bands and classes are read. ``source`` says
    which dataset split the folder was written from, when it was (None: the user's own folder)."""

    path: str
    sensor: str
    bands: tuple[str, ...] | None
    num_classes: int
    ignore_index: int = -1
    calib_samples: int = 64
    source: str | None = None

    @property
    def images(self) -> list[Path]:
        return sorted((Path(self.path) / "images").glob("*.tif"))

    @property
    def masks(self) -> Path:
        return Path(self.path) / "masks"


@dataclass(frozen=True)
class TimingSpec:
    rounds: int = 3
    warmup: int = 1
    min_iters: int = 5
    min_time: float = 0.5
    spread_limit: float = 0.25
    threads: int = 0


@dataclass
class Matrix:
    models: list[ModelEntry]
    backends: list[str]
    precisions: list[str]
    batches: list[int]
    input_sizes: list[int]
    data: DataSpec
    timing: TimingSpec = field(default_factory=TimingSpec)
    notes: list[str] = field(default_factory=list)   # what the run decided because the matrix did not say

    def data_key(self) -> str:
        """Identity of the evaluation set (folder, band set, classes): part of every cell's id."""
        where = self.data.source or str(Path(self.data.path).resolve())   # a staged split: wherever OUT is
        record = {"path": where, "sensor": self.data.sensor,
                  "bands": self.data.bands, "num_classes": self.data.num_classes,
                  "ignore_index": self.data.ignore_index, "calib_samples": self.data.calib_samples,
                  "images": [p.name for p in self.data.images]}
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"models": [asdict(m) | {"weights": m.weights} for m in self.models], "backends": self.backends,
                "precisions": self.precisions, "batch": self.batches, "input_size": self.input_sizes,
                "data": asdict(self.data), "timing": asdict(self.timing), "notes": self.notes}


def load_matrix(path: str | Path, *, staging: Path | None = None) -> Matrix:
    """A validated matrix from a TOML file (paths relative to the file's folder); a dataset split named in
    ``[data]`` is written as a chip folder into ``staging``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"matrix file not found: {path}", "pass the path of a matrix .toml file, or use "
                         "--models and --data without a file")
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a valid TOML file ({exc})",
                         "fix the syntax (see `trtbench compare --help` for the schema)") from None
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise InputError(f"{path}: unknown key(s) {', '.join(unknown)}", f"use only: {', '.join(sorted(TOP_KEYS))}")
    base = path.parent
    data = raw.get("data")
    if not isinstance(data, dict) or ("path" in data) == ("dataset" in data):
        raise InputError(f"{path} has no [data] table with a path or a dataset (one of them)",
                         'add [data] with path = "chips/" (a folder of images/NAME.tif and masks/NAME.tif), or '
                         'dataset = "sen1floods11" and root = "..." (a layout of trtbench.data.published)')
    models = raw.get("models")
    if not isinstance(models, list) or not models:
        raise InputError(f"{path} names no models", 'add e.g. models = ["clay_base", "unet"]')
    return build_matrix([_model_entry(m, base, path) for m in models],
                        backends=_names(raw, "backends", DEFAULT_BACKENDS, path),
                        precisions=_names(raw, "precisions", DEFAULT_PRECISIONS, path),
                        batches=_ints(raw.get("batch", [1]), "batch", path),
                        input_sizes=_ints(raw.get("input_size", [224]), "input_size", path),
                        data=_data_table(data, base, path), timing=_timing(raw.get("timing", {}), path),
                        staging=staging)


def matrix_from_options(models: Sequence[str], data: str | None, *, backends: Sequence[str] = DEFAULT_BACKENDS,
                        precisions: Sequence[str] = DEFAULT_PRECISIONS, batches: Sequence[int] = (1,),
                        input_sizes: Sequence[int] = (224,), sensor: str | None = None,
                        num_classes: int | None = None, timing: TimingSpec = TimingSpec(),
                        dataset: Mapping[str, Any] | None = None, staging: Path | None = None) -> Matrix:
    """The matrix the options alone describe (``--models clay_base,unet --data chips/``, or ``--dataset
    sen1floods11 --data-root DIR``: ``dataset`` holds the dataset, root, split and modalities)."""
    entries = [_model_entry(m, Path("."), Path("--models")) for m in models]
    spec = dict(dataset) if dataset else {"path": data, "sensor": sensor, "num_classes": num_classes}
    return build_matrix(entries, backends=list(backends), precisions=list(precisions), batches=list(batches),
                        input_sizes=list(input_sizes), data=spec, timing=timing, staging=staging)


def build_matrix(models: list[ModelEntry], *, backends: list[str], precisions: list[str], batches: list[int],
                 input_sizes: list[int], data: Mapping[str, Any], timing: TimingSpec,
                 staging: Path | None = None) -> Matrix:
    """Check every axis against what trtbench knows and the data folder, before any work (a dataset split is
    written as a chip folder into ``staging`` first: the one work done before the checks end)."""
    from ..backends import BACKENDS, RUNTIME_PRECISIONS
    from ..export.precision import PRECISIONS

    if not models:
        raise InputError("no models given", "pass e.g. --models clay_base,unet")
    labels = [m.label for m in models]
    if len(set(labels)) != len(labels):
        raise InputError(f"models listed twice: {', '.join(sorted({x for x in labels if labels.count(x) > 1}))}",
                         'give repeated models distinct labels (label = "...")')
    _known(backends, BACKENDS, "backend")
    _known(precisions, tuple(dict.fromkeys((*PRECISIONS, *RUNTIME_PRECISIONS))), "precision")
    for name, values in (("batch size", batches), ("input size", input_sizes)):
        if not values or min(values) < 1:
            raise InputError(f"{name}s must be positive integers, got {values}", f"pass e.g. 1,8 as the {name}s")
    notes: list[str] = []
    for entry in models:
        _check_model(entry, input_sizes)
        if entry.name and not entry.checkpoint:
            notes.append(f"{entry.label}: no checkpoint given, seeded random weights (seed {entry.seed}): "
                         "speed and parity are meaningful, task accuracy is not")
    if data.get("dataset"):
        data = _staged(data, staging, notes)
    spec = _data_spec(data, input_sizes, notes)
    return Matrix(models, list(dict.fromkeys(backends)), list(dict.fromkeys(precisions)),
                  sorted(set(batches)), sorted(set(input_sizes)), spec, timing, notes)


def _model_entry(raw: Any, base: Path, source: Path) -> ModelEntry:
    if isinstance(raw, str):
        raw = {"artifact": raw} if raw.endswith(".onnx") else (
            {"checkpoint": raw} if raw.endswith(CHECKPOINT_SUFFIXES) else {"name": raw})
    if not isinstance(raw, dict):
        raise InputError(f"{source}: a model must be a name or a table, got {raw!r}",
                         'write e.g. "unet" or {name = "clay_v1_5", checkpoint = "clay.ckpt"}')
    unknown = sorted(set(raw) - MODEL_KEYS)
    if unknown:
        raise InputError(f"{source}: unknown model key(s) {', '.join(unknown)}",
                         f"use only: {', '.join(sorted(MODEL_KEYS))}")
    if not (raw.get("name") or raw.get("checkpoint") or raw.get("artifact")):
        raise InputError(f"{source}: model {raw} has no name, checkpoint or artifact", "give one of them")
    resolve = (lambda p: str(p if Path(p).is_absolute() else base / p)) if source.suffix == ".toml" else str
    checkpoint = resolve(raw["checkpoint"]) if raw.get("checkpoint") else None
    artifact = resolve(raw["artifact"]) if raw.get("artifact") else None
    file = Path(artifact or checkpoint or ".")
    label = raw.get("label") or raw.get("name") or (file.parent.name if file.stem == "best" else file.stem)
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise InputError(f"{source}: model {label} has seed {seed!r}, not an integer", "write e.g. seed = 0")
    return ModelEntry(str(label), raw.get("name"), checkpoint, artifact, seed, str(raw.get("head", "fcn")))


def _check_model(entry: ModelEntry, sizes: Sequence[int]) -> None:
    from ..models import list_models
    from ..models.registry import get_spec

    for path, what in ((entry.checkpoint, "checkpoint"), (entry.artifact, "artifact")):
        if path and not Path(path).is_file():
            raise InputError(f"{entry.label}: {what} not found: {path}", f"check the {what} path")
        if path and Path(path).stat().st_size == 0:
            raise InputError(f"{entry.label}: {what} {path} is empty (0 bytes)", f"pass a complete {what} file")
    if entry.artifact:
        from ..artifact import read_artifact_metadata

        patch = read_artifact_metadata(entry.artifact).patch_size   # a damaged or foreign file is refused
    elif entry.checkpoint and entry.name is None:
        from ..models.checkpoint import checkpoint_metadata, read_checkpoint

        stored = checkpoint_metadata(read_checkpoint(entry.checkpoint))
        if stored is None:
            raise InputError(f"{entry.checkpoint} carries no trtbench metadata",
                             "give an official checkpoint with its model: {name = \"clay_v1_5\", checkpoint = ...}")
        patch = stored.patch_size
    elif entry.name not in list_models():
        raise InputError(f"unknown model '{entry.name}'", f"use a registry name: {', '.join(list_models())}")
    else:
        patch = get_spec(entry.name).facts.patch_size
        if entry.checkpoint:
            from ..models.checkpoint import read_checkpoint

            read_checkpoint(entry.checkpoint)   # refused now if damaged, not in every cell
    bad = [s for s in sizes if s % patch]
    if bad:
        raise InputError(f"input size(s) {bad} are not multiples of {entry.label}'s patch size {patch}",
                         f"use multiples of {patch}, e.g. {max(patch, bad[0] // patch * patch)}")


def _data_spec(raw: Mapping[str, Any], sizes: Sequence[int], notes: list[str]) -> DataSpec:
    folder = Path(raw["path"])
    if not folder.is_dir():
        raise InputError(f"data folder not found: {folder}",
                         "pass a labelled chip folder holding images/NAME.tif and masks/NAME.tif")
    images = sorted((folder / "images").glob("*.tif"))
    if not images:
        raise InputError(f"{folder} holds no images/*.tif",
                         "put the chips in images/NAME.tif and their labels in masks/NAME.tif")
    missing = [p.name for p in images if not (folder / "masks" / p.name).is_file()]
    if missing:
        raise InputError(f"{folder}: no mask for {', '.join(missing[:5])}", f"add {folder}/masks/NAME.tif for "
                         "every images/NAME.tif (a label GeoTIFF of the same size)")
    sensor = raw.get("sensor") or _sensor_from_descriptions(images[0], notes)
    from ..sensors import get_sensor

    table = get_sensor(sensor)   # an unknown name is refused with the known tables
    bands = tuple(raw["bands"]) if raw.get("bands") else None
    if bands:
        table.select(bands)   # refuses unknown band names now
    ignore_index = int(raw.get("ignore_index", -1))
    top, edge = _scan_chips(images, folder / "masks", len(table.bands), ignore_index)
    if max(sizes) > edge:
        raise InputError(f"input size {max(sizes)} is larger than the smallest chip in {folder} ({edge} pixels)",
                         f"use input sizes up to {edge}, or larger chips")
    num_classes = raw.get("num_classes")
    if num_classes is None:
        num_classes = top + 1
        notes.append(f"classes: {num_classes}, from the largest mask value ({top}); set num_classes to override")
    elif top >= num_classes:
        raise InputError(f"the masks in {folder / 'masks'} hold class {top}, but num_classes is {num_classes}",
                         f"set num_classes to {top + 1} or more, or ignore_index to the value of unlabelled pixels")
    calib = int(raw.get("calib_samples", 64))
    if calib < 1:
        raise InputError(f"calib_samples must be >= 1, got {calib}", "set [data] calib_samples = 64")
    return DataSpec(str(folder), sensor, bands, int(num_classes), ignore_index, calib, raw.get("source"))


def _staged(raw: Mapping[str, Any], staging: Path | None, notes: list[str]) -> dict[str, Any]:
    """The ``[data]`` of a chip folder written from the dataset split ``raw`` names."""
    from .dataset_split import stage_split

    unknown = sorted(k for k in set(raw) - DATASET_KEYS if raw[k] is not None)
    if unknown:
        raise InputError(f"[data] names dataset {raw['dataset']} and also {', '.join(unknown)}",
                         "a dataset's sensor, classes and ignore index are its own: drop those keys, or give a "
                         "chip folder as path instead of the dataset")
    if not raw.get("root"):
        raise InputError(f"dataset {raw['dataset']} has no root", "pass --data-root (or root = \"...\" in [data]) "
                         "with the extracted dataset folder")
    if staging is None:
        raise InputError(f"no folder to write dataset {raw['dataset']}'s split into", "pass -o OUT")
    modalities = raw.get("modalities")
    staged = stage_split(str(raw["dataset"]), raw["root"], str(raw.get("split") or "test"),
                         [modalities] if isinstance(modalities, str) else modalities, staging)
    notes.append(f"evaluation set: {staged.source}, written as chips to {staged.folder}")
    return {"path": str(staged.folder), "sensor": staged.sensor, "bands": raw.get("bands"),
            "num_classes": staged.num_classes, "ignore_index": staged.ignore_index,
            "calib_samples": raw.get("calib_samples", 64), "source": staged.source}


def _scan_chips(images: Sequence[Path], masks: Path, band_count: int, ignore_index: int) -> tuple[int, int]:
    """Read every chip and mask once, before any work (a damaged file would otherwise fail every cell);
    returns the largest class value in the masks and the smallest chip edge."""
    top, edge = -1, 1 << 30
    for image in images:
        chip = read_chip(image)
        if chip.pixels.shape[0] != band_count:
            raise InputError(f"{image} has {chip.pixels.shape[0]} bands, the data sensor has {band_count}",
                             "pass the --sensor (or [data] sensor) these chips were written for")
        mask = read_chip(masks / image.name)
        if mask.pixels.shape[0] != 1 or mask.pixels.shape[1:] != chip.pixels.shape[1:]:
            raise InputError(f"mask {mask.path} has shape {mask.pixels.shape}, its image {image} is "
                             f"{chip.pixels.shape[1]}x{chip.pixels.shape[2]}", "pass a one-band label of the same size")
        values = mask.pixels[0].astype(np.float64)
        valid = values[(values != ignore_index) & ~np.isnan(values)]
        if mask.nodata is not None:
            valid = valid[valid != mask.nodata]
        if valid.size and (valid.min() < 0 or (valid != np.round(valid)).any()):
            raise InputError(f"mask {mask.path} holds values that are not classes 0..K-1 or ignore_index "
                             f"{ignore_index}: e.g. {valid[(valid < 0) | (valid != np.round(valid))][0]:g}",
                             "set ignore_index to the value of unlabelled pixels, or pass class masks")
        top = max(top, int(valid.max()) if valid.size else -1)
        edge = min(edge, *chip.pixels.shape[1:])
    if top < 0:
        raise InputError(f"the masks in {masks} hold no labelled pixel", "pass masks with class values 0..K-1")
    return top, edge


def _sensor_from_descriptions(image: Path, notes: list[str]) -> str:
    """The one sensor table whose bands the image's band descriptions name, in full."""
    from ..sensors import SENSORS, get_sensor

    with open_raster(image) as ds:
        names = [d for d in ds.descriptions if d]
        count = ds.count
    fits = [s for s in SENSORS if len(names) == count == len(get_sensor(s).bands)
            and all(any(b.matches(n) for b in get_sensor(s).bands) for n in names)]
    if len(fits) != 1:
        found = ", ".join(names) or "no band descriptions"
        raise InputError(f"cannot tell the sensor of {image} ({count} bands; {found})",
                         "pass --sensor NAME (or sensor = \"...\" in [data]); `trtbench models --json -` lists sensors")
    notes.append(f"data sensor: {fits[0]}, the one sensor table the band descriptions of {image.name} name")
    return fits[0]


def _known(values: Sequence[str], known: Sequence[str], what: str) -> None:
    if not values:
        raise InputError(f"no {what}s given", f"use any of: {', '.join(known)}")
    unknown = [v for v in values if v not in known]
    if unknown:
        raise InputError(f"unknown {what}(s): {', '.join(unknown)}", f"use any of: {', '.join(known)}")


def _names(raw: Mapping[str, Any], key: str, default: Sequence[str], path: Path) -> list[str]:
    value = raw.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{path}: {key} must be a list of names, got {value!r}", f'write e.g. {key} = ["{default[0]}"]')
    return value


def _ints(value: Any, key: str, path: Path) -> list[int]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        raise InputError(f"{path}: {key} must be positive integers, got {value!r}", f"write e.g. {key} = [1, 8]")
    return values


def _data_table(data: Mapping[str, Any], base: Path, path: Path) -> dict[str, Any]:
    unknown = sorted(set(data) - DATA_KEYS)
    if unknown:
        raise InputError(f"{path}: unknown [data] key(s) {', '.join(unknown)}", f"use only: {', '.join(sorted(DATA_KEYS))}")
    key = "path" if "path" in data else "root"
    if not isinstance(data.get(key), str):
        return dict(data)   # no root: refused with its fix when the dataset is read
    folder = Path(data[key])
    return dict(data) | {key: str(folder if folder.is_absolute() else base / folder)}


def _timing(raw: Any, path: Path) -> TimingSpec:
    fields = TimingSpec.__dataclass_fields__
    if not isinstance(raw, dict) or set(raw) - set(fields):
        raise InputError(f"{path}: [timing] takes only {', '.join(fields)}", "remove the other keys")
    try:
        spec = TimingSpec(**{k: type(getattr(TimingSpec, k))(v) for k, v in raw.items()})
    except (TypeError, ValueError):
        raise InputError(f"{path}: [timing] values must be numbers, got {raw}", "write e.g. rounds = 3") from None
    if spec.rounds < 1 or spec.min_iters < 1 or spec.warmup < 0 or spec.min_time < 0 or spec.spread_limit <= 0 \
            or spec.threads < 0:
        raise InputError(f"{path}: [timing] out of range: {spec}",
                         "use rounds >= 1, min_iters >= 1, warmup >= 0, min_time >= 0, spread_limit > 0, threads >= 0")
    return spec
