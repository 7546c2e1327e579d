"""Peak memory of a backend: host RSS sampled with psutil, and the CUDA allocator's peak on a GPU.

The sampler runs while a backend is activated and runs its first inferences (where engines are
compiled and arenas allocated: the peak), and is stopped before timing so it cannot perturb the
latencies. ``delta_mib`` is what the backend added over the process's memory before it started.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

import psutil

MIB = 2**20


@dataclass
class Memory:
    baseline_mib: float
    peak_mib: float
    cuda_peak_mib: float | None = None

    @property
    def delta_mib(self) -> float:
        return self.peak_mib - self.baseline_mib

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"delta_mib": self.delta_mib}


class PeakMemory:
    """Context manager: ``with PeakMemory() as mem: ...``; then ``mem.result()``."""

    def __init__(self, interval_s: float = 0.005):
        self.interval_s = interval_s
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._baseline = self._peak = 0

    def _rss(self) -> int:
        return self._process.memory_info().rss

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._peak = max(self._peak, self._rss())

    def __enter__(self) -> PeakMemory:
        self._baseline = self._peak = self._rss()
        if _cuda_ready():
            import torch

            torch.cuda.reset_peak_memory_stats()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._rss())

    def result(self) -> Memory:
        cuda_peak = None
        if _cuda_ready():
            import torch

            cuda_peak = torch.cuda.max_memory_allocated() / MIB
        return Memory(self._baseline / MIB, self._peak / MIB, cuda_peak)


def _cuda_ready() -> bool:
    """True only when torch has already initialised CUDA (never initialise it just to measure)."""
    import torch

    return torch.cuda.is_available() and torch.cuda.is_initialized()
