"""``trtbench doctor``: what this machine can run, and why not where it cannot."""

from __future__ import annotations

import importlib
import os
import platform
from typing import Any


def _version(module: str) -> str:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - any import failure is a fact to report
        return f"not available ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
    return getattr(mod, "__version__", "installed")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def tensorrt_status() -> dict[str, Any]:
    """TensorRT's version if it can build here, else the reason it cannot."""
    import torch

    try:
        import tensorrt as trt
    except Exception as exc:  # noqa: BLE001
        return {"available": False, "reason": f"the tensorrt Python package is not importable ({exc}); "
                "install `trtbench[gpu]` on a machine with an NVIDIA GPU and NVIDIA's package index"}
    if not torch.cuda.is_available():
        return {"available": False, "version": trt.__version__,
                "reason": "no CUDA GPU visible to PyTorch: engines are built and run on the target GPU"}
    return {"available": True, "version": trt.__version__}


def report() -> dict[str, Any]:
    import onnxruntime as ort
    import torch

    gpu = torch.cuda.is_available()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda_gpu": torch.cuda.get_device_name(0) if gpu else "none",
        "onnx": _version("onnx"),
        "onnxruntime": ort.__version__,
        "onnxruntime_providers": ort.get_available_providers(),
        "openvino": _version("openvino"),
        "rasterio": _version("rasterio"),
        "polygraphy": _version("polygraphy"),
        "tensorrt": tensorrt_status(),
    }
