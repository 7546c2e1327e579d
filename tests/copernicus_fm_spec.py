"""Copernicus-FM as published, written as data and plain tensor math, independent of trtbench's modules.

The key layout is transcribed from the official code (zhu-xlab/Copernicus-FM ``src/model_vit.py``
``CopernicusFMViT`` with timm's ``Block``; ``src/dynamic_hypernetwork.py`` ``Dynamic_MLP_OFA_spectral`` and
``Dynamic_MLP_OFA_variable`` with ``option='language'``; torchgeo ``torchgeo/models/copernicusfm.py``, which
loads the released ``CopernicusFM_ViT_base_varlang_e100.pth`` with only ``fc_norm.*``/``head.*`` missing and
nothing unexpected: the file has no final norm). No weights can be downloaded here, so the loader is proven on
files with the official names and shapes, and the model's numbers on :func:`reference_forward`, which
re-derives the spectral encoder from the same sources in float64, the Fourier features computed directly as
the official code does (``sin``/``cos`` of ``2 pi x / l`` in float64).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

SIZES = {"tiny": (64, 4, 2), "base": (768, 12, 12)}  # dim, depth, heads
KERNEL, IMG, WAVE, TOKENS, FFN, LANGUAGE = 16, 224, 128, 128, 2048, 2048


def _hypernetwork(prefix: str, dim: int) -> dict[str, tuple[int, ...]]:
    gen = prefix + "weight_generator."
    layer = gen + "transformer_encoder.layers.0."
    return {
        prefix + "fclayer.w1.weight": (WAVE, WAVE), prefix + "fclayer.w1.bias": (WAVE,),
        prefix + "fclayer.w2.weight": (WAVE, WAVE), prefix + "fclayer.w2.bias": (WAVE,),
        gen + "weight_tokens": (TOKENS, WAVE), gen + "bias_token": (1, WAVE),
        gen + "fc_weight.weight": (KERNEL * KERNEL * dim, WAVE), gen + "fc_weight.bias": (KERNEL * KERNEL * dim,),
        gen + "fc_bias.weight": (dim, WAVE), gen + "fc_bias.bias": (dim,),
        layer + "self_attn.in_proj_weight": (3 * WAVE, WAVE), layer + "self_attn.in_proj_bias": (3 * WAVE,),
        layer + "self_attn.out_proj.weight": (WAVE, WAVE), layer + "self_attn.out_proj.bias": (WAVE,),
        layer + "linear1.weight": (FFN, WAVE), layer + "linear1.bias": (FFN,),
        layer + "linear2.weight": (WAVE, FFN), layer + "linear2.bias": (WAVE,),
        layer + "norm1.weight": (WAVE,), layer + "norm1.bias": (WAVE,),
        layer + "norm2.weight": (WAVE,), layer + "norm2.bias": (WAVE,),
    }


def encoder_layout(variant: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the released spectral encoder (everything the spectral forward reads), as documented."""
    dim, depth, _ = SIZES[variant]
    keys = _hypernetwork("patch_embed_spectral.", dim)
    keys |= {"cls_token": (1, 1, dim), "pos_embed": (1, 1 + (IMG // KERNEL) ** 2, dim)}
    for name in ("coord", "scale", "time"):
        keys |= {f"{name}_fc.weight": (dim, dim), f"{name}_fc.bias": (dim,), f"{name}_token": (1, 1, dim)}
    for n in range(depth):
        b = f"blocks.{n}."
        keys |= {b + "norm1.weight": (dim,), b + "norm1.bias": (dim,),
                 b + "attn.qkv.weight": (3 * dim, dim), b + "attn.qkv.bias": (3 * dim,),
                 b + "attn.proj.weight": (dim, dim), b + "attn.proj.bias": (dim,),
                 b + "norm2.weight": (dim,), b + "norm2.bias": (dim,),
                 b + "mlp.fc1.weight": (4 * dim, dim), b + "mlp.fc1.bias": (4 * dim,),
                 b + "mlp.fc2.weight": (dim, 4 * dim), b + "mlp.fc2.bias": (dim,)}
    return keys


def language_layout(variant: str) -> dict[str, tuple[int, ...]]:
    """The released file's non-spectral hypernetwork (``patch_embed_variable``, option 'language')."""
    dim = SIZES[variant][0]
    return {**_hypernetwork("patch_embed_variable.", dim),
            "patch_embed_variable.language_proj.weight": (WAVE, LANGUAGE),
            "patch_embed_variable.language_proj.bias": (WAVE,)}


def official_state(variant: str, *, seed: int = 0, drop: str | None = None, extra: str | None = None,
                   reshape: str | None = None) -> dict[str, torch.Tensor]:
    """Random tensors in the released layout (spectral encoder + language path), with optional damage."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in {**encoder_layout(variant), **language_layout(variant)}.items():
        if key == drop:
            continue
        if key == reshape:
            shape = (shape[0] + 1, *shape[1:])
        offset = 1.0 if key.endswith(("norm1.weight", "norm2.weight")) else 0.0
        state[key] = offset + torch.randn(shape, generator=gen) * 0.05
    if extra:
        state[extra] = torch.zeros(3)
    return state


def write_official_checkpoint(path: Path, variant: str, **kw) -> Path:
    """A plain state dict, as the released ``CopernicusFM_ViT_base_varlang_e100.pth`` is."""
    torch.save(official_state(variant, **kw), path)
    return path


def fourier(x_nm: torch.Tensor, lower: float, upper: float) -> torch.Tensor:
    """Aurora's expansion as the official code computes it: float64 ``[sin, cos](2 pi x / l)``, 64 log-spaced ``l``."""
    lengths = torch.logspace(math.log10(lower), math.log10(upper), WAVE // 2, base=10, dtype=torch.float64)
    angles = x_nm.double()[:, None] * (2 * math.pi / lengths)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def resize_pinv(old: int, new: int) -> torch.Tensor:
    """FlexiViT's pseudo-inverse of the bicubic, antialiased resize, ``[new*new, old*old]``, in float64."""
    rows = []
    for i in range(old * old):
        basis = torch.zeros(old * old, dtype=torch.float64)
        basis[i] = 1.0
        resized = F.interpolate(basis.reshape(1, 1, old, old), size=(new, new), mode="bicubic", antialias=True)
        rows.append(resized.reshape(-1))
    return torch.linalg.pinv(torch.stack(rows))


def reference_kernel(state: dict[str, torch.Tensor], waves_um: list[float], widths_um: list[float],
                     patch: int = KERNEL) -> tuple[torch.Tensor, torch.Tensor]:
    """The conv weight ``[D, C, patch, patch]`` and bias, scaled by 0.01, generated in float64 from µm values."""
    def p(name: str) -> torch.Tensor:
        return state["patch_embed_spectral." + name].double()

    def linear(x: torch.Tensor, name: str) -> torch.Tensor:
        return x @ p(name + ".weight").T + p(name + ".bias")

    # The official code receives float32 nm values (Copernicus-Bench configs: 665, 1e9 ...).
    nm_waves = torch.tensor([w * 1000 for w in waves_um], dtype=torch.float32)
    nm_widths = torch.tensor([w * 1000 for w in widths_um], dtype=torch.float32)
    emb = fourier(nm_waves, 100, 1e9) + fourier(nm_widths, 1, 1e9)
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
    dim = rows.shape[1] // (KERNEL * KERNEL)
    weight = rows.reshape(len(waves_um), KERNEL, KERNEL, dim).permute(3, 0, 1, 2)   # [D, C, 16, 16]
    if patch != KERNEL:
        flat = weight.reshape(dim, len(waves_um), KERNEL * KERNEL) @ resize_pinv(KERNEL, patch).T
        weight = flat.reshape(dim, len(waves_um), patch, patch)
    return weight * 0.01, linear(x[-1], gen + "fc_bias") * 0.01


def reference_forward(state: dict[str, torch.Tensor], pixels: torch.Tensor, waves_um: list[float],
                      widths_um: list[float], heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The released spectral encoder, metadata unknown (NaN), on a 224 x 224 input in float64:
    patch features ``[B, D, 14, 14]`` and CLS ``[B, D]``, after README's freshly initialised ``norm``."""
    def p(name: str) -> torch.Tensor:
        return state[name].double()

    weight, bias = reference_kernel(state, waves_um, widths_um)
    patches = F.conv2d(pixels.double(), weight, bias, stride=KERNEL, padding=1)
    b, dim, h, w = patches.shape
    meta = sum(p(f"{n}_token") @ p(f"{n}_fc.weight").T + p(f"{n}_fc.bias") for n in ("coord", "scale", "time"))
    pos = p("pos_embed") + meta
    x = patches.flatten(2).transpose(1, 2) + pos[:, 1:]
    x = torch.cat([(p("cls_token") + pos[:, :1]).expand(b, -1, -1), x], dim=1)
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
    x = F.layer_norm(x, (dim,), torch.ones(dim, dtype=x.dtype), torch.zeros(dim, dtype=x.dtype), eps=1e-6)
    return x[:, 1:].transpose(1, 2).reshape(b, dim, h, w), x[:, 0]


def encoder_macs(size: tuple[int, int, int], bands: int, height: int, width: int) -> int:
    """Analytic MACs of the folded encoder: padded stride-16 conv + 3 metadata FCs + depth x (qkv, attention, proj, MLP)."""
    dim, depth, _ = size
    grid_h, grid_w = (height + 2 - KERNEL) // KERNEL + 1, (width + 2 - KERNEL) // KERNEL + 1
    patches = grid_h * grid_w
    n = patches + 1
    per_block = n * dim * 3 * dim + 2 * n * n * dim + n * dim * dim + 2 * n * dim * 4 * dim
    return patches * dim * bands * KERNEL * KERNEL + 3 * dim * dim + depth * per_block


def generator_macs(dim: int, bands: int) -> int:
    """Analytic MACs of one run of the (wavelength, bandwidth) -> kernel generator (FC block, 1 layer, heads)."""
    tokens = TOKENS + bands + 1
    layer = tokens * WAVE * 3 * WAVE + 2 * tokens * tokens * WAVE + tokens * WAVE * WAVE + 2 * tokens * WAVE * FFN
    return 2 * bands * WAVE * WAVE + layer + bands * WAVE * KERNEL * KERNEL * dim + WAVE * dim
