"""An exported artifact on disk: an ONNX file (metadata in its header) or a TensorRT engine (metadata in its
JSON sidecar). The one place that tells the two apart, above both readers, so neither imports the other."""

from __future__ import annotations

from pathlib import Path

from .engine_meta import is_engine_path, read_engine_metadata
from .metadata import ModelMetadata, read_onnx_metadata


def read_artifact_metadata(path: str | Path) -> ModelMetadata:
    """Metadata of any artifact: an ONNX file's ``metadata_props``, or a TensorRT engine's JSON sidecar."""
    return read_engine_metadata(path) if is_engine_path(path) else read_onnx_metadata(path)
