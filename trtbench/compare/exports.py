"""Exports of the comparison, cached by content in ``OUT/artifacts/``.

An artifact's file name is a hash of what decides its bytes: the model's identity (registry name, head,
band set, classes, and the checkpoint's sha256 or the seed; or the sha256 of a given checkpoint or
artifact), the precision, the ONNX opset of the family's export recipe, the input size and, for INT8,
the calibration set. Equal requests therefore share one file across cells, reruns and Dask workers,
and a changed checkpoint gets a new file instead of a stale one. Files are written to a temporary name
and renamed when complete, so two workers exporting the same artifact at once are harmless.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from torch import nn

from ..artifact import artifact_sha256
from ..external_data import check_onnx_files
from ..fileio import file_sha256
from .matrix import DataSpec, ModelEntry

ARTIFACTS_FOLDER = "artifacts"


def model_key(entry: ModelEntry, data: DataSpec) -> str:
    """What makes the model this model: its source, weights, band set and classes (hashed)."""
    record: dict[str, object] = {"data_sensor": data.sensor, "bands": data.bands, "classes": data.num_classes}
    if entry.artifact:
        record = {"artifact_sha256": artifact_sha256(entry.artifact)}   # with its external data, if any
    elif entry.checkpoint and not entry.name:
        record = {"checkpoint_sha256": file_sha256(entry.checkpoint)}
    else:
        record |= {"name": entry.name, "head": entry.head,
                   "weights": file_sha256(entry.checkpoint) if entry.checkpoint else f"seed {entry.seed}"}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


def build_source(entry: ModelEntry, data: DataSpec, size: int) -> nn.Module:
    """The PyTorch model of a registry name or a trtbench checkpoint, bound to the data's bands and classes."""
    from ..models import create_model, model_from_checkpoint
    from ..models.registry import ENCODER, get_spec

    if entry.name is None:
        return model_from_checkpoint(entry.checkpoint)
    encoder = get_spec(entry.name).facts.kind == ENCODER
    return create_model(entry.name, checkpoint=entry.checkpoint, sensor=data.sensor, bands=data.bands,
                        task="segmentation", head=entry.head if encoder else None, num_classes=data.num_classes,
                        seed=entry.seed, input_size=size)


def artifact_path(out_dir: Path, entry: ModelEntry, data: DataSpec, precision: str, size: int, key: str) -> Path:
    """Where the artifact of this request lives (whether or not it exists yet)."""
    from ..export.recipes import load_recipe
    from ..models.registry import get_spec

    opset = load_recipe(get_spec(entry.name).family).opset if entry.name else None
    calib = [p.name for p in data.images] + [data.calib_samples] if precision == "int8" else None
    digest = hashlib.sha256(json.dumps([key, precision, opset, size, calib]).encode()).hexdigest()[:16]
    return out_dir / ARTIFACTS_FOLDER / f"{entry.label.replace('/', '_')}-{precision}-s{size}-{digest}.onnx"


def ensure_artifact(out_dir: Path, entry: ModelEntry, data: DataSpec, precision: str, size: int,
                    key: str) -> Path:
    """The ONNX artifact at ``precision``: from the cache, else exported (and converted) now."""
    if entry.artifact and precision == _artifact_precision(entry):
        return Path(entry.artifact)
    path = artifact_path(out_dir, entry, data, precision, size, key)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=path.parent) as work:
        tmp = Path(work) / path.name
        if precision == "fp32":
            from ..export import export_onnx

            export_onnx(build_source(entry, data, size), tmp)
        else:
            from ..export.precision import convert_precision

            fp32 = ensure_artifact(out_dir, entry, data, "fp32", size, key)
            convert_precision(fp32, tmp, precision, calib_data=data.images if precision == "int8" else (),
                              calib_samples=data.calib_samples, tile=size)
        for member in [*check_onnx_files(tmp)[1:], tmp]:   # a model over 2 GB: its data file first
            os.replace(member, path.parent / member.name)
    return path


def ensure_engine(onnx: Path, precision: str, batch: int, size: int, data: DataSpec) -> Path:
    """A TensorRT engine of the fp32 ``onnx`` at ``precision``, one profile up to ``batch`` at ``size``
    (only on a machine where TensorRT runs; the caller has checked that)."""
    from ..artifact import read_artifact_metadata
    from ..export.pipeline import ExportRequest, export_artifact

    engine = onnx.with_name(f"{onnx.stem}-{precision}-b{batch}.engine")
    if engine.is_file():
        return engine
    channels = read_artifact_metadata(onnx).channels   # a time series: every frame's bands
    shape = f"{channels}x{size}x{size}"
    request = ExportRequest("engine", precision, shapes=f"min=1x{shape},opt={batch}x{shape},max={batch}x{shape}",
                            calib_data=data.images if precision == "int8" else (), calib_samples=data.calib_samples)
    export_artifact(onnx, engine, request)
    return engine


def artifact_unavailable_reason(entry: ModelEntry, precision: str) -> str | None:
    """Why a given artifact cannot provide ``precision`` (precisions are converted from an fp32 file only)."""
    if not entry.artifact:
        return None
    have = _artifact_precision(entry)
    if precision == have or have == "fp32":
        return None
    return f"{entry.artifact} is {have}: only fp32 artifacts are converted to other precisions"


def _artifact_precision(entry: ModelEntry) -> str:
    from ..artifact import read_artifact_metadata

    return read_artifact_metadata(entry.artifact).precision
