"""Latency measurement: warm-up, then at least ``min_iters`` runs and ``min_time`` seconds, percentiles.

CPU backends are synchronous, so a wall clock (``time.perf_counter``) around each call is exact. GPU
work is asynchronous: a runner that queues work on a device exposes ``synchronize()``, which is
called inside the timed region; PyTorch CUDA modules are timed with CUDA events, and their
host-to-device copy, compute and device-to-host copy are timed separately (:func:`cuda_split`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class TimingConfig:
    warmup: int = 2          # untimed runs first: allocation, kernel selection, caches
    min_iters: int = 5
    min_time: float = 1.0    # seconds; both minimums must be met
    max_iters: int = 10_000

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.min_iters < 1 or self.min_time < 0 or self.max_iters < self.min_iters:
            raise InputError(f"invalid timing settings {self}",
                             "use --warmup >= 0, --min-iters >= 1, --min-time >= 0")


@dataclass
class Timing:
    """Per-iteration latencies of one batch size, with the derived throughput figures."""

    batch: int
    samples_ms: list[float]
    km2_per_image: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)   # e.g. GPU copy/compute split

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.samples_ms, q))

    @property
    def median_ms(self) -> float:
        return self.percentile(50)

    @property
    def images_per_s(self) -> float:
        return self.batch / (self.median_ms / 1e3)

    @property
    def km2_per_s(self) -> float | None:
        return None if self.km2_per_image is None else self.images_per_s * self.km2_per_image

    def summary(self) -> dict[str, Any]:
        s = np.asarray(self.samples_ms)
        return {"batch": self.batch, "iterations": len(s), "mean_ms": float(s.mean()), "std_ms": float(s.std()),
                "min_ms": float(s.min()), "p50_ms": self.median_ms, "p90_ms": self.percentile(90),
                "p99_ms": self.percentile(99), "max_ms": float(s.max()), "images_per_s": self.images_per_s,
                "km2_per_s": self.km2_per_s, **self.extra}

    def to_dict(self) -> dict[str, Any]:
        return self.summary() | {"samples_ms": self.samples_ms}


def km2_per_image(height: int, width: int, gsd_m: float) -> float:
    """Ground area covered by one ``height x width`` image at ``gsd_m`` metres per pixel."""
    return height * width * gsd_m**2 / 1e6


def measure(fn: Callable[[], Any], config: TimingConfig, synchronize: Callable[[], None] | None = None) -> list[float]:
    """Latencies in ms of ``fn()``: ``config.warmup`` untimed calls, then until both minimums are met."""
    sync = synchronize or (lambda: None)
    for _ in range(config.warmup):
        fn()
    sync()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < config.max_iters and (
            len(samples) < config.min_iters or time.perf_counter() - start < config.min_time):
        t0 = time.perf_counter()
        fn()
        sync()
        samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def time_runner(runner: Any, feed: Mapping[str, np.ndarray], config: TimingConfig,
                km2: float | None = None) -> Timing:
    """Time an activated runner on one feed (host arrays in, host arrays out, as a user sees it)."""
    batch = next(iter(feed.values())).shape[0]
    samples = measure(lambda: runner.infer(feed), config, getattr(runner, "synchronize", None))
    return Timing(batch, samples, km2)


def cuda_event_measure(fn: Callable[[], Any], config: TimingConfig) -> list[float]:
    """Device-side latencies in ms of ``fn()`` (which launches CUDA work), from CUDA events."""
    import torch

    for _ in range(config.warmup):
        fn()
    torch.cuda.synchronize()
    samples: list[float] = []
    start_wall = time.perf_counter()
    while len(samples) < config.max_iters and (
            len(samples) < config.min_iters or time.perf_counter() - start_wall < config.min_time):
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        fn()
        end.record()
        end.synchronize()
        samples.append(begin.elapsed_time(end))
    return samples


def cuda_split(module: Any, pixels: np.ndarray, config: TimingConfig) -> dict[str, float]:
    """Median ms of host->device copy, compute and device->host copy of a torch module on the GPU.

    The host buffer is pinned so the copy is a real DMA transfer, as a production loader would do.
    """
    import torch

    host = torch.from_numpy(np.ascontiguousarray(pixels)).pin_memory()
    device_in = host.to("cuda")
    with torch.inference_mode():
        outputs = module(device_in)
    first = outputs[0] if isinstance(outputs, tuple | list) else outputs
    host_out = torch.empty(first.shape, dtype=first.dtype, pin_memory=True)

    def compute() -> None:
        with torch.inference_mode():
            module(device_in)

    parts = {"h2d_ms": cuda_event_measure(lambda: device_in.copy_(host, non_blocking=True), config),
             "compute_ms": cuda_event_measure(compute, config),
             "d2h_ms": cuda_event_measure(lambda: host_out.copy_(first, non_blocking=True), config)}
    return {name: float(np.median(samples)) for name, samples in parts.items()}
