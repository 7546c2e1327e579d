"""What this CPU can accelerate: instruction-set features, theoretical peaks, and a measured GEMM ceiling.

**One source of truth for the ISA: the kernel's ``flags`` line of ``/proc/cpuinfo``.** It is what the
kernel enabled (AMX needs the kernel's permission to use its tile state: a CPU whose kernel does not
enable AMX does not list ``amx_tile``), it is read in microseconds without importing PyTorch or OpenVINO
(``trtbench doctor`` stays fast), and tests fabricate it. ``torch.backends.cpu.get_cpu_capability()``
and OpenVINO's ``OPTIMIZATION_CAPABILITIES`` answer a narrower question (which kernels *their* build
dispatches to) and are not used to decide anything.

**Theoretical peak** per core per cycle, times physical cores, times the highest clock the kernel reports
(``cpufreq/cpuinfo_max_freq``; else ``cpu MHz`` of ``/proc/cpuinfo``, which in a VM is the nominal clock):

* fp32: 2 FMA units x (16 lanes with AVX-512, 8 with AVX2) x 2 FLOP per FMA = 64 or 32. Two FMA units
  is an upper bound: some Xeon Silver/Bronze parts have one AVX-512 FMA unit;
* bf16: AMX-BF16 1024 FLOP/cycle (Intel's figure for 4th Gen Xeon: "1024 BF16 operations per cycle");
  AVX512-BF16 (``vdpbf16ps``, 32 bf16 pairs per 512-bit FMA) 2 x 32 x 2 = 128;
* int8: AMX-INT8 2048 ops/cycle (Intel's figure); AVX512-VNNI (``vpdpbusd``, 64 byte products per 512-bit
  instruction) 2 x 64 x 2 = 256; AVX-VNNI (256-bit) 128.

Precisions with no dedicated instructions (bf16 or int8 on an AVX2-only CPU) have no peak: they are
"not accelerated" and trtbench refuses or reports them as unavailable rather than quoting a number.

**Measured ceiling**: the best GFLOP/s of square GEMMs (fp32 and bf16 in PyTorch, int8 as ONNX Runtime's
``MatMulInteger``, the kernel family the Q/DQ artifacts run on), cheap enough (a few tenths of a second)
to be re-measured inside every interleaved benchmark round, so a "% of ceiling" compares a model and a
GEMM timed under the same machine load.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import TrtbenchError

CPUINFO = Path("/proc/cpuinfo")
CPUFREQ_MAX = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")

# Kernel flag -> the name users know it by, in the order doctor lists them.
ISA_FLAGS = {"avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512", "avx512_vnni": "AVX512-VNNI",
             "avx_vnni": "AVX-VNNI", "avx512_bf16": "AVX512-BF16", "avx512_fp16": "AVX512-FP16",
             "amx_tile": "AMX", "amx_bf16": "AMX-BF16", "amx_int8": "AMX-INT8"}
# Per precision: (kernel flag, FLOP or integer op per cycle per core), the first present wins.
PEAK_PER_CYCLE: dict[str, tuple[tuple[str, int], ...]] = {
    "fp32": (("avx512f", 64), ("avx2", 32)),
    "bf16": (("amx_bf16", 1024), ("avx512_bf16", 128)),
    "int8": (("amx_int8", 2048), ("avx512_vnni", 256), ("avx_vnni", 128)),
}
NOT_ACCELERATED = {"bf16": "no AMX-BF16 or AVX512-BF16", "int8": "no AMX-INT8, AVX512-VNNI or AVX-VNNI",
                   "fp32": "no AVX2"}


@dataclass(frozen=True)
class CpuFeatures:
    """The CPU as the kernel reports it: model, flags, cores and clock."""

    model: str
    flags: frozenset[str]
    logical_cpus: int
    physical_cores: int
    ghz: float | None
    ghz_source: str

    @classmethod
    def from_flags(cls, flags: Iterable[str], model: str = "fabricated", cores: int = 1,
                   ghz: float | None = 2.0) -> CpuFeatures:
        """A CPU with exactly these kernel flags (tests, and reasoning about machines one is not on)."""
        return cls(model, frozenset(flags), cores, cores, ghz, "given")

    def has(self, flag: str) -> bool:
        return flag in self.flags

    @property
    def isa(self) -> list[str]:
        """The deployment-relevant features present, by their usual names."""
        return [name for flag, name in ISA_FLAGS.items() if flag in self.flags]

    def accelerated(self, precision: str) -> bool:
        """Whether this CPU has instructions that compute ``precision`` GEMMs natively."""
        return self.ops_per_cycle(precision) is not None

    def ops_per_cycle(self, precision: str) -> tuple[str, int] | None:
        """(the instruction set used, FLOP or op per cycle per core) for ``precision``, or None."""
        for flag, ops in PEAK_PER_CYCLE.get(precision, ()):
            if flag in self.flags and (flag != "avx2" or "fma" in self.flags):
                return ISA_FLAGS[flag], ops
        return None

    def peak_gflops(self, precision: str) -> float | None:
        """Theoretical peak GFLOP/s (int8: GOP/s) of all physical cores; None when not accelerated or no clock."""
        found = self.ops_per_cycle(precision)
        if found is None or self.ghz is None:
            return None
        return found[1] * self.physical_cores * self.ghz

    def precisions(self) -> dict[str, str]:
        """Per precision, how this CPU computes it: the ISA and peak, or why it is not accelerated."""
        out = {}
        for precision in PEAK_PER_CYCLE:
            found = self.ops_per_cycle(precision)
            if found is None:
                out[precision] = f"not accelerated ({NOT_ACCELERATED[precision]})"
                continue
            peak = self.peak_gflops(precision)
            unit = "GOP/s" if precision == "int8" else "GFLOP/s"
            out[precision] = f"{found[0]}" + (f" (peak {peak:.0f} {unit})" if peak else "")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "isa": self.isa, "logical_cpus": self.logical_cpus,
                "physical_cores": self.physical_cores, "ghz": self.ghz, "ghz_source": self.ghz_source,
                "precisions": self.precisions(),
                "peak_gflops": {p: self.peak_gflops(p) for p in PEAK_PER_CYCLE}}


def read_cpu_features(cpuinfo: Path = CPUINFO, cpufreq: Path = CPUFREQ_MAX) -> CpuFeatures:
    """The CPU this process runs on, from ``/proc/cpuinfo`` (first processor entry) and cpufreq."""
    fields: dict[str, str] = {}
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.split("\n\n", 1)[0].splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    siblings, cores = _int(fields.get("siblings")), _int(fields.get("cpu cores"))
    # Hyperthreads share their core's FMA units: count cores, not logical CPUs, for the peak.
    physical = max(1, logical * cores // siblings) if siblings and cores and siblings > cores else logical
    ghz, source = _clock(fields, cpufreq)
    return CpuFeatures(fields.get("model name", "unknown CPU"), frozenset(fields.get("flags", "").split()),
                       logical, physical, ghz, source)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _clock(fields: Mapping[str, str], cpufreq: Path) -> tuple[float | None, str]:
    try:
        return round(int(cpufreq.read_text().strip()) / 1e6, 3), "cpufreq cpuinfo_max_freq"
    except (OSError, ValueError):
        pass
    try:
        return round(float(fields["cpu MHz"]) / 1e3, 3), "/proc/cpuinfo cpu MHz (nominal; no cpufreq)"
    except (KeyError, ValueError):
        return None, "unknown"


def require_precision(precision: str, features: CpuFeatures | None = None) -> None:
    """Refuse a runtime precision this CPU cannot accelerate (emulating bf16 is slower than fp32)."""
    features = features or read_cpu_features()
    if precision == "fp32" or features.accelerated(precision):
        return
    raise TrtbenchError(f"this CPU ({features.model}) has {NOT_ACCELERATED.get(precision, 'no support')}, so "
                        f"it cannot run {precision} natively (ISA: {', '.join(features.isa) or 'none listed'})",
                        f"drop --precision {precision} (run fp32 here), or run on a CPU with "
                        f"{'AMX or AVX512-BF16' if precision == 'bf16' else 'AMX or VNNI'} (see `trtbench doctor`)")


@dataclass
class GemmCeiling:
    """Best measured GFLOP/s (int8: GOP/s) per precision, and why a precision was not measured."""

    gflops: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"gflops": self.gflops, "unavailable": self.unavailable}


def measure_gemm_ceiling(features: CpuFeatures | None = None, precisions: Iterable[str] = ("fp32", "bf16", "int8"),
                         n: int = 1024, reps: int = 3, threads: int | None = None) -> GemmCeiling:
    """Best-of-``reps`` n x n x n GEMM rate per precision this CPU accelerates (fp32 always measured).

    Cheap enough to call once per benchmark round: 2 n^3 FLOP per GEMM (about 2 GFLOP at n=1024).
    """
    features = features or read_cpu_features()
    ceiling = GemmCeiling()
    for precision in precisions:
        if precision != "fp32" and not features.accelerated(precision):
            ceiling.unavailable[precision] = f"not accelerated on this CPU ({NOT_ACCELERATED[precision]})"
            continue
        run = _int8_gemm(n, threads) if precision == "int8" else _torch_gemm(n, precision, threads)
        run()   # first call: allocation and kernel selection
        best = min(_seconds(run) for _ in range(reps))
        ceiling.gflops[precision] = 2 * n**3 / best / 1e9
    return ceiling


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _torch_gemm(n: int, precision: str, threads: int | None):
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)

    def run() -> None:
        previous = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            torch.matmul(a, b)
        finally:
            torch.set_num_threads(previous)

    return run


def _int8_gemm(n: int, threads: int | None):
    """ONNX Runtime ``MatMulInteger`` (uint8 x int8 -> int32): the kernels Q/DQ int8 artifacts run on."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["c"])], "int8_gemm",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n])], [helper.make_tensor_value_info(
            "c", TensorProto.INT32, [n, n])],
        [helper.make_tensor("b", TensorProto.INT8, [n, n], np.random.default_rng(0).integers(
            -127, 128, (n, n), dtype=np.int8).tobytes(), raw=True)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    a = np.random.default_rng(1).integers(0, 256, (n, n), dtype=np.uint8)
    return lambda: session.run(None, {"a": a})
