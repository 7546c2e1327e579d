"""Helpers shared by the engine and TensorRT-runner tests: fabricated engines and the GPU skip."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trtbench.engine_meta import EngineSidecar, RuntimeInfo, write_sidecar
from trtbench.export.shapes import default_profile
from trtbench.fileio import file_sha256
from trtbench.metadata import read_onnx_metadata

BUILT = RuntimeInfo("10.15.1.29", "NVIDIA L4", "8.9")


def tensorrt_unusable_reason() -> str | None:
    """Why TensorRT cannot build here (no package, no GPU, or a version outside the supported range)."""
    from trtbench.doctor import tensorrt_status
    from trtbench.errors import BackendUnavailable
    from trtbench.export.engine import check_tensorrt_version

    status = tensorrt_status()
    if not status["available"]:
        return status["reason"]
    try:
        check_tensorrt_version(status["version"])
    except BackendUnavailable as exc:
        return exc.problem
    return None


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


def run_isolated(code: str, timeout: int = 600) -> str:
    """Run ``code`` in a fresh Python process (tests/ importable) and return its stdout; fail with its stderr.

    TensorRT's plugin registry is process-wide and a DynamicPatchEmbed creator cannot be registered twice
    (C++ library and Python AOT plugin share one name). Every GPU test that registers a plugin does it in its
    own process, so each one runs whatever ran before it, and a test without a plugin really has none.
    """
    tests = str(Path(__file__).resolve().parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=timeout)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done.stdout
