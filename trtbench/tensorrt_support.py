"""Which TensorRT releases trtbench builds and runs engines with.

A module of its own, importing nothing heavy, so that `trtbench doctor` (which must not import ONNX or
PyTorch) and the engine builder apply one rule.
"""

from __future__ import annotations

from .errors import BackendUnavailable

SUPPORTED_TENSORRT = ((10, 9), (11, 0))  # [lowest, first unsupported): pyproject's `gpu` extra says the same


def check_tensorrt_version(version: str) -> None:
    """Refuse a TensorRT outside :data:`SUPPORTED_TENSORRT` before it builds or runs anything.

    Older than 10.9 lacks the Python AOT plugin API; 11 changed the builder (strongly typed only, flags
    removed) and has not been run with this code, so it is refused rather than trusted.
    """
    (low, high), parts = SUPPORTED_TENSORRT, version.split(".")
    try:
        found = (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        raise BackendUnavailable(f"cannot read the TensorRT version '{version}'",
                                 "install a TensorRT release: pip install 'trtbench[gpu]'") from None
    if not low <= found < high:
        raise BackendUnavailable(
            f"TensorRT {version} is not supported: trtbench supports TensorRT >= {low[0]}.{low[1]}, < {high[0]}",
            f"install a supported one: pip install 'tensorrt>={low[0]}.{low[1]},<{high[0]}' "
            "(or `pip install 'trtbench[gpu]'`)")
