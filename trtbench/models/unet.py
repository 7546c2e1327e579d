"""A UNet baseline (Ronneberger et al. 2015), trained from scratch: the yardstick every GFM is compared with.

It exposes the same surface as :class:`~trtbench.models.geomodel.GeoModel` (``metadata``,
``forward(pixels) -> tuple`` in ``metadata.outputs`` order, ``folded()``), so export, eval and
training treat it like any other model. Its input edge must be a multiple of ``2**depth`` (recorded
as the metadata's ``patch_size``) so every skip connection lines up.
"""

from __future__ import annotations

import torch
from torch import nn

from ..metadata import ModelMetadata

# registry variant -> (base width, depth)
UNET_SIZES: dict[str, tuple[int, int]] = {"base": (32, 4), "small": (16, 3)}


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class UNet(nn.Module):
    """Encoder-decoder with skip connections; ``out_channels`` class logits (or 1 value) per pixel."""

    def __init__(self, metadata: ModelMetadata, out_channels: int, width: int, depth: int):
        super().__init__()
        self.metadata = metadata
        widths = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList(_double_conv(cin, cout) for cin, cout in
                                  zip([metadata.num_bands, *widths[:-2]], widths[:-1]))
        self.bottom = _double_conv(widths[-2], widths[-1])
        self.up = nn.ModuleList(nn.ConvTranspose2d(c, c // 2, 2, stride=2) for c in reversed(widths[1:]))
        self.merge = nn.ModuleList(_double_conv(c, c // 2) for c in reversed(widths[1:]))
        self.out = nn.Conv2d(width, out_channels, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor]:
        skips = []
        x = pixels
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips)):
            x = merge(torch.cat([skip, up(x)], dim=1))
        return (self.out(x),)

    def folded(self) -> UNet:
        """Nothing is generated from wavelengths: the model exports as it is."""
        return self
