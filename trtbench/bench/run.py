"""``trtbench bench``: FLOPs, parity-gated latency, throughput and memory of one model on many backends."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ..acquisition import reference_inputs
from ..backends import (
    BACKENDS,
    Runner,
    TorchRunner,
    backend_unavailable_reason,
    effective_precision,
    runner_for_artifact,
)
from ..errors import InputError
from ..parity import tolerance_for
from .compare import BackendResult, compare_runners
from .flops import FlopReport, count_flops
from .target import BenchTarget
from .timing import Timing, TimingConfig, cuda_split, km2_per_image

DEFAULT_BACKENDS = ("torch", "onnxruntime", "openvino", "tensorrt")
BENCH_BACKENDS = (*BACKENDS, "torch-cuda")   # torch-cuda: the PyTorch model on the GPU, with a copy/compute split
SPLIT_CONFIG = TimingConfig(warmup=2, min_iters=10, min_time=0.2)
DEFAULT_TIMING = TimingConfig()


@dataclass
class BenchResult:
    target: str
    metadata: dict[str, Any]
    image_size: int
    batches: list[int]
    threads: int | None
    tolerance: float
    config: TimingConfig
    input_source: str
    machine: dict[str, Any]
    flops: FlopReport | None
    backends: list[BackendResult] = field(default_factory=list)
    band_match: str | None = None   # how the --data file's bands were found (None: random input)

    @property
    def passed(self) -> bool:
        """No backend that ran gave wrong outputs or failed (skipped ones cannot run here and do not count)."""
        return all(b.status in ("ok", "skipped") for b in self.backends)

    @property
    def measured(self) -> bool:
        """At least one backend matched the reference and was timed."""
        return any(b.valid and b.timings for b in self.backends)

    def backend(self, name: str) -> BackendResult | None:
        return next((b for b in self.backends if b.backend == name), None)

    def speedup(self, name: str, batch: int, baseline: str = "torch") -> float | None:
        """Throughput of ``name`` over ``baseline`` at ``batch``; None unless both have valid timings."""
        a, b = self.backend(name), self.backend(baseline)
        if not (a and b and a.valid and b.valid and a.timing(batch) and b.timing(batch)):
            return None
        return a.timing(batch).images_per_s / b.timing(batch).images_per_s

    def achieved_gflops(self, timing: Timing) -> float | None:
        """Useful arithmetic rate: 2 FLOP per counted MAC, per image, times images/s."""
        return None if self.flops is None else 2 * self.flops.gmac_per_image * timing.images_per_s

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "metadata": self.metadata, "image_size": self.image_size,
                "batches": self.batches, "threads": self.threads, "tolerance": self.tolerance,
                "timing_config": asdict(self.config), "input_source": self.input_source,
                "band_match": self.band_match, "machine": self.machine,
                "flops": self.flops.to_dict() if self.flops else None, "passed": self.passed,
                "backends": [b.to_dict() for b in self.backends]}


def machine_info(threads: int | None) -> dict[str, Any]:
    from ..doctor import cpu_name
    from ..hardware import read_cpu_features

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    capability = ".".join(map(str, torch.cuda.get_device_capability(0))) if gpu else None
    return {"cpu": cpu_name(), "cpu_cores": os.cpu_count(), "threads": threads or torch.get_num_threads(),
            "cpu_isa": read_cpu_features().isa, "gpu": gpu, "gpu_compute_capability": capability,
            "python": platform.python_version(), "torch": torch.__version__}


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Set PyTorch's intra-op threads for the block (the reference and the torch backend), then restore."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def check_backends(names: Sequence[str]) -> None:
    """Refuse unknown backend names before any work (a misspelt backend would otherwise be skipped quietly)."""
    if not names:
        raise InputError("no backends given", "pass e.g. --backends torch,onnxruntime")
    unknown = [n for n in names if n not in BENCH_BACKENDS]
    if unknown:
        raise InputError(f"unknown backend(s): {', '.join(unknown)}", f"use any of: {', '.join(BENCH_BACKENDS)}")


def make_candidates(target: BenchTarget, backends: Sequence[str], threads: int | None) -> tuple[
        dict[str, Runner | str], dict[str, Any]]:
    """Runner per requested backend, or the reason it is skipped; plus per-backend timing hooks."""
    meta = target.metadata
    candidates: dict[str, Runner | str] = {}
    hooks: dict[str, Any] = {}
    for name in backends:
        if name in ("torch", "torch-cuda", "torch-bf16"):
            device = "cuda" if name == "torch-cuda" else "cpu"
            if device == "cuda" and not torch.cuda.is_available():
                candidates[name] = "no CUDA GPU visible to PyTorch"
                continue
            if name == "torch-bf16" and (reason := backend_unavailable_reason(name)):
                candidates[name] = reason
                continue
            candidates[name] = TorchRunner(lambda: _deployed(target.model), reference_inputs(meta), meta.outputs, device,
                                           precision=effective_precision(name))
            candidates[name].name = name
            if device == "cuda":
                hooks[name] = _cuda_split_hook
            continue
        artifact = target.engine if name == "tensorrt" else target.onnx
        reason = backend_unavailable_reason(name) or (None if artifact else _missing_artifact(name))
        candidates[name] = reason if reason else runner_for_artifact(artifact, name, threads=threads)
    return candidates, hooks


def tolerances(meta_precision: str, backends: Sequence[str], tolerance: float | None) -> dict[str, float]:
    """Per backend: ``tolerance`` when given, else the looser of the artifact's and the runtime precision's."""
    return {name: tolerance if tolerance is not None else
            max(tolerance_for(meta_precision), tolerance_for(effective_precision(name))) for name in backends}


def _missing_artifact(backend: str) -> str:
    if backend == "tensorrt":
        return "no TensorRT engine given (build one with `trtbench export --format engine`, pass --engine FILE)"
    return f"{backend} runs the ONNX file, and only an engine was given (bench the .onnx to compare backends)"


def _deployed(model: torch.nn.Module) -> torch.nn.Module:
    # The folded twin shares the reference's weights, so timing torch eager costs no second copy.
    return model.folded() if hasattr(model, "folded") else model


def _cuda_split_hook(runner: TorchRunner, feed: dict, timing: Timing) -> None:
    # The active runner holds the folded module on the GPU: time its copies and its compute apart.
    timing.extra.update(cuda_split(runner._backend, next(iter(feed.values())), SPLIT_CONFIG))


def run_bench(target: BenchTarget, *, backends: Sequence[str] = DEFAULT_BACKENDS, batches: Sequence[int] = (1,),
              size: int | None = None, threads: int | None = None, config: TimingConfig = DEFAULT_TIMING,
              tolerance: float | None = None, feeds: list[dict] | None = None, input_source: str = "random normal",
              count: bool = True, candidates: dict[str, Runner | str] | None = None,
              band_match: str | None = None) -> BenchResult:
    """Bench ``target`` on ``backends`` (or on ready-made ``candidates``: any Runner, e.g. a TensorRT one).

    ``tolerance`` defaults to the artifact's precision's (:func:`trtbench.parity.tolerance_for`), as in ``eval``.
    """
    from .target import make_feeds

    meta = target.metadata
    if candidates is None:
        check_backends(backends)
    explicit = tolerance
    tolerance = tolerance_for(meta.precision) if tolerance is None else tolerance
    size = size or meta.input_size
    feeds = feeds or make_feeds(meta, batches, size)
    batches = [next(iter(f.values())).shape[0] for f in feeds]
    with torch_threads(threads):
        flops = count_flops(target.model, (1, meta.channels, size, size), cross_check=False) if count else None
        hooks: dict[str, Any] = {}
        if candidates is None:
            candidates, hooks = make_candidates(target, backends, threads)
        # The PyTorch model is bound to its band set: it takes pixels (and a TL model's dates and location) only,
        # whatever the artifact's extra inputs.
        reference = TorchRunner(lambda: target.model, reference_inputs(meta), meta.outputs)
        per_backend = tolerances(meta.precision, list(candidates), explicit)
        results = compare_runners(reference, candidates, feeds, config, per_backend,
                                  km2_per_image(size, size, meta.gsd), hooks)
    return BenchResult(target.label, asdict(meta), size, batches, threads, tolerance, config, input_source,
                       machine_info(threads), flops, results, band_match)
