"""Seam-free blending of overlapping tile outputs, one strip of tile rows at a time.

Each tile's output is weighted by a separable window that is zero on a discarded border (the
pixels that saw the least context), rises with a Hann (sin²) ramp across the rest of the overlap
and is flat in the middle. Neighbouring ramps are sin² and cos² of the same angle, so they sum to
one: the blend is a partition of unity and a translation-equivariant model gives back exactly its
whole-image output. Only one strip (tile height × scene width) is held in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .plan import WindowPlan


def weight_1d(tile: int, overlap: int) -> np.ndarray:
    """Weights along one tile axis: 0 on the border, sin² ramp over the overlap, 1 inside."""
    border = overlap // 4
    ramp = overlap - 2 * border
    w = np.ones(tile, dtype=np.float64)
    w[:border] = 0.0
    if ramp:
        rise = np.sin(0.5 * np.pi * (np.arange(ramp) + 0.5) / ramp) ** 2
        w[border:border + ramp] = rise
        # min(): with overlap > tile / 2 the two ramps of one tile meet.
        fall = slice(tile - border - ramp, tile - border)
        w[fall] = np.minimum(w[fall], rise[::-1])
    if border:
        w[tile - border:] = 0.0
    return w.astype(np.float32)


def weight_2d(tile: int, overlap: int) -> np.ndarray:
    w = weight_1d(tile, overlap)
    return np.outer(w, w)


@dataclass
class Strip:
    """Finished output rows: values ``[C, h, W]`` and the nodata mask ``[h, W]`` starting at scene row ``y0``."""

    y0: int
    values: np.ndarray
    mask: np.ndarray


class StripBlender:
    """Accumulates weighted tile outputs for the current tile row; hands back rows as they become final."""

    def __init__(self, plan: WindowPlan, channels: int):
        self.plan = plan
        self.channels = channels
        self.window = weight_2d(plan.tile, plan.overlap)
        width = plan.padded_width
        self.total = np.zeros((channels, plan.tile, width), np.float32)
        self.weight = np.zeros((plan.tile, width), np.float32)
        self.mask = np.zeros((plan.tile, width), bool)

    def add(self, col: int, output: np.ndarray, mask: np.ndarray) -> None:
        """Blend one tile's ``[C, t, t]`` output (and its input nodata mask) at tile column ``col``."""
        x0 = col * self.plan.stride
        span = slice(x0, x0 + self.plan.tile)
        self.total[:, :, span] += output * self.window
        self.weight[:, span] += self.window
        self.mask[:, span] |= mask

    def finish_row(self, row: int) -> Strip:
        """The rows made final by tile row ``row``; the overlap is carried into the next strip."""
        plan = self.plan
        y0, y1 = plan.final_rows(row)
        top = row * plan.stride - plan.pad        # scene row of strip row 0
        rows = slice(y0 - top, y1 - top)
        cols = slice(plan.pad, plan.pad + plan.width)
        values = self.total[:, rows, cols] / self.weight[rows, cols]
        strip = Strip(y0, values, self.mask[rows, cols].copy())
        self._carry()
        return strip

    def _carry(self) -> None:
        s = self.plan.stride
        for array in (self.total, self.weight, self.mask):
            array[..., :self.plan.overlap, :] = array[..., s:, :]
            array[..., self.plan.overlap:, :] = 0

    def state(self) -> dict[str, np.ndarray]:
        """The carried overlap rows: all that must be saved to resume after a tile row."""
        o = self.plan.overlap
        return {"total": self.total[:, :o], "weight": self.weight[:o], "mask": self.mask[:o]}

    def restore(self, state: dict[str, np.ndarray]) -> None:
        o = self.plan.overlap
        self.total[:, :o], self.weight[:o], self.mask[:o] = state["total"], state["weight"], state["mask"]
