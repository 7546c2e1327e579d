"""Runners: one interface (activate / infer / deactivate), one implementation per backend.

Backend names used on the command line:

* ``torch``: PyTorch eager on the artifact's rebuilt reference, band embedding folded as deployed;
* ``onnxruntime``: ONNX Runtime with the best execution provider available (TensorRT > CUDA > CPU);
  ``onnxruntime-cpu`` / ``-cuda`` / ``-tensorrt`` pin one execution provider;
* ``openvino``: OpenVINO on the CPU, reading the ONNX file;
* ``tensorrt``: a native TensorRT engine (needs an NVIDIA GPU and the TensorRT runner);
* ``auto``: the runner :mod:`trtbench.backends.auto`'s rule picks for the artifact on this machine;
* ``onnxruntime-fused``: ONNX Runtime on the CPU, on the graph rewritten by ``onnxruntime.transformers``'
  optimizer (attention, LayerNorm, GELU fusions), built in memory when the runner is activated;
* ``openvino-bf16`` / ``torch-bf16``: those runners at runtime precision bf16 (the same as
  ``precision="bf16"``), so a comparison of runners can put bf16 beside fp32; refused on CPUs without
  AMX-BF16 or AVX512-BF16.
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
# Runners pinned to a runtime precision other than the artifact's: name -> (backend, precision).
PRECISION_VARIANTS = {"openvino-bf16": ("openvino", "bf16"), "torch-bf16": ("torch", "bf16")}
RUNTIME_PRECISIONS = ("fp32", "bf16")
BF16_BACKENDS = ("openvino", "torch")   # ONNX Runtime's CPU provider has no bf16 kernels for these graphs
BACKENDS = ("auto", "torch", "onnxruntime", *ORT_VARIANTS, "onnxruntime-fused", "openvino", *PRECISION_VARIANTS,
            "tensorrt")


def runner_for_artifact(path: str | Path, backend: str = "onnxruntime", providers: list[str] | None = None,
                        threads: int | None = None, precision: str = "fp32") -> Runner:
    """A runner for an exported artifact on the named backend (nothing is loaded until activate).

    ``precision`` is the runtime precision (fp32: as exported; bf16: OpenVINO's inference-precision hint or
    torch autocast, refused on a CPU without bf16 instructions). ``auto`` sets ``runner.selection``.
    """
    from ..engine_meta import is_engine_path

    if backend in PRECISION_VARIANTS:
        backend, precision = PRECISION_VARIANTS[backend][0], effective_precision(backend, precision)
    check_runtime_precision(backend, precision)
    if backend == "auto":
        from .auto import auto_backend

        choice = auto_backend(path, precision)
        runner = runner_for_artifact(path, choice.backend, providers, threads, precision)
        runner.selection = choice
        return runner
    if backend == "onnxruntime" and is_engine_path(path):  # the default backend; an engine runs only in TensorRT
        backend = "tensorrt"
    if backend == "onnxruntime":
        return OnnxRuntimeRunner(SessionFromOnnx(path, providers, threads))
    if backend in ORT_VARIANTS:
        runner = OnnxRuntimeRunner(SessionFromOnnx(path, ORT_VARIANTS[backend], threads))
        runner.name = backend
        return runner
    if backend == "onnxruntime-fused":
        runner = OnnxRuntimeRunner(SessionFromOnnx(path, ["cpu"], threads, fusions=True))
        runner.name = backend
        return runner
    if backend == "openvino":
        return OpenVinoRunner(OpenVinoFromOnnx(path, threads, precision))
    if backend == "torch":
        return _torch_runner(path, precision)
    if backend == "tensorrt":
        return _tensorrt_runner(path)
    raise TrtbenchError(f"backend '{backend}' cannot run {Path(path).name}", f"use one of: {', '.join(BACKENDS)}")


def check_runtime_precision(backend: str, precision: str) -> None:
    """Refuse a runtime precision the backend or this CPU cannot compute, before anything is loaded."""
    if precision not in RUNTIME_PRECISIONS:
        raise TrtbenchError(f"runtime precision '{precision}' is not supported",
                            f"use one of: {', '.join(RUNTIME_PRECISIONS)} (fp16/int8 are export-time precisions: "
                            "`trtbench export --precision`)")
    if precision == "fp32":
        return
    if backend not in (*BF16_BACKENDS, "auto"):
        raise TrtbenchError(f"the {backend} backend does not run {precision} on the CPU",
                            f"use --backend {' or '.join(BF16_BACKENDS)} (or auto) with --precision {precision}")
    from ..hardware import require_precision

    require_precision(precision)


def effective_precision(backend: str, precision: str = "fp32") -> str:
    """The precision a runner computes in: ``precision``, or the one its name pins (``openvino-bf16``)."""
    if backend in PRECISION_VARIANTS:
        return _one_precision(precision, PRECISION_VARIANTS[backend][1])
    return precision


def _one_precision(given: str, variant: str) -> str:
    if given not in ("fp32", variant):
        raise TrtbenchError(f"a {variant} backend variant cannot run at precision {given}",
                            f"drop --precision {given} or the -{variant} suffix")
    return variant


def backend_unavailable_reason(backend: str) -> str | None:
    """Why ``backend`` cannot run on this machine, or None when it can (cheap: nothing is loaded)."""
    try:
        if backend in PRECISION_VARIANTS:
            check_runtime_precision(*PRECISION_VARIANTS[backend])
            backend = PRECISION_VARIANTS[backend][0]
        if backend in (*ORT_VARIANTS, "onnxruntime-fused"):
            from .onnxruntime_runner import choose_providers

            choose_providers(ORT_VARIANTS.get(backend, ["cpu"]))
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


def _torch_runner(path: str | Path, precision: str = "fp32") -> Runner:
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

    return TorchRunner(load, meta.inputs, meta.outputs, precision=precision)


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


__all__ = ["BACKENDS", "ORT_VARIANTS", "PRECISION_VARIANTS", "RUNTIME_PRECISIONS", "check_runtime_precision",
           "effective_precision", "OnnxRuntimeRunner", "OpenVinoFromOnnx", "OpenVinoRunner", "Runner",
           "SessionFromOnnx", "TorchRunner", "backend_unavailable_reason", "runner_for_artifact"]
