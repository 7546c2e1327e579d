"""``trtbench eval``: run an artifact and its PyTorch reference on real chips; report parity and task metrics."""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .acquisition import Acquisition, check_acquisition, reference_inputs
from .artifact import read_artifact_metadata
from .backends import Runner, TorchRunner, effective_precision, runner_for_artifact
from .bands import bind_bands, model_feed, reference_model
from .errors import InputError
from .metadata import ModelMetadata
from .metrics import TaskMetrics
from .parity import Parity, ParityAccumulator, tolerance_for
from .preprocess import check_batch, check_size, normalize
from .raster import ASSUMED_ORDER, BandMatch, expand_rasters, read_chip
from .stacks import read_input, stack_inputs


@dataclass
class Coverage:
    """How much of the data reached the comparison: tiling must leave no pixel out, and the report says so."""

    pixels: int = 0              # pixels in the chips
    evaluated: int = 0           # pixels inside at least one evaluated tile
    labelled: int = 0            # pixels with a label (not the ignore index or the label's nodata)
    labelled_evaluated: int = 0  # labelled pixels that reached the task metrics (input nodata excluded)

    @property
    def fraction(self) -> float:
        """Share of the labelled pixels evaluated (of all pixels, without labels)."""
        if self.labelled:
            return self.labelled_evaluated / self.labelled
        return self.evaluated / self.pixels if self.pixels else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"fraction": self.fraction}


@dataclass
class EvalResult:
    artifact: str
    metadata: dict[str, Any]
    backend: dict[str, Any]
    tiles: int
    tile_size: int
    parity: list[Parity]
    tolerance: float
    seconds: dict[str, float]
    coverage: Coverage
    band_match: str                # how the files' bands were found; "assumed order" when nothing named them
    task: dict[str, dict[str, float]] = field(default_factory=dict)  # {"reference": {...}, "artifact": {...}}
    warnings: list[str] = field(default_factory=list)
    acquisitions: list[dict[str, Any]] = field(default_factory=list)   # per sample: frame dates and centre (lat, lon)

    @property
    def passed(self) -> bool:
        return all(p.rel_max <= self.tolerance for p in self.parity)

    def task_delta(self) -> dict[str, float]:
        ref, art = self.task.get("reference", {}), self.task.get("artifact", {})
        return {k: art[k] - ref[k] for k in ref if k in art}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["parity"] = [asdict(p) | {"rel_max": p.rel_max} for p in self.parity]
        out["coverage"] = self.coverage.to_dict()
        out["passed"] = self.passed
        out["task_delta"] = self.task_delta()
        return out


@dataclass
class Tile:
    pixels: np.ndarray          # normalised [C, t, t]
    mask: np.ndarray            # nodata [t, t]
    target: np.ndarray | None   # [t, t] label for the metrics: ignore index at nodata and at pixels already evaluated
    acquisition: Acquisition | None = None   # the sample's dates and location (inputs of a TL artifact)


@dataclass
class ChipTiles:
    """One chip cut into tiles that together cover every pixel, with how its bands were matched."""

    tiles: list[Tile]
    match: BandMatch
    coverage: Coverage
    warnings: list[str]
    acquisition: Acquisition = Acquisition()


def evaluate(artifact: str | Path, data: Sequence[str | Path], *, labels: Sequence[str | Path] | None = None,
             reference: str | Path | None = None, backend: str = "onnxruntime", tile: int | None = None,
             batch_size: int = 4, data_bands: Sequence[str] | None = None, ignore_index: int = -1,
             tolerance: float | None = None, progress: bool = True, sensor: str | None = None,
             bands: Sequence[str] | None = None, wavelengths: Sequence[float] | None = None,
             strict_bands: bool = False, precision: str = "fp32", dates: Sequence[date] | None = None) -> EvalResult:
    """Compare ``artifact`` with its PyTorch reference on tiles covering every pixel of ``data``; a band-agnostic
    artifact runs on the band set chosen by ``sensor``/``bands``/``wavelengths`` (:func:`trtbench.bands.bind_bands`).
    ``strict_bands`` refuses files whose bands are not named rather than assume their order. ``precision`` is
    the runtime precision (bf16: see :func:`trtbench.backends.runner_for_artifact`); the default tolerance
    is then the looser of the artifact's and the runtime precision's. A ``data`` item may be a time series
    (``d1.tif,d2.tif``) or a modality (``s2=A.tif``): :func:`trtbench.stacks.stack_inputs`; ``dates`` (``--dates``)
    date the frames of every sample."""
    meta = bind_bands(read_artifact_metadata(artifact), sensor, bands, wavelengths)
    if batch_size < 1:
        raise InputError(f"batch size must be >= 1, got {batch_size}", "pass --batch-size 1 or more")
    with tempfile.TemporaryDirectory(prefix="trtbench-stacks-") as folder:   # series/modality VRTs, read below
        data = expand_rasters(stack_inputs(meta, [str(d) for d in data], folder, dates, data_bands, strict_bands))
        if not data:
            raise InputError("no data files given", "pass --data CHIP.tif (repeatable)")
        labels = _match_labels(data, labels) if labels else None
        artifact_runner = runner_for_artifact(artifact, backend, precision=precision)   # refuses before any work
        if tolerance is None:   # a bf16 runner (--precision bf16, or a name such as openvino-bf16) at bf16's
            tolerance = max(tolerance_for(meta.precision), tolerance_for(effective_precision(backend, precision)))
        chips = [chip_tiles(meta, path, tile, data_bands, strict_bands, labels[i] if labels else None, ignore_index,
                            dates) for i, path in enumerate(data)]
    tiles = [t for chip in chips for t in chip.tiles]
    coverage = Coverage(*(sum(getattr(c.coverage, f) for c in chips) for f in ("pixels", "evaluated", "labelled")))
    reference_runner = make_reference_runner(meta, reference)
    accumulators = {name: ParityAccumulator(name) for name in meta.outputs}
    metrics = {"reference": TaskMetrics.for_metadata(meta, ignore_index),
               "artifact": TaskMetrics.for_metadata(meta, ignore_index)}
    seconds = {"reference": 0.0, "artifact": 0.0}
    with reference_runner, artifact_runner:
        backend_info = artifact_runner.describe() | artifact_runner.selection_info() | {
            "precision": effective_precision(backend, precision)}
        for batch in tqdm(_batches(tiles, batch_size), disable=not progress, desc="eval", unit="batch"):
            pixels = np.stack([t.pixels for t in batch])
            check_batch(meta, pixels)
            feed = model_feed(meta, pixels, [t.acquisition for t in batch])
            outputs = {}
            for role, runner in (("reference", reference_runner), ("artifact", artifact_runner)):
                start = time.perf_counter()
                outputs[role] = runner.infer(feed)
                seconds[role] += time.perf_counter() - start
            for name, acc in accumulators.items():
                acc.update(outputs["reference"][name], outputs["artifact"][name])
            if metrics["reference"] is not None and batch[0].target is not None:
                target = np.stack([t.target for t in batch])
                coverage.labelled_evaluated += int((target != ignore_index).sum())
                for role in metrics:
                    metrics[role].update(outputs[role][meta.outputs[0]], target)
    task = {role: m.compute() for role, m in metrics.items() if m is not None and m.updated}
    notes = [note for chip in chips for note in chip.warnings]
    return EvalResult(str(artifact), asdict(meta), backend_info, len(tiles), tiles[0].pixels.shape[-1],
                      [a.result() for a in accumulators.values()], tolerance, seconds, coverage,
                      summarise_matches([c.match for c in chips]), task, notes,
                      [c.acquisition.to_dict() for c in chips])


def summarise_matches(matches: Sequence[BandMatch]) -> str:
    """One ``band_match`` for a report over several files: "assumed order" if any file's order was assumed."""
    sources = list(dict.fromkeys(m.source for m in matches))
    return ASSUMED_ORDER if ASSUMED_ORDER in sources else "; ".join(sources)


def normalised_tiles(meta: ModelMetadata, data: Sequence[str | Path], tile: int | None = None,
                     data_bands: Sequence[str] | None = None, strict_bands: bool = False) -> Iterator[np.ndarray]:
    """``[C, t, t]`` float32 tiles of every chip, band-selected and normalised exactly as ``eval`` feeds them.

    Public so other consumers of real chips (INT8 calibration, benchmarks) see the same inputs as ``eval``.
    A file whose band order is assumed raises :class:`AssumedBandOrderWarning`, since no report carries it.
    """
    yield from (pixels for pixels, _ in normalised_samples(meta, data, tile, data_bands, strict_bands))


def normalised_samples(meta: ModelMetadata, data: Sequence[str | Path], tile: int | None = None,
                       data_bands: Sequence[str] | None = None,
                       strict_bands: bool = False) -> Iterator[tuple[np.ndarray, Acquisition]]:
    """:func:`normalised_tiles` with each tile's acquisition (its chip's dates and centre: a TL artifact's
    ``temporal_coords`` and ``location_coords``)."""
    for path in data:
        chip = chip_tiles(meta, path, tile, data_bands, strict_bands)
        for message in chip.warnings:
            warnings.warn(AssumedBandOrderWarning(message), stacklevel=2)
        yield from ((t.pixels, chip.acquisition) for t in chip.tiles)


class AssumedBandOrderWarning(UserWarning):
    """A file does not name its bands, so they were read in an assumed order."""


def chip_tiles(meta: ModelMetadata, path: str | Path, tile: int | None, data_bands: Sequence[str] | None,
               strict_bands: bool = False, label_path: str | Path | None = None, ignore_index: int = -1,
               dates: Sequence[date] | None = None) -> ChipTiles:
    """Square tiles of the artifact's input size (or ``tile``; the chip's edge, rounded down to the patch, when
    smaller) covering every pixel of the chip: the last row and column of tiles are shifted back to end at
    the chip's edge, overlapping their neighbours, and a pixel seen twice is counted by the metrics once.
    A time series' chip is a multi-date raster (:func:`trtbench.stacks.read_input`); its acquisition is checked
    here, before any inference, where the artifact takes dates or a location."""
    chip = read_chip(path)
    view = read_input(meta, chip.pixels.shape[0], chip.descriptions, chip.colours, chip.tags,
                      (chip.crs, chip.transform, chip.pixels.shape[-1], chip.pixels.shape[-2]),
                      file_bands=data_bands, strict=strict_bands, dates=dates, path=path)
    check_acquisition(meta, view.acquisition, view.name)
    match = view.match
    pixels = chip.pixels[match.indices]
    label = _read_label(label_path, meta, pixels.shape[-2:], ignore_index) if label_path else None
    h, w = pixels.shape[-2:]
    p = meta.patch_size
    size = tile or meta.input_size
    size = min(size, (min(h, w) // p) * p) if min(h, w) < size else size
    check_size(meta, size, size)
    normalised, mask = normalize(meta, pixels, chip.nodata)
    notes = [match.warning] if match.warning else []
    if mask.all():
        notes.append(f"{path} holds no valid pixel (all nodata): its parity is measured on filler values "
                     "and it adds nothing to the task metrics")
    seen = np.zeros((h, w), dtype=bool)
    tiles = []
    for y in _starts(h, size):
        for x in _starts(w, size):
            window = (slice(y, y + size), slice(x, x + size))
            target = None
            if label is not None:
                target = np.where(mask[window] | seen[window], ignore_index, label[window])
            seen[window] = True
            tiles.append(Tile(normalised[(slice(None), *window)], mask[window], target, view.acquisition))
    labelled = 0 if label is None else int((label != ignore_index).sum())
    return ChipTiles(tiles, match, Coverage(h * w, int(seen.sum()), labelled), notes, view.acquisition)


def _starts(length: int, size: int) -> list[int]:
    """Tile origins along one axis: every ``size`` pixels, plus one flush with the end if a remainder is left."""
    starts = list(range(0, length - size + 1, size))
    return starts + [length - size] if starts[-1] + size < length else starts


def _match_labels(data: list[Path], labels: Sequence[str | Path]) -> list[Path]:
    """One label per data file: listed in the same order, or a folder holding labels named like the data."""
    if len(labels) == 1 and Path(labels[0]).is_dir():
        folder = Path(labels[0])
        matched = [folder / path.name for path in data]
        absent = [p.name for p in matched if not p.is_file()]
        if absent:
            raise InputError(f"label folder {folder} has no {', '.join(absent[:5])}",
                             "name each label like its data file (chips/A.tif -> masks/A.tif)")
        return matched
    if len(labels) != len(data):
        raise InputError(f"{len(data)} data file(s) but {len(labels)} label file(s)",
                         "pass one label per data file, or a folder of labels named like them")
    return [Path(p) for p in labels]


def _read_label(path: str | Path, meta: ModelMetadata, shape: tuple[int, int], ignore_index: int) -> np.ndarray:
    """The label as the metrics take it: class indices (int64) or regression values (float32), with the
    label's nodata and NaN set to ``ignore_index``. Class labels that are not whole numbers, or not one of
    the model's classes or the ignore index, are refused: torchmetrics would crash on the first and
    truncation would silently relabel the second."""
    chip = read_chip(path)
    if chip.pixels.shape[0] != 1 or chip.pixels.shape[-2:] != tuple(shape):
        raise InputError(f"label {path} has shape {chip.pixels.shape}, expected 1 x {shape[0]} x {shape[1]}",
                         "pass the single-band label that matches the data file")
    raw = chip.pixels[0]
    floating = np.issubdtype(raw.dtype, np.floating)
    if chip.nodata is None:
        missing = np.zeros(raw.shape, dtype=bool)
    else:
        missing = np.isnan(raw) if np.isnan(chip.nodata) else raw == chip.nodata
    if meta.task != "segmentation":
        return np.where(missing | (np.isnan(raw) if floating else False), ignore_index, raw).astype(np.float32)
    values = raw[~missing]
    fractional = np.unique(values[~np.isfinite(values) | (values != np.round(values))]) if floating else values[:0]
    if fractional.size:
        raise InputError(f"label {path} holds values that are not class numbers: {_listed(fractional)}",
                         f"pass a class mask of whole numbers 0..{meta.num_classes - 1} (and {ignore_index} for "
                         "unlabelled pixels), not probabilities or a label resampled with interpolation")
    found = np.unique(values).astype(np.int64)
    stray = found[((found < 0) | (found >= meta.num_classes)) & (found != ignore_index)]
    if stray.size:
        classes = ", ".join(meta.class_names or []) or f"{meta.num_classes} classes"
        raise InputError(f"label {path} holds values outside the model's classes 0..{meta.num_classes - 1} "
                         f"({classes}) and the ignore index {ignore_index}: {_listed(stray)}",
                         f"pass --ignore-index V if V marks unlabelled pixels, or a label made for these "
                         f"{meta.num_classes} classes")
    label = raw.astype(np.int64)
    label[missing] = ignore_index
    return label


def _listed(values: np.ndarray, most: int = 10) -> str:
    shown = ", ".join(f"{v:g}" for v in values[:most].tolist())
    return shown + (f" ... ({values.size} distinct values)" if values.size > most else "")


def _batches(tiles: list[Tile], size: int) -> list[list[Tile]]:
    """Up to ``size`` consecutive tiles of one shape per batch (chips smaller than the tile give smaller tiles)."""
    batches: list[list[Tile]] = []
    for tile in tiles:
        if not batches or len(batches[-1]) == size or batches[-1][0].pixels.shape != tile.pixels.shape:
            batches.append([])
        batches[-1].append(tile)
    return batches


def make_reference_runner(meta: ModelMetadata, checkpoint: str | Path | None = None) -> Runner:
    """A torch runner for the artifact's PyTorch reference on meta's bands (rebuilt lazily on activate).

    The reference takes pixels (and a TL artifact's dates and location): its band set (wavelengths, GSD) is built in.
    """
    return TorchRunner(lambda: reference_model(meta, checkpoint), reference_inputs(meta), meta.outputs)

