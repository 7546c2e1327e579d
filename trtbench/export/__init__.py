"""Export: PyTorch -> ONNX (fixed or band-agnostic), precision conversion, TensorRT engines.

The names below load on first use, so reading an artifact's shapes or metadata (``predict``, the ONNX
Runtime and TensorRT runners) does not import PyTorch.
"""

from __future__ import annotations

import importlib

_LAZY = {"export_onnx": ".onnx_export", "Recipe": ".recipes", "load_recipe": ".recipes"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Recipe", "export_onnx", "load_recipe"]
