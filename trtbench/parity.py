"""How close an artifact's outputs are to the PyTorch reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Parity:
    """Errors of one output over all evaluated tiles; ``rel_max`` is max |diff| / max |reference|."""

    output: str
    max_abs: float
    mean_abs: float
    scale: float
    cosine: float
    count: int

    @property
    def rel_max(self) -> float:
        return self.max_abs / self.scale if self.scale > 0 else float(self.max_abs > 0)


class ParityAccumulator:
    """Streams batches so parity over many tiles needs no more memory than one batch."""

    def __init__(self, output: str):
        self.output = output
        self.max_abs = 0.0
        self.sum_abs = 0.0
        self.scale = 0.0
        self.dot = self.ref_sq = self.out_sq = 0.0
        self.count = 0

    def update(self, reference: np.ndarray, actual: np.ndarray) -> None:
        if reference.shape != actual.shape:
            raise ValueError(f"output '{self.output}': shape {actual.shape} differs from reference {reference.shape}")
        ref = reference.astype(np.float64).ravel()
        out = actual.astype(np.float64).ravel()
        diff = np.abs(out - ref)
        # NaN/inf anywhere must fail parity; Python's max() would silently skip NaN.
        worst = float(diff.max(initial=0.0)) if np.isfinite(diff).all() else float("inf")
        self.max_abs = max(self.max_abs, worst)
        self.sum_abs += float(diff.sum())
        self.scale = max(self.scale, float(np.abs(ref).max(initial=0.0)))
        self.dot += float(ref @ out)
        self.ref_sq += float(ref @ ref)
        self.out_sq += float(out @ out)
        self.count += ref.size

    def result(self) -> Parity:
        denom = np.sqrt(self.ref_sq * self.out_sq)
        cosine = self.dot / denom if denom > 0 else float(self.ref_sq == self.out_sq)
        return Parity(self.output, self.max_abs, self.sum_abs / max(self.count, 1), self.scale, float(cosine),
                      self.count)
