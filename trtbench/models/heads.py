"""Task heads on encoder tokens.

Every head is built as ``Head(encoder_size, out_channels)``, says which transformer blocks it taps
(``layers``) and is called as ``head(tokens, taps, grid)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .clay import ClaySize


def tokens_to_grid(tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Patch tokens ``[B, 1 + h*w, D]`` (CLS first) -> feature map ``[B, D, h, w]``."""
    b, _, d = tokens.shape
    return tokens[:, 1:].transpose(1, 2).reshape(b, d, grid[0], grid[1])


class PixelShuffleHead(nn.Module):
    """Clay's own segmentor design: two conv blocks, PixelShuffle back to full resolution, conv to outputs.

    Used for segmentation (``out_channels`` = classes) and pixel regression (``out_channels`` = 1).
    """

    layers: tuple[int, ...] = ()

    def __init__(self, size: ClaySize, out_channels: int, width: int = 256, shuffle_channels: int = 64):
        super().__init__()
        dim, patch_size = size.dim, size.patch_size

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        self.neck = nn.Sequential(block(dim, width), block(width, width),
                                  nn.Conv2d(width, shuffle_channels * patch_size**2, 1),
                                  nn.PixelShuffle(patch_size))
        self.out = nn.Conv2d(shuffle_channels, out_channels, 3, padding=1)

    def forward(self, tokens: torch.Tensor, taps: list[torch.Tensor], grid: tuple[int, int]) -> torch.Tensor:
        return self.out(self.neck(tokens_to_grid(tokens, grid)))


HEADS: dict[str, type[nn.Module]] = {"fcn": PixelShuffleHead}
