"""Benchmarking: FLOP counting, parity-gated timing of runners, memory, and the bench/flops commands."""

from .compare import BackendResult, bench_backend, compare_runners
from .flops import FlopReport, count_flops
from .memory import Memory, PeakMemory
from .run import BenchResult, run_bench
from .target import BenchTarget, ModelSpec, make_feeds, open_target
from .timing import Timing, TimingConfig, km2_per_image, measure, time_runner

__all__ = ["BackendResult", "BenchResult", "BenchTarget", "FlopReport", "Memory", "ModelSpec", "PeakMemory", "Timing",
           "TimingConfig", "bench_backend", "compare_runners", "count_flops", "km2_per_image", "make_feeds", "measure",
           "open_target", "run_bench", "time_runner"]
