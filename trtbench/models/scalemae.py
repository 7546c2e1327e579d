"""Scale-MAE ViT-L/16 (RGB): a timm ViT whose sin-cos positions are scaled by the ground sample distance.

Sources (facts only, no code taken): Reed et al., "Scale-MAE: A Scale-Aware Masked Autoencoder for
Multiscale Geospatial Representation Learning", arXiv:2212.14532; the official repository
bair-climate-initiative/scale-mae (``scalemae/models_vit.py``: ``VisionTransformer.forward_features(x,
input_res)``, ``vit_large_patch16``: 1024 wide, 24 blocks, 16 heads, qkv bias, LayerNorm eps 1e-6;
``scalemae/util/pos_embed.py``: ``get_2d_sincos_pos_embed_with_resolution``; ``scalemae/models_mae.py``:
the pretraining checkpoint's extra keys ``mask_token``, ``mask_token_decoder``, ``decoder_*``,
``pos_emb_projection``, ``fpn``, ``fcn``/``fcn_high``/``fcn_low``); torchgeo ``torchgeo/models/scale_mae.py``
(``ScaleMAE(res=...)``, ``ScaleMAELarge16_Weights.FMOW_RGB``: RGB, ``/255`` then ImageNet mean/std).

The positions: for patch column ``x`` and row ``y`` and resolution ``res``, the 1-D sin-cos of ``x * res``
(first half of the width) and of ``y * res`` (second half), each ``[sin(p * w_i), cos(p * w_i)]`` with
``w_i = 10000 ** (-i / (D / 4))``; the CLS token's position row is zero. The table is computed for the
actual patch grid (the official code assumes a square one; rows and columns are treated alike here), so no
resampling is needed at any size. The stored ``pos_embed`` (a fixed MAE table in the release) is loaded
for strictness but never read.

What ``res`` is: torchgeo documents it as the image's spatial resolution in metres (default 1.0); the
official evaluation passes a GSD *ratio* (``eval_base_resolution * reference_size / eval_scale``).
trtbench feeds the model's recorded GSD (``metadata.gsd``, metres: the sensor table's, 10 for Sentinel-2,
30 for Landsat), torchgeo's reading. In a fixed-band ONNX export the GSD is folded into the graph as a
constant and recorded in the artifact's metadata; it is **not** an ONNX input (the band-agnostic
export is for wavelength-driven models only). A different GSD needs a re-export (a custom sensor).

Normalisation: the fMoW RGB release expects 8-bit RGB / 255, then ImageNet mean/std; trtbench normalises
with the sensor table's mean/std, as for every model (the metadata records which).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from .heads import tap_layers
from .registry import ENCODER, ModelFacts, register_model
from .vit import CLASSIFIER_KEYS, VIT_SIZES, ViTEncoder, ViTSize, encoder_state

PRETRAINING_KEYS = ("mask_token", "decoder_", "pos_emb_projection.", "fpn.", "fcn.", "fcn_high.", "fcn_low.")


def sincos_1d(positions: torch.Tensor, width: int) -> torch.Tensor:
    """``[M]`` positions -> ``[M, width]``: ``sin(p * w_i)`` then ``cos(p * w_i)``, ``w_i = 10000 ** (-i / (width/2))``."""
    omega = torch.arange(width // 2, dtype=positions.dtype, device=positions.device) / (width / 2.0)
    angles = positions[:, None] * (1.0 / 10000**omega)[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def gsd_position_table(dim: int, h: int, w: int, res: torch.Tensor) -> torch.Tensor:
    """Scale-MAE's positions for an ``h x w`` patch grid at resolution ``res``: ``[h*w, dim]`` (rows row-major)."""
    rows = torch.arange(h, dtype=res.dtype, device=res.device)
    cols = torch.arange(w, dtype=res.dtype, device=res.device)
    ys, xs = torch.meshgrid(rows, cols, indexing="ij")
    return torch.cat([sincos_1d(xs.reshape(-1) * res, dim // 2), sincos_1d(ys.reshape(-1) * res, dim // 2)], dim=1)


class ScaleMAEEncoder(ViTEncoder):
    """A timm ViT whose position table is regenerated from the patch grid and the GSD on every call."""

    def __init__(self, size: ViTSize, bands: int = 3) -> None:
        super().__init__(size, bands)
        self.pos_embed.requires_grad_(False)   # fixed in the release, and not read here

    def positions(self, h: int, w: int, gsd: float | torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = self.cls_token.dtype
        res = torch.as_tensor(1.0 if gsd is None else gsd, dtype=dtype, device=self.cls_token.device)
        table = gsd_position_table(self.dim, h, w, res)[None]
        return torch.zeros_like(self.cls_token), table


def scalemae_state(ckpt: Mapping, path: str | Path, variant: str) -> dict[str, torch.Tensor]:
    """The encoder of a Scale-MAE file: torchgeo's timm-layout file, or the MAE pretraining checkpoint."""
    return encoder_state(ckpt, path, label="Scale-MAE", marker="patch_embed.proj.weight",
                         drop=CLASSIFIER_KEYS + PRETRAINING_KEYS,
                         fix="pass vit_large_patch16_224_fmow_rgb_scalemae-98ed9821.pth (torchgeo) or the "
                             "official pretraining checkpoint")


def build_scalemae(size: ViTSize, bands: int = 3) -> ScaleMAEEncoder:
    return ScaleMAEEncoder(size, bands)


for _variant, _weights in (("large", "Scale-MAE ViT-L/16 fMoW RGB (torchgeo ScaleMAELarge16_Weights.FMOW_RGB, "
                                     "vit_large_patch16_224_fmow_rgb_scalemae-98ed9821.pth)"), ("tiny", None)):
    _size = VIT_SIZES[_variant]
    register_model(f"scalemae_{_variant}", ModelFacts(
        family="scalemae", label="Scale-MAE", variant=_variant, kind=ENCODER, patch_size=_size.patch_size,
        input_size=_size.img_size, band_convention="fixed: RGB (red, green, blue), 3 channels",
        wavelength_units=None,
        normalisation="the sensor table's mean/std (the fMoW release expects 8-bit RGB / 255, then ImageNet "
                      "mean 0.485,0.456,0.406 and std 0.229,0.224,0.225)",
        embed_dim=_size.dim, depth=_size.depth, upernet_layers=tap_layers(_size.depth), official_weights=_weights,
        source="arXiv:2212.14532; bair-climate-initiative/scale-mae scalemae/models_vit.py, "
               "scalemae/util/pos_embed.py, scalemae/models_mae.py; torchgeo torchgeo/models/scale_mae.py",
        sensor="naip", bands=("red", "green", "blue"),   # a high-resolution RGB table, as fMoW's imagery
    ), aliases=(_variant,), default=_variant == "large", official_state=scalemae_state)(
        lambda bands=3, size=_size: build_scalemae(size, bands))
