"""``trtbench doctor``: what this machine can run, and why not where it cannot.

``doctor`` answers in a fraction of a second: it reads installed package versions from their
distribution metadata, the GPUs from the NVIDIA driver (``/proc/driver/nvidia``) and ONNX Runtime's
execution providers from the provider libraries its package ships, instead of importing PyTorch,
ONNX Runtime, OpenVINO and TensorRT (seconds). Commands that use a backend still import and check it
(:func:`tensorrt_status`, ``backends.backend_unavailable_reason``), so a package that is installed but
broken is reported there, with the fix.
"""

from __future__ import annotations

import importlib.util
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

# Import name -> the distributions that provide it (first installed wins).
DISTRIBUTIONS = {
    "torch": ("torch",),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"),
    "openvino": ("openvino",),
    "rasterio": ("rasterio",),
    "tensorrt": ("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt-cu13-bindings", "tensorrt-cu12-bindings"),
}
# ONNX Runtime ships each optional execution provider as libonnxruntime_providers_<name>.so
ORT_PROVIDER_LIBRARIES = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider",
                          "rocm": "ROCMExecutionProvider", "migraphx": "MIGraphXExecutionProvider",
                          "openvino": "OpenVINOExecutionProvider", "dnnl": "DnnlExecutionProvider",
                          "vitisai": "VitisAIExecutionProvider", "qnn": "QNNExecutionProvider"}
NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")
TENSORRT_INSTALL = ("install `trtbench[gpu]` on a machine with an NVIDIA GPU and NVIDIA's package index")


def installed_version(module: str) -> str | None:
    """The installed version of the package that provides ``module`` (None when none does); imports nothing."""
    if importlib.util.find_spec(module) is None:
        return None
    for dist in DISTRIBUTIONS.get(module, (module,)):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "installed"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def nvidia_gpus(proc: Path = NVIDIA_PROC) -> list[str]:
    """GPU models the NVIDIA driver reports (empty without the driver or a GPU)."""
    names = []
    for info in sorted(proc.glob("*/information")) if proc.is_dir() else ():
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("Model:"):
                names.append(line.split(":", 1)[1].strip())
    return names


def onnxruntime_providers() -> list[str]:
    """Execution providers built into the installed ONNX Runtime package (its provider libraries), CPU last,
    as ``onnxruntime.get_available_providers()`` orders them."""
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        return []
    capi = Path(next(iter(spec.submodule_search_locations))) / "capi"
    built = {lib.name.split("libonnxruntime_providers_", 1)[1].split(".", 1)[0]
             for lib in capi.glob("libonnxruntime_providers_*")}
    return [provider for name, provider in ORT_PROVIDER_LIBRARIES.items() if name in built] + ["CPUExecutionProvider"]


def tensorrt_status() -> dict[str, Any]:
    """TensorRT's version if it can build here, else the reason it cannot (imports TensorRT and PyTorch)."""
    if importlib.util.find_spec("tensorrt") is None:
        return {"available": False, "reason": "the tensorrt Python package is not importable (not installed); "
                f"{TENSORRT_INSTALL}"}
    try:
        import tensorrt as trt
    except Exception as exc:  # noqa: BLE001 - any import failure is a fact to report
        return {"available": False, "reason": f"the tensorrt Python package is not importable ({exc}); "
                f"{TENSORRT_INSTALL}"}
    unsupported = unsupported_tensorrt(trt.__version__)
    if unsupported:
        return {"available": False, "version": trt.__version__, "reason": unsupported}
    import torch

    if not torch.cuda.is_available():
        return {"available": False, "version": trt.__version__,
                "reason": "no CUDA GPU visible to PyTorch: engines are built and run on the target GPU"}
    return {"available": True, "version": trt.__version__}


def tensorrt_summary(gpus: list[str]) -> dict[str, Any]:
    """:func:`tensorrt_status` from package metadata and the driver's GPU list, without importing anything."""
    found = installed_version("tensorrt")
    if found is None:
        return {"available": False, "reason": "the tensorrt Python package is not importable (not installed); "
                f"{TENSORRT_INSTALL}"}
    unsupported = unsupported_tensorrt(found)
    if unsupported:
        return {"available": False, "version": found, "reason": unsupported}
    if not gpus:
        return {"available": False, "version": found,
                "reason": "no CUDA GPU visible (the NVIDIA driver reports none): engines are built and run on "
                          "the target GPU"}
    return {"available": True, "version": found}


def unsupported_tensorrt(version: str) -> str | None:
    """Why export and the runner would refuse this TensorRT version (None when they accept it), so doctor
    never calls available what they refuse. Imported only where TensorRT is installed."""
    from .errors import TrtbenchError
    from .tensorrt_support import check_tensorrt_version

    try:
        check_tensorrt_version(version)
    except TrtbenchError as exc:
        return f"{exc.problem}; fix: {exc.fix}"
    return None


def report() -> dict[str, Any]:
    from .hardware import read_cpu_features

    gpus = nvidia_gpus()
    features = read_cpu_features()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_cores": os.cpu_count(),
        "cpu_isa": features.isa,   # from /proc/cpuinfo's flags: see trtbench.hardware
        "cpu_precisions": features.precisions(),
        "torch": installed_version("torch") or "not installed",
        "cuda_gpu": ", ".join(gpus) or "none",
        "onnx": installed_version("onnx") or "not installed",
        "onnxruntime": installed_version("onnxruntime") or "not installed",
        "onnxruntime_providers": onnxruntime_providers(),
        "openvino": installed_version("openvino") or "not installed",
        "rasterio": installed_version("rasterio") or "not installed",
        "tensorrt": tensorrt_summary(gpus),
    }
