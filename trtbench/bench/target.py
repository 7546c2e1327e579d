"""What is benchmarked: an exported ONNX file, or a model exported on the fly; and the inputs fed to it."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from torch import nn

from ..acquisition import Acquisition, reference_inputs
from ..artifact import read_artifact_metadata
from ..bands import bind_bands, model_feed, reference_model
from ..engine_meta import is_engine_path
from ..errors import InputError, TrtbenchError
from ..metadata import ModelMetadata
from ..preprocess import check_size

CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".safetensors")


@dataclass
class BenchTarget:
    """The artifacts to run, their metadata, and the PyTorch reference model they must agree with."""

    label: str
    onnx: Path | None
    metadata: ModelMetadata
    model: nn.Module   # the reference (band embedding regenerated per call), eval mode
    engine: Path | None = None   # a TensorRT engine, for the tensorrt backend


@dataclass(frozen=True)
class ModelSpec:
    """How to build a model that is not yet exported (the `trtbench export` options)."""

    variant: str | None = None
    checkpoint: str | None = None
    random_init: bool = False
    seed: int = 0
    sensor: str | None = None   # None: the model's own table (a band-agnostic artifact: its recorded one)
    bands: Sequence[str] | None = None
    task: str = "embedding"
    head: str | None = "fcn"
    num_classes: int | None = None
    input_size: int = 256


@contextlib.contextmanager
def open_target(target: str, spec: ModelSpec = ModelSpec(), reference: str | None = None,
                engine: str | None = None) -> Iterator[BenchTarget]:
    """``target`` is an artifact (.onnx, or a TensorRT engine; reference rebuilt from its metadata, or
    from ``reference``), a trtbench checkpoint, or a model name (``clay`` + ``spec.variant``, or a
    registry name) exported into a temporary folder that is removed afterwards. ``engine`` adds a
    TensorRT engine of the same model. A band-agnostic artifact is benched on ``spec``'s sensor and bands."""
    engine_path = _existing(engine) if engine else None
    if is_artifact(target):
        path = _existing(target)
        meta = read_artifact_metadata(path)
        if meta.band_mode == "dynamic":
            meta = bind_bands(meta, spec.sensor, spec.bands)
        onnx = None if is_engine_path(path) else path
        yield BenchTarget(path.name, onnx, meta, reference_model(meta, reference).eval(),
                          path if onnx is None else engine_path)
        return
    model = build_model(target, spec)
    with tempfile.TemporaryDirectory(prefix="trtbench-bench-") as tmp:
        from ..export import export_onnx

        path = export_onnx(model, Path(tmp) / f"{model.metadata.model}.onnx")
        yield BenchTarget(model.metadata.model, path, model.metadata, model, engine_path)


def is_artifact(target: str) -> bool:
    return target.endswith(".onnx") or is_engine_path(target)


def _existing(path: str | Path) -> Path:
    if not Path(path).is_file():
        raise InputError(f"artifact not found: {path}", "check the path, or pass a model name such as `clay`")
    return Path(path)


def build_model(target: str, spec: ModelSpec, weights_matter: bool = True) -> nn.Module:
    """A registry model from a name and the export options, or a model from a trtbench checkpoint.

    Where the answer depends on the weights (``weights_matter``), they must be named: a checkpoint, or
    ``--random-init`` explicitly; otherwise (FLOPs) seeded random weights stand in."""
    from ..models import create_model, model_from_checkpoint, resolve_model_name

    if Path(target).suffix in CHECKPOINT_SUFFIXES:
        if spec.random_init or spec.checkpoint:
            raise TrtbenchError("a trtbench checkpoint carries its own weights", "drop --random-init/--checkpoint")
        return model_from_checkpoint(target)
    if spec.checkpoint and spec.random_init:
        raise TrtbenchError("both --checkpoint and --random-init given", "pass one of them")
    if weights_matter and not (spec.checkpoint or spec.random_init):
        raise TrtbenchError("say where the weights come from", "pass exactly one of --checkpoint or --random-init")
    head = spec.head if spec.task != "embedding" else None
    return create_model(resolve_model_name(target, spec.variant), checkpoint=spec.checkpoint, sensor=spec.sensor,
                        bands=spec.bands, task=spec.task, head=head, num_classes=spec.num_classes, seed=spec.seed,
                        input_size=spec.input_size)


def make_feeds(meta: ModelMetadata, batches: Sequence[int], size: int, data: str | Path | None = None,
               data_bands: Sequence[str] | None = None, seed: int = 0,
               strict_bands: bool = False, dates: Sequence[date] | None = None) -> list[dict[str, np.ndarray]]:
    """One normalised input per batch size: real tiles from ``data`` (cycled to fill the largest batch; a time
    series or modality set as the VRT :func:`trtbench.stacks.stack_inputs` writes), or seeded standard-normal
    pixels (the distribution normalised inputs have) of ``meta.channels`` channels. A TL artifact's dates and
    location come from ``data`` (``dates`` wins), else are :data:`SYNTHETIC_ACQUISITION` (values do not change
    the timing). How ``data``'s bands are matched is :func:`trtbench.stacks.input_view_of`'s answer, which the
    caller records."""
    if not batches or min(batches) < 1:
        raise InputError(f"batch sizes must be >= 1, got {list(batches)}", "pass e.g. --batch 1,8")
    check_size(meta, size, size)
    largest = max(batches)
    if data is None:
        pixels = np.random.default_rng(seed).standard_normal((largest, meta.channels, size, size), np.float32)
        acquisition = synthetic_acquisition(meta)
    else:
        tiles, acquisition = data_tiles(meta, data, size, data_bands, strict_bands, dates)
        pixels = np.stack([tiles[i % len(tiles)] for i in range(largest)])
    return [model_feed(meta, np.ascontiguousarray(pixels[:b]), acquisition) for b in batches]


def random_source(meta: ModelMetadata) -> str:
    """What random input is, as the report records it (with a TL artifact's synthetic dates and location)."""
    if len(reference_inputs(meta)) == 1:
        return "random normal"
    return f"random normal; synthetic acquisition {synthetic_acquisition(meta).to_dict()}"


def synthetic_acquisition(meta: ModelMetadata) -> Acquisition:
    """Dates and a location for random input: the frames a month apart from 1 June 2020, at 0° N 0° E."""
    return Acquisition(tuple(date(2020, 6, 1) + timedelta(days=30 * t) for t in range(meta.num_frames)), (0.0, 0.0))


def data_tiles(meta: ModelMetadata, data: str | Path, size: int, data_bands: Sequence[str] | None,
               strict_bands: bool = False, dates: Sequence[date] | None = None) -> tuple[list[np.ndarray], Acquisition]:
    """Normalised ``size x size`` tiles of a GeoTIFF, prepared exactly as ``trtbench eval`` prepares them, and
    its acquisition."""
    from ..evaluate import chip_tiles

    chip = chip_tiles(meta, data, size, data_bands, strict_bands, dates=dates)
    tiles = [t.pixels for t in chip.tiles]
    if tiles[0].shape[-1] != size:
        raise InputError(f"{data} is smaller than the benchmark size {size}",
                         f"pass --size {tiles[0].shape[-1]} or a larger file")
    return tiles, chip.acquisition
