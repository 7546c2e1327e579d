"""OpenVINO on the CPU, reading the exported ONNX file directly (no IR conversion step).

Two settings matter for honest numbers. OpenVINO's CPU plugin silently runs in bf16 on CPUs that
support it (AVX512-BF16, AMX), so the inference precision is pinned to the artifact's precision
(fp32 unless asked otherwise) and reported; and it is fastest on static shapes, so by default the
dynamic ONNX graph is reshaped to each new input shape and compiled once for it, as OpenVINO's
performance guide recommends.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendUnavailable, TrtbenchError
from .base import Runner

PRECISIONS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
MAX_COMPILED_SHAPES = 4  # recompiling per shape is cheap next to a benchmark, but memory is not free


def import_openvino():
    """The ``openvino`` module, or :class:`BackendUnavailable` saying how to install it."""
    try:
        import openvino
    except ImportError as exc:
        raise BackendUnavailable(f"OpenVINO is not importable ({exc})", "pip install 'trtbench[cpu]'") from None
    return openvino


class OpenVinoModel:
    """An ONNX model read by OpenVINO, compiled for the CPU once per input shape (or once, dynamic)."""

    def __init__(self, core: Any, model: Any, config: dict[str, Any], static_shapes: bool):
        self.core = core
        self.model = model
        self.config = config
        self.static_shapes = static_shapes
        self._compiled: dict[tuple, Any] = {}   # shape key -> (compiled model, infer request)

    def request(self, feed: Mapping[str, np.ndarray]) -> Any:
        key = tuple((name, feed[name].shape) for name in sorted(feed)) if self.static_shapes else ()
        if key not in self._compiled:
            if len(self._compiled) >= MAX_COMPILED_SHAPES:
                self._compiled.pop(next(iter(self._compiled)))
            model = self.model
            if self.static_shapes:
                model = model.clone()
                model.reshape({name: list(shape) for name, shape in key})
            compiled = self.core.compile_model(model, "CPU", self.config)
            self._compiled[key] = (compiled, compiled.create_infer_request())
        return self._compiled[key]

    def properties(self) -> dict[str, Any]:
        """What the CPU plugin actually chose, read back from a compiled model."""
        if not self._compiled:
            return {}
        compiled = next(iter(self._compiled.values()))[0]
        return {key: _readable(compiled.get_property(key)) for key in
                ("INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "PERFORMANCE_HINT")}


def _readable(value: Any) -> str:
    """``f32`` for an element type, ``LATENCY`` for an enum, else ``str(value)``."""
    if hasattr(value, "get_type_name"):
        return value.get_type_name()
    return getattr(value, "name", None) or str(value)


class OpenVinoFromOnnx:
    """Loader: reads ``path`` with OpenVINO's ONNX frontend and prepares CPU compilation settings."""

    def __init__(self, path: str | Path, threads: int | None = None, precision: str = "fp32",
                 static_shapes: bool = True):
        if precision not in PRECISIONS:
            raise TrtbenchError(f"OpenVINO precision '{precision}' is not supported",
                                f"use one of: {', '.join(PRECISIONS)}")
        self.path = Path(path)
        self.threads = threads
        self.precision = precision
        self.static_shapes = static_shapes

    def __call__(self) -> OpenVinoModel:
        ov = import_openvino()
        if not self.path.is_file():
            raise TrtbenchError(f"ONNX file not found: {self.path}", "check the path")
        core = ov.Core()
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": PRECISIONS[self.precision],
                                  "PERFORMANCE_HINT": "LATENCY"}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = int(self.threads)
        return OpenVinoModel(core, core.read_model(str(self.path)), config, self.static_shapes)


class OpenVinoRunner(Runner[OpenVinoModel]):
    name = "openvino"

    def _infer(self, backend: OpenVinoModel, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        compiled, request = backend.request(feed)
        request.infer({k: np.ascontiguousarray(v) for k, v in feed.items()})
        # The request reuses its output buffers on the next call: copy them out.
        return {out.get_any_name(): np.array(request.get_tensor(out).data, copy=True) for out in compiled.outputs}

    def describe(self) -> dict[str, Any]:
        ov = import_openvino()
        info: dict[str, Any] = {"backend": self.name, "openvino": ov.get_version(), "device": "CPU"}
        if self._backend is not None:
            info.update({k.lower(): v for k, v in self._backend.properties().items()})
            info["static_shapes"] = self._backend.static_shapes
        return info
