"""A UNet baseline (Ronneberger et al. 2015), trained from scratch: the yardstick every GFM is compared with.

It exposes the same surface as :class:`~trtbench.models.geomodel.GeoModel` (``metadata``,
``forward(pixels) -> tuple`` in ``metadata.outputs`` order, ``folded()``), so export, eval and
training treat it like any other model. Its input edge must be a multiple of ``2**depth`` (recorded
as the metadata's ``patch_size``) so every skip connection lines up.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import TrtbenchError
from ..metadata import ModelMetadata
from .registry import MODEL, ModelFacts, register_model

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


def build_unet(meta: ModelMetadata) -> UNet:
    """A UNet of ``meta.variant`` for ``meta``'s bands and task (class logits, or one regression value)."""
    out = 1 if meta.task == "regression" else meta.num_classes
    if not out or out < 1:
        raise TrtbenchError(f"a {meta.task} UNet needs --num-classes >= 1", "pass --num-classes")
    return UNet(meta, out, *UNET_SIZES[meta.variant])


for _variant, _name in (("base", "unet"), ("small", "unet_small")):
    register_model(_name, ModelFacts(
        family="unet", label="UNet", variant=_variant, kind=MODEL, patch_size=2 ** UNET_SIZES[_variant][1],
        input_size=256, band_convention="fixed channels: the band set is fixed when it is trained",
        wavelength_units=None, normalisation="the sensor table's mean/std (trained from scratch on them)",
        source="Ronneberger et al. 2015 (baseline trained from scratch; no released weights)",
    ), aliases=(_variant,), default=_variant == "base")(build_unet)
