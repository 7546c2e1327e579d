"""CROMA as published, written as data and plain formulas, independent of trtbench's modules.

Transcribed from the official antofuller/CROMA ``main_croma.py`` (``PretrainedCROMA`` loads five state dicts from
``CROMA_{base,large}.pt``: ``s1_encoder``, ``s1_GAP_FFN``, ``s2_encoder``, ``s2_GAP_FFN``, ``joint_encoder``;
``ViT`` = ``linear_input`` + ``transformer`` (``BaseTransformer``: ``layers.i.0`` Attention with ``input_norm``,
``to_qkv`` (no bias), ``to_out``; ``layers.i.1`` FFN with ``net.0``, GELU, Dropout, ``net.3`` and ``input_norm``;
``norm_out``); ``BaseTransformerCrossAttn`` adds ``layers.i.1`` CrossAttention (``to_q``, ``to_k``, ``to_v`` without
bias, ``to_out``, ``input_norm``) before the FFN at ``layers.i.2``; ``get_2dalibi``; GAP FFN = LayerNorm, Linear,
GELU, Linear) and the README (inputs clipped to [0, 1]). Sizes: base 768 wide, 12 optical blocks, 6 SAR and 6
joint; large 1024, 24 / 12 / 12; 16 heads; patch 8. No weights can be downloaded, so loaders are proven on files
with the official names and shapes, and the numerics on this float64 re-derivation.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

# size -> (dim, optical depth); SAR and joint encoders have half the depth; 16 heads; patch 8
SIZES = {"tiny": (64, 2), "base": (768, 12), "large": (1024, 24)}
HEADS, PATCH = 16, 8
OPTICAL = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]   # no cirrus B10
SAR = ["VV", "VH"]


def _norm(prefix: str, dim: int) -> dict[str, tuple[int, ...]]:
    return {prefix + "weight": (dim,), prefix + "bias": (dim,)}


def _attention(prefix: str, dim: int) -> dict[str, tuple[int, ...]]:
    return {prefix + "to_qkv.weight": (3 * dim, dim), prefix + "to_out.weight": (dim, dim),
            prefix + "to_out.bias": (dim,), **_norm(prefix + "input_norm.", dim)}


def _cross_attention(prefix: str, dim: int) -> dict[str, tuple[int, ...]]:
    return {prefix + "to_q.weight": (dim, dim), prefix + "to_k.weight": (dim, dim), prefix + "to_v.weight": (dim, dim),
            prefix + "to_out.weight": (dim, dim), prefix + "to_out.bias": (dim,), **_norm(prefix + "input_norm.", dim)}


def _ffn(prefix: str, dim: int) -> dict[str, tuple[int, ...]]:
    return {prefix + "net.0.weight": (4 * dim, dim), prefix + "net.0.bias": (4 * dim,),
            prefix + "net.3.weight": (dim, 4 * dim), prefix + "net.3.bias": (dim,), **_norm(prefix + "input_norm.", dim)}


def _vit(dim: int, depth: int, channels: int) -> dict[str, tuple[int, ...]]:
    keys = {"linear_input.weight": (dim, PATCH * PATCH * channels), "linear_input.bias": (dim,),
            **_norm("transformer.norm_out.", dim)}
    for i in range(depth):
        keys |= _attention(f"transformer.layers.{i}.0.", dim) | _ffn(f"transformer.layers.{i}.1.", dim)
    return keys


def _joint(dim: int, depth: int) -> dict[str, tuple[int, ...]]:
    keys = _norm("norm_out.", dim)
    for i in range(depth):
        keys |= (_attention(f"layers.{i}.0.", dim) | _cross_attention(f"layers.{i}.1.", dim)
                 | _ffn(f"layers.{i}.2.", dim))
    return keys


def _gap_ffn(dim: int) -> dict[str, tuple[int, ...]]:
    return {**_norm("0.", dim), "1.weight": (4 * dim, dim), "1.bias": (4 * dim,), "3.weight": (dim, 4 * dim),
            "3.bias": (dim,)}


def released_layout(size: str) -> dict[str, dict[str, tuple[int, ...]]]:
    """Module -> key -> shape of a released ``CROMA_<size>.pt``."""
    dim, depth = SIZES[size]
    return {"s1_encoder": _vit(dim, depth // 2, len(SAR)), "s1_GAP_FFN": _gap_ffn(dim),
            "s2_encoder": _vit(dim, depth, len(OPTICAL)), "s2_GAP_FFN": _gap_ffn(dim),
            "joint_encoder": _joint(dim, depth // 2)}


def released_file(size: str, *, seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Random tensors in the released layout (norm scales near 1, other weights small, so activations stay sane)."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, dict[str, torch.Tensor]] = {}
    for module, keys in released_layout(size).items():
        state[module] = {}
        for key, shape in keys.items():
            scale = 1.0 / math.sqrt(shape[-1]) if len(shape) == 2 else 0.1
            value = torch.randn(shape, generator=gen) * scale
            is_scale = key.endswith("weight") and ("norm" in key or key == "0.weight")
            state[module][key] = 1.0 + value if is_scale else value
    return state


# --- the forward pass, as main_croma.py computes it ------------------------------------------------------------

def alibi(h: int, w: int) -> torch.Tensor:
    """``get_2dalibi`` for an ``h x w`` grid (the official code: a square one), float64 ``[1, 16, N, N]``."""
    start = 2 ** (-2 ** -(math.log2(HEADS) - 3))
    slopes = torch.tensor([start * start**i for i in range(HEADS)], dtype=torch.float64)
    points = list(itertools.product(range(h), range(w)))
    rows = [[math.dist(p, q) for q in points] for p in points]
    return (-slopes[:, None, None] * torch.tensor(rows, dtype=torch.float64)[None])[None]


def _ln(x: torch.Tensor, state: dict, prefix: str) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], state[prefix + "weight"], state[prefix + "bias"], eps=1e-5)


def _heads(t: torch.Tensor) -> torch.Tensor:
    b, n, c = t.shape
    return t.reshape(b, n, HEADS, c // HEADS).permute(0, 2, 1, 3)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, state: dict, p: str) -> torch.Tensor:
    q, k, v = _heads(q), _heads(k), _heads(v)
    scores = torch.einsum("bhid,bhjd->bhij", q, k) * q.shape[-1] ** -0.5 + bias
    out = torch.einsum("bhij,bhjd->bhid", scores.softmax(dim=-1), v)
    b, _, n, _ = out.shape
    return F.linear(out.permute(0, 2, 1, 3).reshape(b, n, -1), state[p + "to_out.weight"], state[p + "to_out.bias"])


def _self_attention(x: torch.Tensor, bias: torch.Tensor, state: dict, p: str) -> torch.Tensor:
    q, k, v = F.linear(_ln(x, state, p + "input_norm."), state[p + "to_qkv.weight"]).chunk(3, dim=-1)
    return _attend(q, k, v, bias, state, p)


def _cross(x: torch.Tensor, context: torch.Tensor, bias: torch.Tensor, state: dict, p: str) -> torch.Tensor:
    x, context = _ln(x, state, p + "input_norm."), _ln(context, state, p + "input_norm.")
    return _attend(F.linear(x, state[p + "to_q.weight"]), F.linear(context, state[p + "to_k.weight"]),
                   F.linear(context, state[p + "to_v.weight"]), bias, state, p)


def _ffn_apply(x: torch.Tensor, state: dict, p: str) -> torch.Tensor:
    hidden = F.gelu(F.linear(_ln(x, state, p + "input_norm."), state[p + "net.0.weight"], state[p + "net.0.bias"]))
    return F.linear(hidden, state[p + "net.3.weight"], state[p + "net.3.bias"])


def _encode(images: torch.Tensor, state: dict) -> torch.Tensor:
    b, c, height, width = images.shape
    h, w = height // PATCH, width // PATCH
    patches = images.reshape(b, c, h, PATCH, w, PATCH).permute(0, 2, 4, 1, 3, 5).reshape(b, h * w, c * PATCH * PATCH)
    x = F.linear(patches, state["linear_input.weight"], state["linear_input.bias"])
    bias = alibi(h, w).to(x.dtype)
    depth = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("transformer.layers."))
    for i in range(depth):
        x = _self_attention(x, bias, state, f"transformer.layers.{i}.0.") + x
        x = _ffn_apply(x, state, f"transformer.layers.{i}.1.") + x
    return _ln(x, state, "transformer.norm_out.")


def _gap(x: torch.Tensor, state: dict) -> torch.Tensor:
    hidden = F.gelu(F.linear(_ln(x.mean(dim=1), state, "0."), state["1.weight"], state["1.bias"]))
    return F.linear(hidden, state["3.weight"], state["3.bias"])


def reference_forward(released: dict, optical: torch.Tensor | None = None,
                      sar: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """``PretrainedCROMA.forward`` on inputs already scaled to [0, 1]: the official output dictionary."""
    out: dict[str, torch.Tensor] = {}
    if sar is not None:
        out["SAR_encodings"] = _encode(sar, released["s1_encoder"])
        out["SAR_GAP"] = _gap(out["SAR_encodings"], released["s1_GAP_FFN"])
    if optical is not None:
        out["optical_encodings"] = _encode(optical, released["s2_encoder"])
        out["optical_GAP"] = _gap(out["optical_encodings"], released["s2_GAP_FFN"])
    if sar is not None and optical is not None:
        state, x, context = released["joint_encoder"], out["SAR_encodings"], out["optical_encodings"]
        h, w = sar.shape[-2] // PATCH, sar.shape[-1] // PATCH
        bias = alibi(h, w).to(x.dtype)
        depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("layers."))
        for i in range(depth):
            x = _self_attention(x, bias, state, f"layers.{i}.0.") + x
            x = _cross(x, context, bias, state, f"layers.{i}.1.") + x
            x = _ffn_apply(x, state, f"layers.{i}.2.") + x
        out["joint_encodings"] = _ln(x, state, "norm_out.")
        out["joint_GAP"] = out["joint_encodings"].mean(dim=1)
    return out


def readme_scaling(z: torch.Tensor) -> torch.Tensor:
    """The README's ``clip((x - (mean - 2 std)) / (4 std), 0, 1)`` written on ``z = (x - mean) / std``."""
    return ((z + 2.0) / 4.0).clamp(0.0, 1.0)


# --- MACs -----------------------------------------------------------------------------------------------------

def croma_macs(size: str, height: int, width: int, modalities: tuple[str, ...]) -> int:
    """Multiply-accumulates of one image: patch projection, blocks (projections 4ND², FFN 8ND², attention's two
    products 2N²D; cross-attention the same again), the GAP FFN (8D²) of a single-modality run."""
    dim, depth = SIZES[size]
    n = (height // PATCH) * (width // PATCH)
    block = 12 * n * dim * dim + 2 * n * n * dim
    macs = 0
    if "optical" in modalities:
        macs += n * PATCH * PATCH * len(OPTICAL) * dim + depth * block
    if "sar" in modalities:
        macs += n * PATCH * PATCH * len(SAR) * dim + depth // 2 * block
    if len(modalities) == 2:
        macs += depth // 2 * (block + 4 * n * dim * dim + 2 * n * n * dim)
    else:
        macs += 8 * dim * dim
    return macs
