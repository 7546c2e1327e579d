"""timm's Vision Transformer parts shared by the ViT-based encoders (DOFA, Copernicus-FM, the ViT baselines).

One definition of timm's pre-norm block (``norm1``, ``attn.qkv``, ``attn.proj``, ``norm2``, ``mlp.fc1``,
``mlp.fc2``: the names every released ViT checkpoint here uses), of running a block stack while collecting the
taps a UPerNet head reads, and of resampling a square position table to another patch grid, so each family
module holds only what makes its family different.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """timm's ViT attention: fused qkv with bias, output projection."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """timm's pre-norm ViT block (no layer scale, no drop path at inference)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def run_blocks(blocks: Iterable[nn.Module], x: torch.Tensor,
               collect: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Tokens after every block, plus the raw tokens after each block index in ``collect`` (UPerNet's taps)."""
    taps = []
    for i, block in enumerate(blocks):
        x = block(x)
        if i in collect:
            taps.append(x)
    return x, taps


def resample_positions(table: torch.Tensor, grid: int, h: int, w: int) -> torch.Tensor:
    """Patch rows ``[1, grid*grid, D]`` of a square position table -> ``[1, h*w, D]``, bilinear.

    Bilinear because TensorRT's Resize takes nearest and linear only; at ``h == w == grid`` it is exactly the
    identity, so at the pre-training size nothing changes.
    """
    dim = table.shape[-1]
    square = table.reshape(1, grid, grid, dim).permute(0, 3, 1, 2)
    square = F.interpolate(square, size=(h, w), mode="bilinear", align_corners=False)
    return square.flatten(2).transpose(1, 2)
