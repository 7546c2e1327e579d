"""Seam metrics: do tile edges show in a mapped scene?

Two views, both comparing pixels on tile edges with all other pixels: ``edge_disagreement``
against a whole-image reference (for models that can run on the whole scene), and ``seam_ratio``
from the output alone (mean jump between neighbouring pixels across a tile edge relative to the
jump elsewhere; about 1 means no visible tile lines).
"""

from __future__ import annotations

import numpy as np

from .plan import WindowPlan


def edge_mask(plan: WindowPlan, width: int = 1) -> np.ndarray:
    """``[H, W]`` True within ``width`` pixels of any tile edge inside the scene."""
    rows, cols = plan.tile_edges()
    mask = np.zeros((plan.height, plan.width), bool)
    for r in rows:
        mask[max(r - width, 0):r + width] = True
    for c in cols:
        mask[:, max(c - width, 0):c + width] = True
    return mask


def edge_disagreement(tiled: np.ndarray, whole: np.ndarray, plan: WindowPlan,
                      valid: np.ndarray | None = None) -> dict[str, float]:
    """Max and mean ``|tiled - whole|`` on tile edges and elsewhere (``[C, H, W]`` or ``[H, W]``)."""
    diff = np.abs(np.asarray(tiled, np.float64) - np.asarray(whole, np.float64))
    diff = diff.max(axis=0) if diff.ndim == 3 else diff
    valid = np.isfinite(diff) if valid is None else valid & np.isfinite(diff)
    edges = edge_mask(plan)
    out = {}
    for name, where in (("edges", edges & valid), ("elsewhere", ~edges & valid)):
        out[f"{name}_max"] = float(diff[where].max()) if where.any() else 0.0
        out[f"{name}_mean"] = float(diff[where].mean()) if where.any() else 0.0
    return out


def seam_ratio(image: np.ndarray, plan: WindowPlan) -> float:
    """Mean neighbour jump across tile edges / mean neighbour jump elsewhere (NaN pixels ignored)."""
    image = np.asarray(image, np.float64)
    image = image[None] if image.ndim == 2 else image
    rows, cols = plan.tile_edges()
    jumps_y = np.abs(np.diff(image, axis=1)).mean(axis=0)    # between row i and i+1: [H-1, W]
    jumps_x = np.abs(np.diff(image, axis=2)).mean(axis=0)    # [H, W-1]
    on_y = np.zeros(jumps_y.shape[0], bool)
    on_y[[r - 1 for r in rows]] = True
    on_x = np.zeros(jumps_x.shape[1], bool)
    on_x[[c - 1 for c in cols]] = True
    across = np.concatenate([jumps_y[on_y].ravel(), jumps_x[:, on_x].ravel()])
    other = np.concatenate([jumps_y[~on_y].ravel(), jumps_x[:, ~on_x].ravel()])
    across, other = across[np.isfinite(across)], other[np.isfinite(other)]
    return float(across.mean() / other.mean()) if across.size and other.size and other.mean() > 0 else 1.0
