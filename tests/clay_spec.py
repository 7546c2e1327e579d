"""Official Clay checkpoints built from the published layout (reference/clay.md), not from our model code.

No weights can be downloaded here, so the loader is proven on files with the official key names and
shapes: if our module names drifted from the official ones, these files would stop loading.
"""

from __future__ import annotations

from pathlib import Path

import torch

SIZES = {  # dim, depth, heads, dim_head, mlp_ratio (reference/clay.md "Sizes")
    "tiny": (192, 6, 4, 48, 2), "small": (384, 6, 6, 64, 2), "base": (768, 12, 12, 64, 4),
    "large": (1024, 24, 16, 64, 4),
}


def encoder_layout(variant: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the encoder state dict under ``model.encoder.``, as documented."""
    dim, depth, heads, dim_head, mlp_ratio = SIZES[variant]
    inner, mlp, w = heads * dim_head, int(dim * mlp_ratio), 128
    gen = "patch_embedding.weight_generator."
    layer = gen + "encoder.layers.0."
    keys: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, dim),
        "patch_embedding.fclayer.l1.weight": (w, w), "patch_embedding.fclayer.l1.bias": (w,),
        "patch_embedding.fclayer.l2.weight": (w, w), "patch_embedding.fclayer.l2.bias": (w,),
        gen + "weight_tokens": (128, w), gen + "bias_token": (1, w),
        layer + "self_attn.in_proj_weight": (3 * w, w), layer + "self_attn.in_proj_bias": (3 * w,),
        layer + "self_attn.out_proj.weight": (w, w), layer + "self_attn.out_proj.bias": (w,),
        layer + "linear1.weight": (2048, w), layer + "linear1.bias": (2048,),
        layer + "linear2.weight": (w, 2048), layer + "linear2.bias": (w,),
        layer + "norm1.weight": (w,), layer + "norm1.bias": (w,),
        layer + "norm2.weight": (w,), layer + "norm2.bias": (w,),
        gen + "fc_weight.weight": (64 * dim, w), gen + "fc_weight.bias": (64 * dim,),
        gen + "fc_bias.weight": (dim, w), gen + "fc_bias.bias": (dim,),
        "transformer.norm.weight": (dim,), "transformer.norm.bias": (dim,),
    }
    for n in range(depth):
        t = f"transformer.layers.{n}."
        keys |= {t + "0.norm.weight": (dim,), t + "0.norm.bias": (dim,), t + "0.to_qkv.weight": (3 * inner, dim),
                 t + "0.to_out.weight": (dim, inner), t + "1.net.0.weight": (dim,), t + "1.net.0.bias": (dim,),
                 t + "1.net.1.weight": (mlp, dim), t + "1.net.1.bias": (mlp,),
                 t + "1.net.3.weight": (dim, mlp), t + "1.net.3.bias": (dim,)}
    return keys


def write_official_checkpoint(path: Path, variant: str, *, seed: int = 0, drop: str | None = None,
                              extra: str | None = None, reshape: str | None = None) -> Path:
    """A Lightning checkpoint in Clay's layout, with optional damage: a dropped, extra or mis-shaped key."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in encoder_layout(variant).items():
        if key == drop:
            continue
        if key == reshape:
            shape = (shape[0] + 1, *shape[1:])
        state["model.encoder." + key] = torch.randn(shape, generator=gen) * 0.02
    if extra:
        state["model.encoder." + extra] = torch.zeros(3)
    # Pretraining-only parts that the loader must drop.
    state["model.decoder.mask_patch"] = torch.zeros(8)
    state["model.proj.weight"] = torch.zeros(4, 4)
    state["model.teacher.patch_embed.proj.weight"] = torch.zeros(2, 2)
    torch.save({"state_dict": state, "epoch": 76, "global_step": 1, "pytorch-lightning_version": "2.4.0",
                "hyper_parameters": {"model_size": variant, "patch_size": 8, "mask_ratio": 0.75}}, path)
    return path
