"""An exported artifact on disk: an ONNX file (metadata in its header; over 2 GB, its weights in an external
data file beside it) or a TensorRT engine (metadata in its JSON sidecar). The one place that tells the two
apart, above both readers, so neither imports the other."""

from __future__ import annotations

from pathlib import Path

from .engine_meta import is_engine_path, read_engine_metadata
from .external_data import check_onnx_files, onnx_sha256
from .fileio import file_sha256
from .metadata import ModelMetadata, read_onnx_metadata


def read_artifact_metadata(path: str | Path) -> ModelMetadata:
    """Metadata of any artifact: an ONNX file's ``metadata_props``, or a TensorRT engine's JSON sidecar.

    An ONNX model whose external data file is missing, empty or truncated is refused here, naming that
    file, since every command reads the metadata before it runs anything (the data is not read)."""
    if is_engine_path(path):
        return read_engine_metadata(path)
    meta = read_onnx_metadata(path)
    check_onnx_files(path)
    return meta


def artifact_sha256(path: str | Path) -> str:
    """The identity of an artifact: an engine's sha256, an ONNX model's with its external data
    (:func:`trtbench.external_data.onnx_sha256`; a one-file model's is its file's sha256)."""
    return file_sha256(path) if is_engine_path(path) else onnx_sha256(path)


def artifact_files(path: str | Path) -> list[Path]:
    """The files an artifact is made of on disk: the file itself, and an ONNX model's external data files."""
    return [Path(path)] if is_engine_path(path) else check_onnx_files(path)


def artifact_bytes(path: str | Path) -> int:
    """The artifact's size on disk: its file, plus an ONNX model's external data (what a deployment ships)."""
    return sum(f.stat().st_size for f in artifact_files(path))
