"""Window planning: which tiles cover a scene, and where each one's output is trusted.

The scene is tiled with a uniform stride in a *padded* frame: the scene starts ``overlap // 2``
pixels in, so the discarded border of the first and last tiles falls into reflect padding rather
than onto real pixels, and every scene pixel is covered by at least one tile with positive weight.
Tile rows are processed top to bottom; after row ``r`` every padded row above the next row's
origin is final, which lets output be written strip by strip with memory bounded by one strip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError
from ..metadata import ModelMetadata


@dataclass(frozen=True)
class WindowPlan:
    height: int      # scene size in pixels
    width: int
    tile: int        # tile edge in pixels (a multiple of the model's patch size)
    overlap: int     # pixels shared by neighbouring tiles

    @classmethod
    def for_scene(cls, meta: ModelMetadata, height: int, width: int, tile: int, overlap: int) -> WindowPlan:
        check_tiling(meta, tile, overlap)
        return cls(height, width, tile, overlap)

    @property
    def stride(self) -> int:
        return self.tile - self.overlap

    @property
    def border(self) -> int:
        """Pixels at each tile edge given zero weight: the model saw too little context there."""
        return self.overlap // 4

    @property
    def pad(self) -> int:
        """Offset of the scene inside the padded frame."""
        return self.overlap // 2

    def _count(self, size: int) -> int:
        # Smallest n whose last tile's trusted part reaches past the scene's last pixel.
        reach = self.pad + size + self.border - self.tile
        return 1 if reach <= 0 else math.ceil(reach / self.stride) + 1

    @property
    def rows(self) -> int:
        return self._count(self.height)

    @property
    def cols(self) -> int:
        return self._count(self.width)

    @property
    def padded_width(self) -> int:
        return (self.cols - 1) * self.stride + self.tile

    @property
    def tiles(self) -> int:
        return self.rows * self.cols

    def origin(self, row: int, col: int) -> tuple[int, int]:
        """Top-left corner of tile (row, col) in scene pixels (negative at the top/left edges)."""
        return row * self.stride - self.pad, col * self.stride - self.pad

    def final_rows(self, row: int) -> tuple[int, int]:
        """Scene rows ``[y0, y1)`` whose output is complete once tile row ``row`` is blended."""
        top = row * self.stride - self.pad
        done = self.tile if row == self.rows - 1 else self.stride
        return max(top, 0), min(top + done, self.height)

    def tile_edges(self) -> tuple[list[int], list[int]]:
        """Scene coordinates of every tile edge (rows, cols) inside the scene: where seams would show."""
        def edges(count: int, size: int) -> list[int]:
            found = set()
            for k in range(count):
                start = k * self.stride - self.pad
                found.update(e for e in (start, start + self.tile) if 0 < e < size)
            return sorted(found)
        return edges(self.rows, self.height), edges(self.cols, self.width)


def output_scale(meta: ModelMetadata) -> int:
    """Scene pixels per output cell: an embedding's features sit on the patch grid, other outputs per pixel."""
    return meta.patch_size if meta.task == "embedding" else 1


def overlap_step(meta: ModelMetadata) -> int:
    """What the overlap must be a multiple of: on a coarser output grid the blend geometry (half the
    overlap as padding, a quarter as discarded border) has to fall on whole output cells."""
    scale = output_scale(meta)
    return 4 * scale if scale > 1 else 1


def default_overlap(meta: ModelMetadata, tile: int) -> int:
    step = overlap_step(meta)
    return tile // 4 // step * step


def check_tiling(meta: ModelMetadata, tile: int, overlap: int) -> None:
    """Reject tile/overlap combinations the model cannot run or that cannot be blended."""
    p = meta.patch_size
    if tile < p or tile % p:
        good = max(p, round(tile / p) * p)
        raise InputError(f"tile {tile} is not a multiple of the model's patch size {p}",
                         f"use --tile {good} (any multiple of {p})")
    if overlap < 0 or overlap >= tile:
        raise InputError(f"overlap {overlap} must be at least 0 and smaller than the tile ({tile})",
                         f"use e.g. --overlap {default_overlap(meta, tile)}")
    step = overlap_step(meta)
    if overlap % step:
        raise InputError(f"overlap {overlap} is not a multiple of {step}: an embedding's features are blended on "
                         f"its {p}-pixel patch grid, with a quarter of the overlap discarded as border",
                         f"use --overlap {default_overlap(meta, tile)} (any multiple of {step} below the tile)")
