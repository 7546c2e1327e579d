"""Export: PyTorch -> ONNX (fixed or band-agnostic), precision conversion, TensorRT engines."""

from .onnx_export import export_onnx
from .recipes import Recipe, load_recipe

__all__ = ["Recipe", "export_onnx", "load_recipe"]
