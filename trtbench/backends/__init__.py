"""Runners: one interface (activate / infer / deactivate), one implementation per backend.

Backend names used on the command line:

* ``torch``: PyTorch eager on the artifact's rebuilt reference, band embedding folded as deployed;
* ``onnxruntime``: ONNX Runtime with the best execution provider available (TensorRT > CUDA > CPU);
  ``onnxruntime-cpu`` / ``-cuda`` / ``-tensorrt`` pin one execution provider;
* ``openvino``: OpenVINO on the CPU, reading the ONNX file;
* ``tensorrt``: a native TensorRT engine (needs an NVIDIA GPU and the TensorRT runner).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BackendUnavailable, TrtbenchError
from .base import Runner
from .onnxruntime_runner import OnnxRuntimeRunner, SessionFromOnnx
from .openvino_runner import OpenVinoFromOnnx, OpenVinoRunner

# ONNX Runtime variants pinned to one execution provider, with the CPU as fallback for unsupported nodes.
ORT_VARIANTS = {"onnxruntime-cpu": ["cpu"], "onnxruntime-cuda": ["cuda", "cpu"],
                "onnxruntime-tensorrt": ["tensorrt", "cuda", "cpu"]}
BACKENDS = ("torch", "onnxruntime", *ORT_VARIANTS, "openvino", "tensorrt")


def runner_for_artifact(path: str | Path, backend: str = "onnxruntime", providers: list[str] | None = None,
                        threads: int | None = None) -> Runner:
    """A runner for an exported artifact on the named backend (nothing is loaded until activate)."""
    from ..engine_meta import is_engine_path

    if backend == "onnxruntime" and is_engine_path(path):  # the default backend; an engine runs only in TensorRT
        backend = "tensorrt"
    if backend == "onnxruntime":
        return OnnxRuntimeRunner(SessionFromOnnx(path, providers, threads))
    if backend in ORT_VARIANTS:
        runner = OnnxRuntimeRunner(SessionFromOnnx(path, ORT_VARIANTS[backend], threads))
        runner.name = backend
        return runner
    if backend == "openvino":
        return OpenVinoRunner(OpenVinoFromOnnx(path, threads))
    if backend == "torch":
        return _torch_runner(path)
    if backend == "tensorrt":
        return _tensorrt_runner(path)
    raise TrtbenchError(f"backend '{backend}' cannot run {Path(path).name}", f"use one of: {', '.join(BACKENDS)}")


def backend_unavailable_reason(backend: str) -> str | None:
    """Why ``backend`` cannot run on this machine, or None when it can (cheap: nothing is loaded)."""
    try:
        if backend in ORT_VARIANTS:
            from .onnxruntime_runner import choose_providers

            choose_providers(ORT_VARIANTS[backend])
        elif backend == "openvino":
            from .openvino_runner import import_openvino

            import_openvino()
        elif backend == "tensorrt":
            _require_tensorrt()
        elif backend not in BACKENDS:
            return f"unknown backend (known: {', '.join(BACKENDS)})"
    except TrtbenchError as exc:
        return exc.problem + (f" ({exc.fix})" if exc.fix else "")
    return None


def __getattr__(name: str):
    # PyTorch is imported only when its runner is asked for: `predict` and the ONNX Runtime, OpenVINO
    # and TensorRT runners start without it (about 1 s and 200 MiB less per process and Dask worker).
    if name == "TorchRunner":
        from .torch_runner import TorchRunner

        return TorchRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _torch_runner(path: str | Path) -> Runner:
    from ..artifact import read_artifact_metadata
    from ..models import rebuild_reference
    from .torch_runner import TorchRunner

    meta = read_artifact_metadata(path)

    def load():
        model = rebuild_reference(meta)
        if meta.band_mode == "dynamic":  # same inputs as the artifact: pixels, wavelengths, gsd
            from ..export.dynamic_bands import BandAgnostic

            return BandAgnostic(model)
        return model.folded() if hasattr(model, "folded") else model

    return TorchRunner(load, meta.inputs, meta.outputs)


def _require_tensorrt() -> None:
    """BackendUnavailable with the reason unless TensorRT can run here (package importable, GPU visible)."""
    from ..doctor import tensorrt_status

    status = tensorrt_status()
    if not status["available"]:
        raise BackendUnavailable(f"TensorRT cannot run here: {status['reason']}", "see `trtbench doctor`")


def _tensorrt_runner(path: str | Path) -> Runner:
    from ..engine_meta import is_engine_path, read_sidecar, verify_engine_file

    if not is_engine_path(path):
        raise TrtbenchError(f"the tensorrt backend runs serialized engines and {Path(path).name} is not one",
                            "build one with `trtbench export --format engine` and pass the engine file")
    try:
        _require_tensorrt()
    except BackendUnavailable as exc:
        # Where TensorRT runs, the engine loader checks the file against its sidecar; here that check would
        # never happen, so a damaged or replaced engine is named as such before saying TensorRT is missing.
        sidecar = read_sidecar(path)
        verify_engine_file(path, sidecar)
        raise BackendUnavailable(f"{path} (built with TensorRT {sidecar.runtime.tensorrt_version}): {exc.problem}",
                                 "run it on a machine with an NVIDIA GPU and that TensorRT version (see "
                                 "`trtbench doctor`), or evaluate the ONNX file it was built from") from None
    from .tensorrt_runner import EngineFromPath, TensorRTRunner

    return TensorRTRunner(EngineFromPath(path))


__all__ = ["BACKENDS", "ORT_VARIANTS", "OnnxRuntimeRunner", "OpenVinoFromOnnx", "OpenVinoRunner", "Runner",
           "SessionFromOnnx", "TorchRunner", "backend_unavailable_reason", "runner_for_artifact"]
