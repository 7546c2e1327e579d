"""DOFA v1 as published, written as data and plain tensor math, independent of trtbench's modules.

The key layout is transcribed from the official code (zhu-xlab/DOFA ``dofa_v1.py`` ``OFAViT`` with timm's
``Block``, ``wave_dynamic_layer.py`` ``Dynamic_MLP_OFA``; torchgeo ``torchgeo/models/dofa.py``) and the
README's list of the released file's extra keys (``mask_token``, ``norm.*``, ``projector.*``). No weights can
be downloaded here, so the loader is proven on files with the official names and shapes, and the model's
numbers on :func:`reference_forward`, which re-derives the encoder from the same sources in float64.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

SIZES = {"tiny": (64, 4, 2), "base": (768, 12, 12), "large": (1024, 24, 16)}  # dim, depth, heads
PATCH, IMG, WAVE, TOKENS, FFN = 16, 224, 128, 128, 2048


def encoder_layout(variant: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the released encoder (everything the inference encoder reads), as documented."""
    dim, depth, _ = SIZES[variant]
    gen = "patch_embed.weight_generator."
    layer = gen + "transformer_encoder.layers.0."
    keys: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, dim), "pos_embed": (1, 1 + (IMG // PATCH) ** 2, dim),
        "patch_embed.fclayer.w1.weight": (WAVE, WAVE), "patch_embed.fclayer.w1.bias": (WAVE,),
        "patch_embed.fclayer.w2.weight": (WAVE, WAVE), "patch_embed.fclayer.w2.bias": (WAVE,),
        gen + "weight_tokens": (TOKENS, WAVE), gen + "bias_token": (1, WAVE),
        gen + "fc_weight.weight": (PATCH * PATCH * dim, WAVE), gen + "fc_weight.bias": (PATCH * PATCH * dim,),
        gen + "fc_bias.weight": (dim, WAVE), gen + "fc_bias.bias": (dim,),
        layer + "self_attn.in_proj_weight": (3 * WAVE, WAVE), layer + "self_attn.in_proj_bias": (3 * WAVE,),
        layer + "self_attn.out_proj.weight": (WAVE, WAVE), layer + "self_attn.out_proj.bias": (WAVE,),
        layer + "linear1.weight": (FFN, WAVE), layer + "linear1.bias": (FFN,),
        layer + "linear2.weight": (WAVE, FFN), layer + "linear2.bias": (WAVE,),
        layer + "norm1.weight": (WAVE,), layer + "norm1.bias": (WAVE,),
        layer + "norm2.weight": (WAVE,), layer + "norm2.bias": (WAVE,),
        "norm.weight": (dim,), "norm.bias": (dim,),
    }
    for n in range(depth):
        b = f"blocks.{n}."
        keys |= {b + "norm1.weight": (dim,), b + "norm1.bias": (dim,),
                 b + "attn.qkv.weight": (3 * dim, dim), b + "attn.qkv.bias": (3 * dim,),
                 b + "attn.proj.weight": (dim, dim), b + "attn.proj.bias": (dim,),
                 b + "norm2.weight": (dim,), b + "norm2.bias": (dim,),
                 b + "mlp.fc1.weight": (4 * dim, dim), b + "mlp.fc1.bias": (4 * dim,),
                 b + "mlp.fc2.weight": (dim, 4 * dim), b + "mlp.fc2.bias": (dim,)}
    return keys


def official_state(variant: str, *, seed: int = 0, drop: str | None = None, extra: str | None = None,
                   reshape: str | None = None) -> dict[str, torch.Tensor]:
    """Random tensors in the released layout (plus its pretraining-only keys), with optional damage."""
    gen = torch.Generator().manual_seed(seed)
    dim = SIZES[variant][0]
    state = {}
    for key, shape in encoder_layout(variant).items():
        if key == drop:
            continue
        if key == reshape:
            shape = (shape[0] + 1, *shape[1:])
        offset = 1.0 if key.endswith("norm1.weight") or key.endswith("norm2.weight") or key == "norm.weight" else 0.0
        state[key] = offset + torch.randn(shape, generator=gen) * 0.05
    if extra:
        state[extra] = torch.zeros(3)
    state["mask_token"] = torch.zeros(1, 1, dim)      # pretraining-only (README: unexpected keys)
    state["projector.weight"] = torch.zeros(dim, dim)
    state["projector.bias"] = torch.zeros(dim)
    return state


def write_official_checkpoint(path: Path, variant: str, **kw) -> Path:
    """A plain state dict, as the released ``DOFA_ViT_{base,large}_e100.pth`` files are."""
    torch.save(official_state(variant, **kw), path)
    return path


def reference_kernel(state: dict[str, torch.Tensor], waves: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """The conv weight ``[D, C, 16, 16]`` and bias, scaled by 0.01, generated in float64 from wavelengths in µm."""
    def p(name: str) -> torch.Tensor:
        return state["patch_embed." + name].double()

    def linear(x: torch.Tensor, name: str) -> torch.Tensor:
        return x @ p(name + ".weight").T + p(name + ".bias")

    omega = 1.0 / 10000 ** (torch.arange(WAVE // 2, dtype=torch.float64) / (WAVE / 2))
    # DOFA takes the wavelengths as float32 (torch.tensor(wave_list).float()), then embeds them in nm.
    angles = torch.tensor(waves, dtype=torch.float32).double()[:, None] * 1000 * omega
    emb = torch.cat([angles.sin(), angles.cos()], dim=1)
    emb = emb + F.relu(linear(F.relu(linear(emb, "fclayer.w1")), "fclayer.w2"))
    gen, layer = "weight_generator.", "weight_generator.transformer_encoder.layers.0."
    x = torch.cat([p(gen + "weight_tokens"), emb, p(gen + "bias_token")])
    heads, width = 4, WAVE // 4
    qkv = x @ p(layer + "self_attn.in_proj_weight").T + p(layer + "self_attn.in_proj_bias")
    q, k, v = (t.reshape(-1, heads, width).transpose(0, 1) for t in qkv.chunk(3, dim=1))
    attn = torch.softmax(q @ k.transpose(1, 2) / width**0.5, dim=-1) @ v
    attn = linear(attn.transpose(0, 1).reshape(-1, WAVE), layer + "self_attn.out_proj")
    x = F.layer_norm(x + attn, (WAVE,), p(layer + "norm1.weight"), p(layer + "norm1.bias"), eps=1e-5)
    x = F.layer_norm(x + linear(F.gelu(linear(x, layer + "linear1")), layer + "linear2"), (WAVE,),
                     p(layer + "norm2.weight"), p(layer + "norm2.bias"), eps=1e-5)
    rows = linear(x[TOKENS:-1] + emb, gen + "fc_weight")           # [C, 16 * 16 * D]
    dim = rows.shape[1] // (PATCH * PATCH)
    weight = torch.stack([row.reshape(PATCH, PATCH, dim) for row in rows])  # band c: its (16, 16, D) slice
    weight = torch.einsum("cijd->dcij", weight)                     # the conv layout [D, C, 16, 16]
    return weight * 0.01, linear(x[-1], gen + "fc_bias") * 0.01


def reference_forward(state: dict[str, torch.Tensor], pixels: torch.Tensor, waves: list[float],
                      heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The released encoder on a 224 x 224 input in float64: patch features ``[B, D, 14, 14]`` and CLS ``[B, D]``."""
    def p(name: str) -> torch.Tensor:
        return state[name].double()

    weight, bias = reference_kernel(state, waves)
    patches = F.conv2d(pixels.double(), weight, bias, stride=PATCH, padding=1)
    b, dim, h, w = patches.shape
    x = patches.flatten(2).transpose(1, 2) + p("pos_embed")[:, 1:]
    x = torch.cat([(p("cls_token") + p("pos_embed")[:, :1]).expand(b, -1, -1), x], dim=1)
    depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
    for n in range(depth):
        pre = f"blocks.{n}."
        y = F.layer_norm(x, (dim,), p(pre + "norm1.weight"), p(pre + "norm1.bias"), eps=1e-6)
        qkv = (y @ p(pre + "attn.qkv.weight").T + p(pre + "attn.qkv.bias")).reshape(b, -1, 3, heads, dim // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-1, -2) * (dim // heads) ** -0.5, dim=-1) @ v
        x = x + a.transpose(1, 2).reshape(b, -1, dim) @ p(pre + "attn.proj.weight").T + p(pre + "attn.proj.bias")
        y = F.layer_norm(x, (dim,), p(pre + "norm2.weight"), p(pre + "norm2.bias"), eps=1e-6)
        y = F.gelu(y @ p(pre + "mlp.fc1.weight").T + p(pre + "mlp.fc1.bias"))
        x = x + y @ p(pre + "mlp.fc2.weight").T + p(pre + "mlp.fc2.bias")
    x = F.layer_norm(x, (dim,), p("norm.weight"), p("norm.bias"), eps=1e-6)
    return x[:, 1:].transpose(1, 2).reshape(b, dim, h, w), x[:, 0]


def encoder_macs(size: tuple[int, int, int], bands: int, height: int, width: int) -> int:
    """Analytic MACs of the folded encoder: padded stride-16 conv + depth x (qkv, attention, proj, MLP)."""
    dim, depth, _ = size
    grid_h, grid_w = (height + 2 - PATCH) // PATCH + 1, (width + 2 - PATCH) // PATCH + 1
    patches = grid_h * grid_w
    n = patches + 1
    per_block = n * dim * 3 * dim + 2 * n * n * dim + n * dim * dim + 2 * n * dim * 4 * dim
    return patches * dim * bands * PATCH * PATCH + depth * per_block


def generator_macs(dim: int, bands: int) -> int:
    """Analytic MACs of one run of the wavelength -> kernel generator (FC block, 1 transformer layer, heads)."""
    tokens = TOKENS + bands + 1
    layer = tokens * WAVE * 3 * WAVE + 2 * tokens * tokens * WAVE + tokens * WAVE * WAVE + 2 * tokens * WAVE * FFN
    return 2 * bands * WAVE * WAVE + layer + bands * WAVE * PATCH * PATCH * dim + WAVE * dim
