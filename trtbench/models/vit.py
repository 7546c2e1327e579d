"""A plain ViT encoder in timm's layout: the from-scratch ViT-B/16 baseline, and the body of SSL4EO-S12 and Scale-MAE.

Sources (facts only, no code taken): Dosovitskiy et al., "An Image is Worth 16x16 Words", arXiv:2010.11929;
timm ``timm/models/vision_transformer.py`` (``VisionTransformer``, ``PatchEmbed``, ``Block``, ``Attention``,
``Mlp``; ``vit_small_patch16_224``: 384 wide, 12 blocks, 6 heads; ``vit_base_patch16_224``: 768, 12, 12;
``vit_large_patch16_224``: 1024, 24, 16).

What the encoder computes, named as timm names it (so a timm ``VisionTransformer`` state dict loads strictly):

* ``patch_embed.proj``: a ``Conv2d(bands, D, 16, stride 16)`` with bias; the band count is fixed when the
  model is built (a baseline is trained on its dataset's bands; a pretrained model takes the bands it was
  trained on).
* ``cls_token`` ``[1, 1, D]`` and a learned ``pos_embed`` ``[1, 1 + 14 * 14, D]`` (CLS row first, added
  before the blocks: timm's default ``class_token=True, no_embed_class=False``).
* ``blocks``: pre-norm blocks (LayerNorm eps 1e-6, fused ``qkv`` with bias, MLP ratio 4, exact GELU): the
  same block as DOFA's, imported from :mod:`trtbench.models.dofa` where it is public.
* ``norm``: the final LayerNorm. timm's classifier (``head``; ``fc_norm`` is an Identity with token pooling)
  is not part of the encoder: :func:`timm_official_state` drops ``head.*`` from a timm checkpoint.

Outputs are the normalised tokens (patch features and CLS), the same surface as Clay and DOFA, so the
heads and export treat every ViT alike. For a grid other than 14 x 14 the position table is resampled
bilinearly (timm resamples bicubically, but TensorRT's Resize takes nearest and linear only; at 224 the
resampling is the identity). The encoder generates nothing from wavelengths, so it has no ``patch_kernel``
and :meth:`~trtbench.models.geomodel.GeoModel.folded` returns the model itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError
from .heads import tap_layers
from .registry import ENCODER, ModelFacts, register_model
from .vit_blocks import Block, resample_positions, run_blocks


@dataclass(frozen=True)
class ViTSize:
    dim: int
    depth: int
    heads: int
    mlp_ratio: float = 4.0
    patch_size: int = 16
    img_size: int = 224   # the grid of the stored position table is img_size // patch_size


VIT_SIZES: dict[str, ViTSize] = {
    "tiny": ViTSize(64, 4, 2),      # test size only
    "small": ViTSize(384, 12, 6),
    "base": ViTSize(768, 12, 12),
    "large": ViTSize(1024, 24, 16),
}
CLASSIFIER_KEYS = ("head.", "fc_norm.")  # timm's classifier on top of the encoder; fc_norm is empty with token pooling


class PatchEmbed(nn.Module):
    """timm's ``PatchEmbed``: one strided convolution (``proj``) from the bands to the width."""

    def __init__(self, bands: int, dim: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(bands, dim, patch_size, stride=patch_size)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.proj(pixels)


class ViTEncoder(nn.Module):
    """Pixels ``[B, bands, H, W]`` -> tokens ``[B, 1 + H/16 * W/16, D]`` (CLS first), timm's parameter names."""

    def __init__(self, size: ViTSize, bands: int) -> None:
        super().__init__()
        self.size = size
        self.dim = size.dim
        self.patch_size = size.patch_size
        self.patch_padding = 0
        self.pos_grid = size.img_size // size.patch_size
        self.patch_embed = PatchEmbed(bands, size.dim, size.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, size.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.pos_grid**2, size.dim))
        self.blocks = nn.ModuleList(Block(size.dim, size.heads, size.mlp_ratio) for _ in range(size.depth))
        self.norm = nn.LayerNorm(size.dim, eps=1e-6)
        # timm's init: truncated-normal (std 0.02) positions, CLS 1e-6 normal, linears trunc-normal, zero biases.
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def patch_embedding(self, pixels: torch.Tensor, waves: torch.Tensor | None = None) -> torch.Tensor:
        """The patch grid ``[B, D, h, w]``; ``waves`` is ignored (the bands are fixed channels)."""
        return self.patch_embed(pixels)

    def positions(self, h: int, w: int, gsd: float | torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Position rows for the CLS token ``[1, 1, D]`` and an ``h x w`` grid ``[1, h*w, D]``: the learned table."""
        return self.pos_embed[:, :1], resample_positions(self.pos_embed[:, 1:], self.pos_grid, h, w)

    def embed(self, patches: torch.Tensor, gsd: float | torch.Tensor | None = None, time: torch.Tensor | None = None,
              latlon: torch.Tensor | None = None) -> torch.Tensor:
        """Patch grid ``[B, D, h, w]`` -> tokens with positions, CLS first (no time or place)."""
        b, _, h, w = patches.shape
        cls_position, grid_positions = self.positions(h, w, gsd)
        tokens = patches.flatten(2).transpose(1, 2) + grid_positions
        cls = (self.cls_token + cls_position).expand(b, -1, -1)
        return torch.cat([cls, tokens], dim=1)

    def transformer(self, x: torch.Tensor, collect: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Final normalised tokens, plus the raw tokens after each block index in ``collect``."""
        x, taps = run_blocks(self.blocks, x, collect)
        return self.norm(x), taps

    def forward(self, pixels: torch.Tensor, gsd: float | torch.Tensor | None = None,
                collect: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.transformer(self.embed(self.patch_embedding(pixels), gsd), collect)


def encoder_state(ckpt: Mapping, path: str | Path, *, label: str, marker: str, drop: tuple[str, ...],
                  fix: str) -> dict[str, torch.Tensor]:
    """The encoder tensors of a released state dict (``{"model"|"state_dict": ...}`` wrappers unwrapped).

    ``marker`` is a key every file of the layout has; ``drop`` the prefixes that are not encoder
    (classifier, pretraining-only); anything else that does not fit is named by the strict load.
    """
    state = ckpt
    for wrapper in ("model", "state_dict"):
        if isinstance(state, Mapping) and marker not in state and isinstance(state.get(wrapper), Mapping):
            state = state[wrapper]
    if not isinstance(state, Mapping) or marker not in state:
        keys = sorted(state)[:5] if isinstance(state, Mapping) else type(state).__name__
        raise CheckpointError(f"{path} is not a {label} checkpoint: no '{marker}' key (first keys: {keys})", fix)
    return {k: v for k, v in state.items() if not k.startswith(drop)}


def timm_official_state(ckpt: Mapping, path: str | Path, variant: str) -> dict[str, torch.Tensor]:
    """A timm ``VisionTransformer`` checkpoint without its classifier (``head.*``)."""
    return encoder_state(ckpt, path, label="timm ViT", marker="patch_embed.proj.weight", drop=CLASSIFIER_KEYS,
                         fix="pass a timm VisionTransformer state dict (e.g. vit_base_patch16_224) of the same size")


def build_vit(size: ViTSize, bands: int = 13) -> ViTEncoder:
    """A ViT for ``bands`` input channels (13 by default: the size ``trtbench models`` lists)."""
    return ViTEncoder(size, bands)


_SOURCE = "arXiv:2010.11929; timm timm/models/vision_transformer.py (VisionTransformer, vit_base_patch16_224)"

for _variant in ("tiny", "base"):
    _size = VIT_SIZES[_variant]
    register_model(f"vit_{_variant}", ModelFacts(
        family="vit", label="ViT", variant=_variant, kind=ENCODER, patch_size=_size.patch_size,
        input_size=_size.img_size, band_convention="fixed channels: the band set is fixed when it is trained",
        wavelength_units=None, normalisation="the sensor table's mean/std (trained from scratch on them)",
        embed_dim=_size.dim, depth=_size.depth, upernet_layers=tap_layers(_size.depth),
        official_weights=None, source=_SOURCE + " (baseline trained from scratch; a timm checkpoint of the same "
                                                 "size and band count loads strictly)",
        from_scratch=True,
    ), aliases=(_variant,), default=_variant == "base", official_state=timm_official_state)(
        lambda bands=13, size=_size: build_vit(size, bands))
