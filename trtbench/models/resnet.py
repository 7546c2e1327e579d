"""ResNet-50 in timm's layout: the from-scratch baseline and the body of SSL4EO-S12's ResNet-50.

Sources (facts only, no code taken): He et al., "Deep Residual Learning for Image Recognition",
arXiv:1512.03385; timm ``timm/models/resnet.py`` (``ResNet``, ``Bottleneck``, ``resnet50``: layers
(3, 4, 6, 3), stage widths (64, 128, 256, 512), expansion 4, stride on the 3x3 convolution, 1x1
projection shortcut ``downsample.0``/``downsample.1``; a 7x7 stride-2 stem ``conv1``/``bn1`` and a 3x3
stride-2 max-pool).

What the encoder computes, named as timm names it (so a timm ``ResNet`` state dict, ``fc`` dropped, loads
strictly): ``conv1`` (bands -> 64, no bias), ``bn1``, ReLU, max-pool; ``layer1`` .. ``layer4`` of
``Bottleneck`` blocks (``conv1`` 1x1, ``bn1``, ``conv2`` 3x3 with the stage's stride, ``bn2``, ``conv3`` 1x1
to 4x the width, ``bn3``, plus the shortcut; ReLU after the sum). The four stage outputs (strides 4, 8,
16, 32; 256, 512, 1024, 2048 channels for ResNet-50) are the feature pyramid UPerNet reads
(``pyramid``); the FCN head and the embedding read the last. timm's ``fc`` classifier is not part of the
encoder. The first convolution is sized from the band count when the model is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .registry import ENCODER, ModelFacts, register_model
from .vit import encoder_state

EXPANSION = 4  # Bottleneck output channels = 4 x its width
STEM = 64      # timm's plain stem is 64 wide whatever the stage widths


@dataclass(frozen=True)
class ResNetSize:
    layers: tuple[int, int, int, int]                   # Bottleneck blocks per stage
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    patch_size: int = 32     # output stride: input edges are multiples of it
    depth: int = 4           # stages (the heads' "depth")

    @property
    def pyramid(self) -> tuple[int, ...]:
        """Channels of the four stage outputs (UPerNet's levels)."""
        return tuple(w * EXPANSION for w in self.widths)

    @property
    def dim(self) -> int:
        return self.pyramid[-1]


RESNET_SIZES: dict[str, ResNetSize] = {
    "tiny": ResNetSize((1, 1, 1, 1), (8, 16, 32, 64)),   # test size only
    "50": ResNetSize((3, 4, 6, 3)),
}


class Bottleneck(nn.Module):
    """timm's ``Bottleneck`` (cardinality 1, base width 64): 1x1, 3x3 (strided), 1x1 x4, projection shortcut."""

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        out = width * EXPANSION
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.act = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
        nn.init.zeros_(self.bn3.weight)  # timm's zero_init_last: each block starts as its shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv1(x)))
        y = self.act(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.act(y + (x if self.downsample is None else self.downsample(x)))


class ResNetEncoder(nn.Module):
    """Pixels ``[B, bands, H, W]`` -> the four stage outputs (strides 4, 8, 16, 32), timm's parameter names."""

    def __init__(self, size: ResNetSize, bands: int) -> None:
        super().__init__()
        self.size = size
        self.dim = size.dim
        self.patch_size = size.patch_size
        self.pyramid = size.pyramid
        self.conv1 = nn.Conv2d(bands, STEM, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM)
        self.act1 = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = STEM
        for i, (blocks, width) in enumerate(zip(size.layers, size.widths)):
            stage = []
            for j in range(blocks):
                stage.append(Bottleneck(cin, width, 2 if i > 0 and j == 0 else 1))
                cin = width * EXPANSION
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        for m in self.modules():  # timm's init: Kaiming-normal (fan out) convolutions
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def patch_embedding(self, pixels: torch.Tensor, waves: torch.Tensor | None = None) -> torch.Tensor:
        """A CNN has no patch embedding (its stem is the first stage's input side): pixels pass unchanged."""
        return pixels

    def stages(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.act1(self.bn1(self.conv1(pixels))))
        levels = []
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
            levels.append(x)
        return levels

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        return self.stages(pixels)


def timm_resnet_state(ckpt: Mapping, path: str | Path, variant: str) -> dict[str, torch.Tensor]:
    """A timm ``ResNet`` checkpoint without its classifier (``fc.*``)."""
    return encoder_state(ckpt, path, label="timm ResNet", marker="layer1.0.conv1.weight", drop=("fc.",),
                         fix="pass a timm ResNet state dict (e.g. resnet50) of the same size")


def build_resnet(size: ResNetSize, bands: int = 13) -> ResNetEncoder:
    """A ResNet for ``bands`` input channels (13 by default: the size ``trtbench models`` lists)."""
    return ResNetEncoder(size, bands)


for _variant, _name in (("tiny", "resnet_tiny"), ("50", "resnet50")):
    _size = RESNET_SIZES[_variant]
    register_model(_name, ModelFacts(
        family="resnet", label="ResNet", variant=_variant, kind=ENCODER, patch_size=_size.patch_size,
        input_size=224, band_convention="fixed channels: the band set is fixed when it is trained",
        wavelength_units=None, normalisation="the sensor table's mean/std (trained from scratch on them)",
        embed_dim=_size.dim, depth=_size.depth, upernet_layers=None,
        source="arXiv:1512.03385; timm timm/models/resnet.py (ResNet, Bottleneck, resnet50) (baseline trained "
               "from scratch; UPerNet reads its four stages; a timm checkpoint of the same band count loads strictly)",
        from_scratch=True,
    ), aliases=(_variant,) if _variant == "tiny" else ("50", "resnet50"), default=_variant == "50",
        official_state=timm_resnet_state)(lambda bands=13, size=_size: build_resnet(size, bands))
