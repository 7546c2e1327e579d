"""How close an artifact's outputs are to the PyTorch reference, and how close is close enough."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import TrtbenchError

# The one parity rule every command uses (eval, bench, and any later gate): the largest allowed
# max |diff| / max |reference| for an artifact computed at each precision. fp32 must match the reference
# to rounding; the others are judged by their expected rounding or quantisation error: TF32 and fp16
# keep 10 mantissa bits, bf16 7, int8 quantises activations and weights to 8 bits.
DEFAULT_TOLERANCE = {"fp32": 1e-4, "tf32": 1e-2, "fp16": 1e-2, "bf16": 5e-2, "int8": 1e-1}


def tolerance_for(precision: str) -> float:
    """The default parity tolerance of an artifact computed at ``precision`` (its metadata's or sidecar's)."""
    try:
        return DEFAULT_TOLERANCE[precision]
    except KeyError:
        raise TrtbenchError(f"no parity rule for an artifact of precision '{precision}'",
                            f"pass --tolerance, or use one of {', '.join(DEFAULT_TOLERANCE)}") from None


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
