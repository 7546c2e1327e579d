"""Prithvi-EO-2.0 as published, written as data and plain formulas, independent of trtbench's module.

The released ``Prithvi_EO_V2_*.pt`` files are ``PrithviMAE`` state dicts (IBM/terratorch
``terratorch/models/backbones/prithvi_mae.py``): ``encoder.*`` (``PrithviViT``: 3-D ``patch_embed.proj``
``[D, 6, 1, p, p]``, ``cls_token``, the fixed ``pos_embed`` buffer sized for the pre-training ``num_frames=4`` at
224, timm blocks, ``norm``; TL: ``temporal_embed_enc.scale``, ``location_embed_enc.scale``) and ``decoder.*``
(``decoder_embed``, ``mask_token``, ``decoder_pos_embed``, ``decoder_blocks``, ``decoder_norm``, ``decoder_pred``;
TL: ``temporal_embed_dec.scale``, ``location_embed_dec.scale``). Sizes from ``prithvi_vit.py`` ``prithvi_cfgs``.
No weights can be downloaded, so the loader is proven on files with these names and shapes. The positions and
MAC counts are the published formulas, written out here.
"""

from __future__ import annotations

import numpy as np

# name -> (dim, depth, heads, patch); "tiny" is trtbench's test size (the 300M/600M are the releases)
SIZES = {"tiny": (64, 4, 2, 16), "300": (1024, 24, 16, 16), "600": (1280, 32, 16, 14)}
BANDS, IMG, PRETRAIN_FRAMES = 6, 224, 4
DECODER = {"tiny": (32, 1), "300": (512, 8), "600": (512, 8)}   # (decoder_embed_dim, decoder_depth)


def _block(prefix: str, dim: int) -> dict[str, tuple[int, ...]]:
    """timm ``Block`` (qkv bias, MLP ratio 4)."""
    return {prefix + "norm1.weight": (dim,), prefix + "norm1.bias": (dim,),
            prefix + "attn.qkv.weight": (3 * dim, dim), prefix + "attn.qkv.bias": (3 * dim,),
            prefix + "attn.proj.weight": (dim, dim), prefix + "attn.proj.bias": (dim,),
            prefix + "norm2.weight": (dim,), prefix + "norm2.bias": (dim,),
            prefix + "mlp.fc1.weight": (4 * dim, dim), prefix + "mlp.fc1.bias": (4 * dim,),
            prefix + "mlp.fc2.weight": (dim, 4 * dim), prefix + "mlp.fc2.bias": (dim,)}


def encoder_layout(size: str, tl: bool, bands: int = BANDS) -> dict[str, tuple[int, ...]]:
    """``PrithviViT`` keys -> shapes, without ``pos_embed`` (a fixed buffer the official loader replaces)."""
    dim, depth, _, patch = SIZES[size]
    keys = {"cls_token": (1, 1, dim), "patch_embed.proj.weight": (dim, bands, 1, patch, patch),
            "patch_embed.proj.bias": (dim,), "norm.weight": (dim,), "norm.bias": (dim,)}
    for n in range(depth):
        keys |= _block(f"blocks.{n}.", dim)
    if tl:
        keys |= {"temporal_embed_enc.scale": (1,), "location_embed_enc.scale": (1,)}
    return keys


def released_layout(size: str, tl: bool) -> dict[str, tuple[int, ...]]:
    """The whole ``PrithviMAE`` file: ``encoder.*`` (with its ``pos_embed``) and ``decoder.*``."""
    dim, _, _, patch = SIZES[size]
    ddim, ddepth = DECODER[size]
    tokens = 1 + PRETRAIN_FRAMES * (IMG // patch) ** 2
    keys = {f"encoder.{k}": v for k, v in encoder_layout(size, tl).items()}
    keys["encoder.pos_embed"] = (1, tokens, dim)
    keys |= {"decoder.decoder_embed.weight": (ddim, dim), "decoder.decoder_embed.bias": (ddim,),
             "decoder.mask_token": (1, 1, ddim), "decoder.decoder_pos_embed": (1, tokens, ddim),
             "decoder.decoder_norm.weight": (ddim,), "decoder.decoder_norm.bias": (ddim,),
             "decoder.decoder_pred.weight": (patch * patch * BANDS, ddim),
             "decoder.decoder_pred.bias": (patch * patch * BANDS,)}
    for n in range(ddepth):
        keys |= {f"decoder.{k}": v for k, v in _block(f"decoder_blocks.{n}.", ddim).items()}
    if tl:
        keys |= {"decoder.temporal_embed_dec.scale": (1,), "decoder.location_embed_dec.scale": (1,)}
    return keys


def sincos(positions: np.ndarray, width: int) -> np.ndarray:
    """MAE's 1-D code: ``[sin(p * w_i), cos(p * w_i)]``, ``w_i = 1 / 10000 ** (i / (width / 2))``, float64."""
    omega = 1.0 / 10000 ** (np.arange(width // 2, dtype=np.float64) / (width / 2.0))
    angles = np.outer(positions.astype(np.float64), omega)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def positions_3d(dim: int, frames: int, h: int, w: int) -> np.ndarray:
    """``get_3d_sincos_pos_embed`` without the CLS row: token (t, y, x) in t, y, x order gets
    ``[sincos(x) (dim//16*6), sincos(y) (dim//16*6), sincos(t) (dim//16*4)]``."""
    rows = []
    for t in range(frames):
        for y in range(h):
            for x in range(w):
                rows.append(np.concatenate([sincos(np.array([x]), dim // 16 * 6)[0],
                                            sincos(np.array([y]), dim // 16 * 6)[0],
                                            sincos(np.array([t]), dim // 16 * 4)[0]]))
    return np.stack(rows)


def coordinate_code(dim: int, first: float, second: float, scale: float) -> np.ndarray:
    """``TemporalEncoder`` (year, day of year) / ``LocationEncoder`` (lat, lon): ``scale * [sincos(first) (dim//2),
    sincos(second) (dim - dim//2)]``."""
    return scale * np.concatenate([sincos(np.array([first]), dim // 2)[0], sincos(np.array([second]), dim - dim // 2)[0]])


def prithvi_macs(size: str, frames: int, height: int, width: int, bands: int = BANDS) -> int:
    """Tubelet convolution + depth x (qkv, attention's two products, proj, MLP) over 1 + T*h*w tokens."""
    dim, depth, _, patch = SIZES[size]
    patches = frames * (height // patch) * (width // patch)
    n = patches + 1
    per_block = n * dim * 3 * dim + 2 * n * n * dim + n * dim * dim + 2 * n * dim * 4 * dim
    return patches * dim * bands * patch * patch + depth * per_block
