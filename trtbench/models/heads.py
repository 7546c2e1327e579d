"""Task heads on encoder tokens.

Every head is built as ``Head(encoder_size, out_channels)``, says which transformer blocks it taps
(``layers``) and which tasks it serves (``tasks``), and is called as ``head(tokens, taps, grid)``.
Dense heads (``fcn``, ``upernet``) emit ``out_channels`` maps at full resolution: class logits for
segmentation, one value per pixel for regression (``build_head`` asks for one channel then). Every
head is plain convolutions, interpolation and pooling that ONNX expresses for any input size.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn


class EncoderSize(Protocol):
    """What a head needs to know of its encoder (Clay's and DOFA's size records both have it)."""

    dim: int
    depth: int
    patch_size: int


def tokens_to_grid(tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Patch tokens ``[B, 1 + h*w, D]`` (CLS first) -> feature map ``[B, D, h, w]``; a CNN's map passes through."""
    if tokens.dim() == 4:
        return tokens
    b, _, d = tokens.shape
    return tokens[:, 1:].transpose(1, 2).reshape(b, d, grid[0], grid[1])


DENSE_TASKS = ("segmentation", "regression")


def conv_block(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    """Conv + BatchNorm + ReLU, the building block of every dense head."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU())


def tap_layers(depth: int, reference: tuple[int, ...] = (3, 5, 7, 11), reference_depth: int = 12) -> tuple[int, ...]:
    """Encoder blocks to tap, scaled from the 12-layer default: 24 -> (7, 11, 15, 23), 6 -> (1, 2, 3, 5)."""
    return tuple(max(0, round((i + 1) * depth / reference_depth) - 1) for i in reference)


class PixelShuffleHead(nn.Module):
    """Clay's own segmentor design: two conv blocks, PixelShuffle back to full resolution, conv to outputs.

    Used for segmentation (``out_channels`` = classes) and pixel regression (``out_channels`` = 1).
    """

    layers: tuple[int, ...] = ()
    tasks = DENSE_TASKS

    def __init__(self, size: EncoderSize, out_channels: int, width: int = 256, shuffle_channels: int = 64):
        super().__init__()
        dim, patch_size = size.dim, size.patch_size

        self.neck = nn.Sequential(conv_block(dim, width), conv_block(width, width),
                                  nn.Conv2d(width, shuffle_channels * patch_size**2, 1),
                                  nn.PixelShuffle(patch_size))
        self.out = nn.Conv2d(shuffle_channels, out_channels, 3, padding=1)

    def forward(self, tokens: torch.Tensor, taps: list[torch.Tensor], grid: tuple[int, int]) -> torch.Tensor:
        return self.out(self.neck(tokens_to_grid(tokens, grid)))


class UPerNetHead(nn.Module):
    """UPerNet (Xiao et al. 2018) on four encoder levels, as PANGAEA and TerraTorch fine-tune ViT encoders.

    A CNN encoder (ResNet: ``size.pyramid`` lists its four stages' channels) gives the four levels itself
    (strides 4, 8, 16, 32). A plain ViT has one resolution, so a neck first makes a pyramid from the tapped
    blocks: the shallowest upsampled x4 and x2, one kept, the deepest pooled /2 (strides p/4, p/2, p, 2p). The
    pyramid-pooling context is the global average only: pooling to fixed bins (2, 3, 6) bakes the
    image size into the ONNX graph, which would break dynamic-size export.
    """

    tasks = DENSE_TASKS

    def __init__(self, size: EncoderSize, out_channels: int, width: int = 256):
        super().__init__()
        self.pyramid = getattr(size, "pyramid", None)
        self.layers = () if self.pyramid else tap_layers(size.depth)
        dim = size.dim

        def up(times: int) -> nn.Sequential:
            layers: list[nn.Module] = [nn.ConvTranspose2d(dim, width, 2, stride=2)]
            for _ in range(times - 1):
                layers += [nn.BatchNorm2d(width), nn.ReLU(), nn.ConvTranspose2d(width, width, 2, stride=2)]
            return nn.Sequential(*layers)

        if self.pyramid:
            self.norm = nn.Identity()
            self.resample = nn.ModuleList(nn.Identity() for _ in self.pyramid)
            level_in = list(self.pyramid)
        else:
            self.norm = nn.LayerNorm(dim)
            self.resample = nn.ModuleList([up(2), up(1), nn.Identity(), nn.MaxPool2d(2, ceil_mode=True)])
            level_in = [width, width, dim, dim]
        self.lateral = nn.ModuleList(conv_block(c, width, 1) for c in level_in[:-1])
        self.context = conv_block(level_in[-1], width, 1)
        self.bottleneck = conv_block(level_in[-1] + width, width)
        self.smooth = nn.ModuleList(conv_block(width, width) for _ in level_in[:-1])
        self.fuse = conv_block(width * len(level_in), width)
        self.out = nn.Conv2d(width, out_channels, 1)
        self.scale = 4 if self.pyramid else size.patch_size / 4   # the finest level's stride

    def forward(self, tokens: torch.Tensor, taps: list[torch.Tensor], grid: tuple[int, int]) -> torch.Tensor:
        if self.pyramid:
            levels = list(taps)
        else:
            levels = [resample(tokens_to_grid(self.norm(tap), grid)) for tap, resample in zip(taps, self.resample)]
        top = levels[-1]
        context = self.context(top.mean(dim=(2, 3), keepdim=True)).expand(-1, -1, top.shape[2], top.shape[3])
        features = [self.bottleneck(torch.cat([top, context], dim=1))]
        for level, lateral in zip(reversed(levels[:-1]), reversed(self.lateral)):  # top-down pathway
            features.insert(0, lateral(level) + _resize(features[0], level))
        features = [smooth(f) for f, smooth in zip(features[:-1], self.smooth)] + features[-1:]
        fused = self.fuse(torch.cat([features[0]] + [_resize(f, features[0]) for f in features[1:]], dim=1))
        return F.interpolate(self.out(fused), scale_factor=self.scale, mode="bilinear", align_corners=False)


class LinearHead(nn.Module):
    """Image classification from the normalised CLS token (a CNN's last map: its global average)."""

    layers: tuple[int, ...] = ()
    tasks = ("classification",)

    def __init__(self, size: EncoderSize, out_channels: int):
        super().__init__()
        self.out = nn.Linear(size.dim, out_channels)

    def forward(self, tokens: torch.Tensor, taps: list[torch.Tensor], grid: tuple[int, int]) -> torch.Tensor:
        return self.out(tokens.mean(dim=(2, 3)) if tokens.dim() == 4 else tokens[:, 0])


def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


HEADS: dict[str, type[nn.Module]] = {"fcn": PixelShuffleHead, "upernet": UPerNetHead, "linear": LinearHead}
