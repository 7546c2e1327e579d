"""Find and load the compiled DynamicPatchEmbed TensorRT plugin library.

Security: loading a plugin library runs its code (static initialisers and TensorRT's entry points) inside
this process, with this process's rights. Load only libraries you built yourself or otherwise trust, from
paths no one else can write to; never a path taken from an untrusted model file or request.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# The CMake target in plugin/CMakeLists.txt is ``trtbench_plugins``.
LIBRARY_NAME = "trtbench_plugins.dll" if sys.platform == "win32" else "libtrtbench_plugins.so"


def plugin_library_path(directory: str | Path) -> Path:
    """Return the plugin library built into ``directory`` (the CMake build folder, or where it was copied).

    Raises:
        FileNotFoundError: no library of that name in ``directory``; the message says how to build it.
    """
    path = Path(directory) / LIBRARY_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"no {LIBRARY_NAME} in {Path(directory).resolve()}; build it with "
            "`cmake -S kernels/plugin -B <dir> -DTensorRT_ROOT=<tensorrt> && cmake --build <dir>` "
            "(see kernels/README.md)"
        )
    return path


def load_plugin_library(path: str | Path) -> Any:
    """Register the library's plugin creators with TensorRT's global plugin registry.

    Call this before parsing an ONNX model that uses DynamicPatchEmbed and before deserialising an engine
    built with it. Runs the library's code: pass only trusted paths (see the module docstring).

    Returns:
        TensorRT's handle for the library (for ``get_plugin_registry().deregister_library``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImportError: the tensorrt package is not installed.
        RuntimeError: TensorRT did not load it (wrong TensorRT version, missing CUDA libraries, or a
            DynamicPatchEmbed creator already registered, e.g. by an earlier call or the Python plugin).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"TensorRT plugin library {path} does not exist; build it first (kernels/README.md)"
        )
    import tensorrt as trt

    handle = trt.get_plugin_registry().load_library(str(path.resolve()))
    if handle is None:
        raise RuntimeError(
            f"TensorRT {trt.__version__} could not load {path}: see TensorRT's log for the reason (a plugin "
            "library built for another TensorRT major version, missing CUDA runtime, or already registered)"
        )
    return handle
