"""ONNX Runtime, with execution providers chosen automatically: TensorRT EP > CUDA EP > CPU."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendUnavailable, TrtbenchError
from ..external_data import needs_external_data, save_onnx
from .base import Runner

PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
ALIASES = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}


def choose_providers(requested: Sequence[str] | None = None) -> list[str]:
    """The providers to use, best first. ``requested`` (names or aliases) must all be available."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if not requested:
        return [p for p in PREFERENCE if p in available]
    chosen = [ALIASES.get(r.lower(), r) for r in requested]
    missing = [p for p in chosen if p not in available]
    if missing:
        raise BackendUnavailable(f"ONNX Runtime provider(s) not available here: {', '.join(missing)}",
                                 f"available: {', '.join(available)} (GPU providers need onnxruntime-gpu and a GPU)")
    return chosen


class SessionFromOnnx:
    """Loader: an ``InferenceSession`` for an ONNX file, created on call.

    ``fusions``: first rewrite the graph with ``onnxruntime.transformers.optimizer`` (model type "vit":
    attention, SkipLayerNormalization, BiasGelu fusions into ORT's contrib ops), in memory, so the
    artifact on disk stays the portable one TensorRT and OpenVINO read; the fused-operator counts are
    reported by ``describe()``.

    The session is created from the file's path, never its bytes, so ONNX Runtime finds an external data
    file (a model over 2 GB) beside it; a fused graph over 2 GB is written as such a pair in a temporary
    folder kept for the loader's lifetime (protobuf cannot serialize it to bytes).
    """

    def __init__(self, path: str | Path, providers: Sequence[str] | None = None, threads: int | None = None,
                 fusions: bool = False):
        self.path = Path(path)
        self.providers = choose_providers(providers)
        self.threads = threads
        self.fusions = fusions
        self.fused_operators: dict[str, int] = {}
        self._fused_dir: tempfile.TemporaryDirectory | None = None

    def __call__(self):
        import onnxruntime as ort

        if not self.path.is_file():
            raise TrtbenchError(f"ONNX file not found: {self.path}", "check the path")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            options.intra_op_num_threads = self.threads
        model: str | bytes = str(self.path)
        if self.fusions:
            model = self.fused_graph()
        return ort.InferenceSession(model, options, providers=self.providers)

    def fused_graph(self) -> bytes | str:
        """The artifact after ONNX Runtime's transformer fusions, serialized (heads and width auto-detected);
        over 2 GB, the path of the fused model written with external data."""
        import logging

        from onnxruntime.transformers import optimizer

        quiet = logging.getLogger("onnxruntime.transformers.optimizer")
        level, quiet.level = quiet.level, logging.ERROR   # it warns that trtbench is not "pytorch" as producer
        try:
            fused = optimizer.optimize_model(str(self.path), model_type="vit", num_heads=0, hidden_size=0,
                                             opt_level=0, use_gpu=False)
        finally:
            quiet.setLevel(level)
        self.fused_operators = {op: n for op, n in fused.get_fused_operator_statistics().items() if n}
        if not needs_external_data(fused.model):
            return fused.model.SerializeToString()
        self._fused_dir = tempfile.TemporaryDirectory(prefix="trtbench-fused-")
        return str(save_onnx(fused.model, Path(self._fused_dir.name) / "fused.onnx", external=True, check=False))


class OnnxRuntimeRunner(Runner):
    name = "onnxruntime"

    def _infer(self, session, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, {k: np.ascontiguousarray(v) for k, v in feed.items()})))

    def describe(self) -> dict[str, Any]:
        import onnxruntime as ort

        info: dict[str, Any] = {"backend": self.name, "onnxruntime": ort.__version__}
        if self._backend is not None:
            info["providers"] = self._backend.get_providers()
        fused = getattr(self._loader, "fused_operators", None)
        if getattr(self._loader, "fusions", False):
            info["transformer_fusions"] = fused
        return info
