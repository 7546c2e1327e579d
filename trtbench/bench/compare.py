"""Backends side by side, each gated on parity with the PyTorch reference before it is timed.

A fast wrong answer is worse than a slow right one, so a backend whose outputs differ from the
reference by more than the tolerance is marked ``parity-failed`` and **not timed**: no latency is
reported for it that anyone could mistake for a valid result. Backends that cannot run on this
machine are ``skipped`` with the reason; a backend that raises is an ``error`` with the message.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from ..backends import Runner
from ..errors import TrtbenchError
from ..parity import Parity, ParityAccumulator
from .memory import Memory, PeakMemory
from .timing import Timing, TimingConfig, time_runner

OK, PARITY_FAILED, SKIPPED, ERROR = "ok", "parity-failed", "skipped", "error"
Feed = Mapping[str, np.ndarray]


@dataclass
class BackendResult:
    backend: str
    status: str = OK
    reason: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    parity: list[Parity] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=list)   # one per batch size; empty unless status is ok
    memory: Memory | None = None

    @property
    def valid(self) -> bool:
        """Only a backend that ran and matched the reference has timings worth reading."""
        return self.status == OK

    def timing(self, batch: int) -> Timing | None:
        return next((t for t in self.timings if t.batch == batch), None)

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "status": self.status, "valid": self.valid, "reason": self.reason,
                "info": self.info, "parity": [asdict(p) | {"rel_max": p.rel_max} for p in self.parity],
                "timings": [t.to_dict() for t in self.timings],
                "memory": self.memory.to_dict() if self.memory else None}


def reference_outputs(reference: Runner, feeds: Sequence[Feed]) -> list[dict[str, np.ndarray]]:
    """The reference's outputs for every feed; the reference is released afterwards to free memory."""
    with reference:
        return [reference.infer(feed) for feed in feeds]


def parity_against(expected: Sequence[Mapping[str, np.ndarray]],
                   actual: Sequence[Mapping[str, np.ndarray]]) -> tuple[list[Parity], str | None]:
    """Parity of every output over all feeds, and the structural problem if outputs do not line up."""
    names = list(expected[0])
    accumulators = {name: ParityAccumulator(name) for name in names}
    for ref, out in zip(expected, actual):
        missing = [n for n in names if n not in out]
        if missing:
            return [], f"outputs {missing} missing (got {sorted(out)})"
        for name in names:
            if ref[name].shape != out[name].shape:
                return [], f"output '{name}' has shape {out[name].shape}, reference {ref[name].shape}"
            if not np.isfinite(out[name]).all():
                return [], f"output '{name}' holds NaN or infinite values"
            accumulators[name].update(ref[name], out[name])
    return [a.result() for a in accumulators.values()], None


def bench_backend(name: str, runner: Runner, feeds: Sequence[Feed], expected: Sequence[Mapping[str, np.ndarray]],
                  config: TimingConfig, tolerance: float, km2_per_image: float | None = None,
                  after_timing: Callable[[Runner, Feed, Timing], None] | None = None) -> BackendResult:
    """Activate ``runner``, check parity on every feed, and time it only if parity holds."""
    result = BackendResult(name)
    gc.collect()
    try:
        with PeakMemory() as peak:
            runner.activate()
            outputs = [runner.infer(feed) for feed in feeds]
        result.memory = peak.result()
        result.info = runner.describe() | runner.selection_info()
        result.parity, problem = parity_against(expected, outputs)
        failing = [p for p in result.parity if not p.rel_max <= tolerance]
        if problem or failing:
            result.status = PARITY_FAILED
            result.reason = problem or "; ".join(
                f"{p.output}: max |diff| / scale = {p.rel_max:.3g} > {tolerance:g}" for p in failing)
            return result
        for feed in tqdm(feeds, desc=f"time {name}", unit="batch", leave=False):
            timing = time_runner(runner, feed, config, km2_per_image)
            if after_timing is not None:
                after_timing(runner, feed, timing)
            result.timings.append(timing)
    except TrtbenchError as exc:
        result.status, result.reason = ERROR, exc.problem
    except Exception as exc:  # noqa: BLE001 - one backend failing must not hide the others' results
        result.status, result.reason = ERROR, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    finally:
        runner.deactivate()
    return result


def compare_runners(reference: Runner, candidates: Mapping[str, Runner | str], feeds: Sequence[Feed],
                    config: TimingConfig, tolerance: float | Mapping[str, float], km2_per_image: float | None = None,
                    hooks: Mapping[str, Callable[[Runner, Feed, Timing], None]] | None = None) -> list[BackendResult]:
    """Every candidate (a Runner, or a string: the reason it is skipped) against ``reference``.

    ``feeds`` holds one input per batch size; the reference runs each once, and every candidate is
    checked on all of them before any is timed. ``tolerance``: one for all, or one per candidate (a bf16
    runner is judged by bf16's tolerance beside fp32 ones).
    """
    expected = reference_outputs(reference, feeds)
    results = []
    for name, runner in candidates.items():
        if isinstance(runner, str):
            results.append(BackendResult(name, SKIPPED, runner))
            continue
        allowed = tolerance[name] if isinstance(tolerance, Mapping) else tolerance
        results.append(bench_backend(name, runner, feeds, expected, config, allowed, km2_per_image,
                                     (hooks or {}).get(name)))
    return results
