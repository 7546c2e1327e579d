"""Panopticon as released, written as data and plain tensor math, independent of trtbench's modules.

The key layout is transcribed from the official code (Panopticon-FM/panopticon ``hubconf.py``
``_panopticon_vitb14``: ``vit_base``, patch 14, img_size 518, layer scale 1e-5, no registers, qkv/proj/ffn
bias, ``PanopticonPE`` with ``attn_dim`` 2304 and 16 channel-attention heads; ``dinov2/models/panopticon.py``;
``dinov2/models/vision_transformer.py``; ``dinov2/layers/block.py``, ``layer_scale.py``), which loads the
released ``panopticon_vitb14_teacher.pth`` strictly, so that file holds exactly these keys (``mask_token``
included). No weights can be downloaded here: the loader is proven on files with the official names and shapes,
the numbers on :func:`reference_forward`, a float64 re-derivation of the official forward.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

# dim, depth, heads, attn_dim; the channel attention has 16 heads at every size
SIZES = {"tiny": (64, 4, 2, 96), "base": (768, 12, 12, 2304)}
PATCH, POS_GRID, ATTN_HEADS = 14, 518 // 14, 16


def encoder_layout(variant: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the released teacher without ``mask_token`` (everything the encoder reads)."""
    dim, depth, _, attn = SIZES[variant]
    pe = "patch_embed."
    keys: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, dim), "pos_embed": (1, 1 + POS_GRID**2, dim),
        pe + "conv3d.conv3d.weight": (attn, 1, 1, PATCH, PATCH), pe + "conv3d.conv3d.bias": (attn,),
        pe + "chnfus.query": (1, 1, attn),
        pe + "chnfus.chnemb.embed_transmit": (2, attn // 3), pe + "chnfus.chnemb.embed_receive": (2, attn // 3),
        pe + "chnfus.chnemb.embed_orbit": (2, attn - 2 * (attn // 3)),
        pe + "chnfus.xattn.inproj_k.weight": (attn, attn), pe + "chnfus.xattn.inproj_v.weight": (attn, attn),
        pe + "proj.weight": (dim, attn), pe + "proj.bias": (dim,),
        "norm.weight": (dim,), "norm.bias": (dim,),
    }
    for n in range(depth):
        b = f"blocks.{n}."
        keys |= {b + "norm1.weight": (dim,), b + "norm1.bias": (dim,),
                 b + "attn.qkv.weight": (3 * dim, dim), b + "attn.qkv.bias": (3 * dim,),
                 b + "attn.proj.weight": (dim, dim), b + "attn.proj.bias": (dim,), b + "ls1.gamma": (dim,),
                 b + "norm2.weight": (dim,), b + "norm2.bias": (dim,),
                 b + "mlp.fc1.weight": (4 * dim, dim), b + "mlp.fc1.bias": (4 * dim,),
                 b + "mlp.fc2.weight": (dim, 4 * dim), b + "mlp.fc2.bias": (dim,), b + "ls2.gamma": (dim,)}
    return keys


def official_state(variant: str, *, seed: int = 0, drop: str | None = None, extra: str | None = None,
                   reshape: str | None = None) -> dict[str, torch.Tensor]:
    """Random tensors in the released layout (plus ``mask_token``), with optional damage."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in encoder_layout(variant).items():
        if key == drop:
            continue
        if key == reshape:
            shape = (shape[0] + 1, *shape[1:])
        # layer scale, the query and the SAR rows large enough that a mistake in their use would show
        scale = 0.3 if key.endswith("gamma") or "chnemb" in key or key.endswith("query") else 0.05
        offset = 1.0 if key.endswith(("norm1.weight", "norm2.weight")) or key == "norm.weight" else 0.0
        state[key] = offset + torch.randn(shape, generator=gen) * scale
    if extra:
        state[extra] = torch.zeros(3)
    state["mask_token"] = torch.zeros(1, SIZES[variant][0])
    return state


def write_official_checkpoint(path: Path, variant: str, **kw) -> Path:
    """A plain state dict, as ``panopticon_vitb14_teacher.pth`` is (hubconf loads it with load_state_dict)."""
    torch.save(official_state(variant, **kw), path)
    return path


def channel_embedding(state: dict[str, torch.Tensor], chn_ids: list[float]) -> torch.Tensor:
    """``ChnEmb`` in float64: optical ids (nm) floored and sin-cos embedded; SAR ids -1..-12 from learned rows."""
    attn = state["patch_embed.chnfus.query"].shape[-1]
    pre = "patch_embed.chnfus.chnemb."
    t, r, o = (state[pre + n].double() for n in ("embed_transmit", "embed_receive", "embed_orbit"))
    out = torch.zeros(len(chn_ids), attn, dtype=torch.float64)
    for i, cid in enumerate(chn_ids):
        if cid >= 0:
            half = attn // 2   # the official frequencies are float32 whatever the model's dtype
            omega = (1.0 / 10000 ** (torch.arange(half, dtype=torch.float32) / half)).double()
            angle = float(int(cid // 1)) * omega
            out[i] = torch.cat([angle.sin(), angle.cos()])
        else:
            row = -int(cid) - 1                      # 0..11
            pol, orbit = row % 4, row // 4          # VV VH HH HV; unknown, ascending, descending
            transmit = t[0] if pol in (0, 1) else t[1]
            receive = r[0] if pol in (0, 3) else r[1]
            orbit_row = o.mean(dim=0) if orbit == 0 else o[orbit - 1]
            out[i] = torch.cat([transmit, receive, orbit_row])
    return out


def reference_forward(state: dict[str, torch.Tensor], pixels: torch.Tensor, chn_ids: list[float],
                      heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The released encoder in float64: patch features ``[B, D, H/14, W/14]`` and the normalised CLS ``[B, D]``."""
    def p(name: str) -> torch.Tensor:
        return state[name].double()

    x = pixels.double()
    b, c, height, width = x.shape
    gh, gw = height // PATCH, width // PATCH
    tokens = F.conv3d(x[:, None], p("patch_embed.conv3d.conv3d.weight"), p("patch_embed.conv3d.conv3d.bias"),
                      stride=(1, PATCH, PATCH))                      # [B, A, C, gh, gw]
    attn = tokens.shape[1]
    tokens = tokens.flatten(3).permute(0, 3, 2, 1)                   # [B, L, C, A]
    tokens = tokens + channel_embedding(state, chn_ids)
    hd = attn // ATTN_HEADS
    keys = (tokens @ p("patch_embed.chnfus.xattn.inproj_k.weight").T).reshape(b, gh * gw, c, ATTN_HEADS, hd)
    values = (tokens @ p("patch_embed.chnfus.xattn.inproj_v.weight").T).reshape(b, gh * gw, c, ATTN_HEADS, hd)
    query = p("patch_embed.chnfus.query").reshape(ATTN_HEADS, hd) * hd**-0.5
    weights = torch.softmax(torch.einsum("hd,blchd->blhc", query, keys), dim=-1)
    fused = torch.einsum("blhc,blchd->blhd", weights, values).reshape(b, gh * gw, attn)
    x = fused @ p("patch_embed.proj.weight").T + p("patch_embed.proj.bias")
    dim = x.shape[-1]
    pos = p("pos_embed")
    grid = pos[:, 1:].reshape(1, POS_GRID, POS_GRID, dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((gh + 0.1) / POS_GRID, (gw + 0.1) / POS_GRID), mode="bicubic")
    x = torch.cat([p("cls_token").expand(b, -1, -1), x], dim=1)
    x = x + torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, -1, dim)], dim=1)
    depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
    for n in range(depth):
        pre = f"blocks.{n}."
        y = F.layer_norm(x, (dim,), p(pre + "norm1.weight"), p(pre + "norm1.bias"), eps=1e-6)
        qkv = (y @ p(pre + "attn.qkv.weight").T + p(pre + "attn.qkv.bias")).reshape(b, -1, 3, heads, dim // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-1, -2) * (dim // heads) ** -0.5, dim=-1) @ v
        a = a.transpose(1, 2).reshape(b, -1, dim) @ p(pre + "attn.proj.weight").T + p(pre + "attn.proj.bias")
        x = x + a * p(pre + "ls1.gamma")
        y = F.layer_norm(x, (dim,), p(pre + "norm2.weight"), p(pre + "norm2.bias"), eps=1e-6)
        y = F.gelu(y @ p(pre + "mlp.fc1.weight").T + p(pre + "mlp.fc1.bias"))
        x = x + (y @ p(pre + "mlp.fc2.weight").T + p(pre + "mlp.fc2.bias")) * p(pre + "ls2.gamma")
    x = F.layer_norm(x, (dim,), p("norm.weight"), p("norm.bias"), eps=1e-6)
    return x[:, 1:].transpose(1, 2).reshape(b, dim, gh, gw), x[:, 0]


def encoder_macs(variant: str, bands: int, height: int, width: int) -> int:
    """Analytic MACs of the exported (fused) encoder at batch 1.

    Fused channel attention: a per-channel conv to 16 scores + ``attn_dim`` values, the weighted sum over the
    channels and the 2304 -> dim projection; the position table resampled by two matrix products; the blocks.
    """
    dim, depth, _, attn = SIZES[variant]
    gh, gw = height // PATCH, width // PATCH
    patches = gh * gw
    embedding = bands * patches * (ATTN_HEADS + attn) * PATCH * PATCH + patches * bands * attn + patches * attn * dim
    position = gh * POS_GRID * POS_GRID * dim + gh * gw * POS_GRID * dim
    n = patches + 1
    per_block = n * dim * 3 * dim + 2 * n * n * dim + n * dim * dim + 2 * n * dim * 4 * dim
    return embedding + position + depth * per_block
