"""``--backend auto``: the runner for an artifact on this machine, by a written rule, with the reason.

The rule (first match wins), from the CPU's instruction sets (:mod:`trtbench.hardware`) and the runtimes
installed (package metadata: nothing is imported, so ``predict`` stays light):

1. a TensorRT engine runs only in ``tensorrt``;
2. an NVIDIA GPU is visible and ONNX Runtime ships a CUDA or TensorRT execution provider: ``onnxruntime``
   (it prefers TensorRT EP > CUDA EP);
3. runtime precision bf16 (the CPU must have AMX-BF16 or AVX512-BF16, else it is refused): ``openvino``
   with its bf16 inference-precision hint, else ``torch`` under CPU autocast;
4. an int8 (Q/DQ) artifact on a CPU with AMX-INT8 or VNNI: ``openvino``, whose CPU plugin turns the
   QuantizeLinear/DequantizeLinear pairs into int8 kernels that use them;
5. fp32/fp16 on a CPU with AVX-512 (or AMX): ``openvino``. Measured on Clay base (issue 16, Xeon with
   AVX-512/AMX): OpenVINO 1.10-1.16x PyTorch eager, ONNX Runtime 0.81-0.92x;
6. otherwise (AVX2-only CPUs such as AMD EPYC Zen 2/3): ``onnxruntime``. Measured on an AMD EPYC (AVX2, 2
   cores; ``benchmarks/compare_backends.py --rounds 2``): the UNet 1.25-1.33x PyTorch eager, while on Clay base
   every runtime sits near the fp32 GEMM ceiling (ONNX Runtime 0.89-1.03x, OpenVINO 0.97-1.02x), so the
   convolutional models decide; it is also the runner that has run every artifact type longest;
7. whichever of onnxruntime, openvino, torch is installed, in that order.

A rule is a prediction, not a measurement: ``benchmarks/compare_backends.py`` measures every runner side
by side and prints whether ``auto``'s pick met the aims, and ``--backend NAME`` pins a runner.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import TrtbenchError
from ..hardware import CpuFeatures, read_cpu_features, require_precision

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


@dataclass(frozen=True)
class BackendChoice:
    """The backend ``auto`` picked and why (printed, and recorded in eval's and predict's JSON)."""

    backend: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"backend": self.backend, "reason": self.reason}

    def line(self) -> str:
        return f"backend: {self.backend} (auto: {self.reason})"


@dataclass(frozen=True)
class Runtimes:
    """What can run here: installed runtimes, ONNX Runtime's GPU providers, whether a GPU is visible."""

    installed: frozenset[str]            # of "onnxruntime", "openvino", "torch"
    gpu_providers: tuple[str, ...] = ()  # ONNX Runtime execution providers that need a GPU
    gpu_visible: bool = False

    @classmethod
    def on_this_machine(cls) -> Runtimes:
        from ..doctor import installed_version, nvidia_gpus, onnxruntime_providers

        installed = frozenset(m for m in ("onnxruntime", "openvino", "torch") if installed_version(m))
        providers = tuple(p for p in onnxruntime_providers() if p in GPU_PROVIDERS) if "onnxruntime" in installed else ()
        return cls(installed, providers, bool(nvidia_gpus()))

    @classmethod
    def of(cls, names: Iterable[str], gpu_providers: Iterable[str] = (), gpu_visible: bool = False) -> Runtimes:
        return cls(frozenset(names), tuple(gpu_providers), gpu_visible)


def choose_backend(artifact_precision: str, *, runtime_precision: str = "fp32", is_engine: bool = False,
                   features: CpuFeatures, runtimes: Runtimes) -> BackendChoice:
    """The module docstring's rule, applied to the given machine description (no I/O: tests fabricate it)."""
    have = runtimes.installed
    if is_engine:
        return BackendChoice("tensorrt", "a TensorRT engine runs only in TensorRT")
    if runtimes.gpu_visible and runtimes.gpu_providers and "onnxruntime" in have:
        return BackendChoice("onnxruntime", f"NVIDIA GPU visible and ONNX Runtime has {runtimes.gpu_providers[0]}")
    if runtime_precision == "bf16":
        require_precision("bf16", features)
        isa = features.ops_per_cycle("bf16")[0]
        if "openvino" in have:
            return BackendChoice("openvino", f"bf16 on {isa}: OpenVINO's bf16 inference precision")
        if "torch" in have:
            return BackendChoice("torch", f"bf16 on {isa}: PyTorch CPU autocast (OpenVINO not installed)")
        raise TrtbenchError("bf16 needs OpenVINO or PyTorch and neither is installed",
                            "pip install 'trtbench[cpu]'")
    if artifact_precision == "int8" and features.accelerated("int8") and "openvino" in have:
        return BackendChoice("openvino", f"int8 Q/DQ artifact on {features.ops_per_cycle('int8')[0]}: OpenVINO "
                                         "runs the Q/DQ pairs as int8 kernels")
    wide = features.has("avx512f") or features.has("amx_tile")
    if wide and "openvino" in have:
        return BackendChoice("openvino", "AVX-512 CPU: OpenVINO measured 1.10-1.16x PyTorch eager on Clay base, "
                                         "ONNX Runtime 0.81-0.92x")
    if not wide and "onnxruntime" in have:
        return BackendChoice("onnxruntime", "CPU without AVX-512: ONNX Runtime, 1.25-1.33x PyTorch eager on the "
                                            "UNet on AVX2 CPUs; on ViTs every runtime is near the GEMM ceiling there")
    for name in ("onnxruntime", "openvino", "torch"):
        if name in have:
            return BackendChoice(name, f"the only preferred runtime installed ({name})")
    raise TrtbenchError("no runtime to run the artifact is installed (onnxruntime, openvino or torch)",
                        "pip install 'trtbench[cpu]'")


def auto_backend(path: str | Path, runtime_precision: str = "fp32", features: CpuFeatures | None = None,
                 runtimes: Runtimes | None = None) -> BackendChoice:
    """:func:`choose_backend` for the artifact at ``path`` on this machine (reads only its metadata)."""
    from ..artifact import read_artifact_metadata
    from ..engine_meta import is_engine_path

    engine = is_engine_path(path)
    precision = "fp32" if engine else read_artifact_metadata(path).precision
    return choose_backend(precision, runtime_precision=runtime_precision, is_engine=engine,
                          features=features or read_cpu_features(), runtimes=runtimes or Runtimes.on_this_machine())
