"""``trtbench eval``: run an artifact and its PyTorch reference on real chips; report parity and task metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .backends import Runner, TorchRunner, runner_for_artifact
from .bands import bind_bands, model_feed, reference_model
from .errors import InputError
from .metadata import ModelMetadata, read_artifact_metadata
from .metrics import TaskMetrics
from .parity import Parity, ParityAccumulator
from .preprocess import check_batch, check_size, normalize
from .raster import band_indices, expand_rasters, read_chip

# Default parity tolerance (max |diff| / max |reference|) by artifact precision: fp32 must match the
# reference to rounding; fp16 and int8 are judged by their expected quantisation error.
DEFAULT_TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2, "int8": 1e-1}


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
    task: dict[str, dict[str, float]] = field(default_factory=dict)  # {"reference": {...}, "artifact": {...}}

    @property
    def passed(self) -> bool:
        return all(p.rel_max <= self.tolerance for p in self.parity)

    def task_delta(self) -> dict[str, float]:
        ref, art = self.task.get("reference", {}), self.task.get("artifact", {})
        return {k: art[k] - ref[k] for k in ref if k in art}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["parity"] = [asdict(p) | {"rel_max": p.rel_max} for p in self.parity]
        out["passed"] = self.passed
        out["task_delta"] = self.task_delta()
        return out


@dataclass
class Tile:
    pixels: np.ndarray          # normalised [C, t, t]
    mask: np.ndarray            # nodata [t, t]
    label: np.ndarray | None    # [t, t]


def evaluate(artifact: str | Path, data: Sequence[str | Path], *, labels: Sequence[str | Path] | None = None,
             reference: str | Path | None = None, backend: str = "onnxruntime", tile: int | None = None,
             batch_size: int = 4, data_bands: Sequence[str] | None = None, ignore_index: int = -1,
             tolerance: float | None = None, progress: bool = True, sensor: str | None = None,
             bands: Sequence[str] | None = None, wavelengths: Sequence[float] | None = None) -> EvalResult:
    """Compare ``artifact`` with its PyTorch reference on tiles of ``data``; a band-agnostic artifact runs on
    the band set chosen by ``sensor``/``bands``/``wavelengths`` (:func:`trtbench.bands.bind_bands`)."""
    meta = bind_bands(read_artifact_metadata(artifact), sensor, bands, wavelengths)
    data = expand_rasters(data)
    labels = _match_labels(data, labels) if labels else None
    tolerance = DEFAULT_TOLERANCE.get(meta.precision, DEFAULT_TOLERANCE["fp32"]) if tolerance is None else tolerance
    tiles = list(_tiles(meta, data, labels, tile, data_bands, ignore_index))
    tile_size = tiles[0].pixels.shape[-1]
    reference_runner = make_reference_runner(meta, reference)
    artifact_runner = runner_for_artifact(artifact, backend)
    accumulators = {name: ParityAccumulator(name) for name in meta.outputs}
    metrics = {"reference": TaskMetrics.for_metadata(meta, ignore_index),
               "artifact": TaskMetrics.for_metadata(meta, ignore_index)}
    seconds = {"reference": 0.0, "artifact": 0.0}
    with reference_runner, artifact_runner:
        backend_info = artifact_runner.describe()
        for batch in tqdm(_batches(tiles, batch_size), total=-(-len(tiles) // batch_size), disable=not progress,
                          desc="eval", unit="batch"):
            pixels = np.stack([t.pixels for t in batch])
            check_batch(meta, pixels)
            feed = model_feed(meta, pixels)
            outputs = {}
            for role, runner in (("reference", reference_runner), ("artifact", artifact_runner)):
                start = time.perf_counter()
                outputs[role] = runner.infer(feed)
                seconds[role] += time.perf_counter() - start
            for name, acc in accumulators.items():
                acc.update(outputs["reference"][name], outputs["artifact"][name])
            if metrics["reference"] is not None and batch[0].label is not None:
                target = np.stack([np.where(t.mask, ignore_index, t.label) for t in batch])
                for role in metrics:
                    metrics[role].update(outputs[role][meta.outputs[0]], target)
    task = {role: m.compute() for role, m in metrics.items() if m is not None and m.updated}
    return EvalResult(str(artifact), asdict(meta), backend_info, len(tiles), tile_size,
                      [a.result() for a in accumulators.values()], tolerance, seconds, task)


def normalised_tiles(meta: ModelMetadata, data: Sequence[str | Path], tile: int | None = None,
                     data_bands: Sequence[str] | None = None) -> Iterator[np.ndarray]:
    """``[C, t, t]`` float32 tiles of every chip, band-selected and normalised exactly as ``eval`` feeds them.

    Public so other consumers of real chips (INT8 calibration, benchmarks) see the same inputs as ``eval``.
    """
    return (t.pixels for t in _tiles(meta, data, None, tile, data_bands, ignore_index=-1))


def _tiles(meta: ModelMetadata, data: Sequence[str | Path], labels: Sequence[str | Path] | None,
           tile: int | None, data_bands: Sequence[str] | None, ignore_index: int) -> Iterator[Tile]:
    """Non-overlapping square tiles of every chip (a chip smaller than the tile gives one smaller tile)."""
    if not data:
        raise InputError("no data files given", "pass --data CHIP.tif (repeatable)")
    for i, path in enumerate(data):
        chip = read_chip(path)
        pixels = chip.pixels[band_indices(meta, chip.pixels.shape[0], chip.descriptions, data_bands)]
        label = _read_label(labels[i], pixels.shape[-2:], ignore_index) if labels else None
        h, w = pixels.shape[-2:]
        p = meta.patch_size
        size = tile or meta.input_size
        size = min(size, (min(h, w) // p) * p) if min(h, w) < size else size
        check_size(meta, size, size)
        normalised, mask = normalize(meta, pixels, chip.nodata)
        for y in range(0, h - size + 1, size):
            for x in range(0, w - size + 1, size):
                window = (slice(y, y + size), slice(x, x + size))
                yield Tile(normalised[(slice(None), *window)], mask[window],
                           None if label is None else label[window])


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


def _read_label(path: str | Path, shape: tuple[int, int], ignore_index: int) -> np.ndarray:
    chip = read_chip(path)
    if chip.pixels.shape[0] != 1 or chip.pixels.shape[-2:] != tuple(shape):
        raise InputError(f"label {path} has shape {chip.pixels.shape}, expected 1 x {shape[0]} x {shape[1]}",
                         "pass the single-band label that matches the data file")
    label = chip.pixels[0].astype(np.int64)
    if chip.nodata is not None and not np.isnan(chip.nodata):
        label[chip.pixels[0] == chip.nodata] = ignore_index
    return label


def _batches(tiles: list[Tile], size: int) -> Iterator[list[Tile]]:
    if size < 1:
        raise InputError(f"batch size must be >= 1, got {size}", "pass --batch-size 1 or more")
    for start in range(0, len(tiles), size):
        yield tiles[start:start + size]


def make_reference_runner(meta: ModelMetadata, checkpoint: str | Path | None = None) -> Runner:
    """A torch runner for the artifact's PyTorch reference on meta's bands (rebuilt lazily on activate).

    The reference takes pixels only: its band set (wavelengths, GSD) is built in.
    """
    return TorchRunner(lambda: reference_model(meta, checkpoint), meta.inputs[:1], meta.outputs)

