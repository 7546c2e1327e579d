"""Helpers shared by the engine and TensorRT-runner tests: fabricated engines and the GPU skip."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from trtbench.engine_meta import EngineSidecar, RuntimeInfo, write_sidecar
from trtbench.export.shapes import default_profile
from trtbench.fileio import file_sha256
from trtbench.metadata import read_onnx_metadata

BUILT = RuntimeInfo("10.15.1.29", "NVIDIA L4", "8.9")


def tensorrt_unusable_reason() -> str | None:
    from trtbench.doctor import tensorrt_status

    status = tensorrt_status()
    return None if status["available"] else status["reason"]


gpu = pytest.mark.skipif(tensorrt_unusable_reason() is not None,
                         reason=f"needs TensorRT and a GPU: {tensorrt_unusable_reason()}")


def fabricate_engine(tmp_path: Path, onnx_path: Path, runtime: RuntimeInfo = BUILT,
                     payload: bytes = b"\x7fplan" * 200) -> Path:
    """An engine-shaped file with a sidecar as `build_engine` writes it (the bytes are not a real plan)."""
    engine = tmp_path / "model.engine"
    engine.write_bytes(payload)
    meta = read_onnx_metadata(onnx_path)
    write_sidecar(engine, EngineSidecar(
        runtime=runtime, precision="fp16", profiles=[{"pixels": default_profile(meta).to_dict()}],
        source_onnx=str(onnx_path), source_onnx_sha256=file_sha256(onnx_path), engine_bytes=len(payload),
        engine_sha256=file_sha256(engine), metadata=dataclasses.asdict(meta)))
    return engine
