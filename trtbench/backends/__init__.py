"""Runners: one interface (activate / infer / deactivate), one implementation per backend."""

from __future__ import annotations

from pathlib import Path

from ..errors import TrtbenchError
from .base import Runner
from .onnxruntime_runner import OnnxRuntimeRunner, SessionFromOnnx
from .torch_runner import TorchRunner

BACKENDS = ("torch", "onnxruntime")


def runner_for_artifact(path: str | Path, backend: str = "onnxruntime", providers: list[str] | None = None,
                        threads: int | None = None) -> Runner:
    """A runner for an exported artifact on the named backend."""
    if backend == "onnxruntime":
        return OnnxRuntimeRunner(SessionFromOnnx(path, providers, threads))
    raise TrtbenchError(f"backend '{backend}' cannot run {Path(path).name}", f"use one of: {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "OnnxRuntimeRunner", "Runner", "SessionFromOnnx", "TorchRunner", "runner_for_artifact"]
