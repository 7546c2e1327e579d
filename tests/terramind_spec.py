"""TerraMind v1 as released, written as data and plain tensor math, independent of trtbench's modules.

The key layout is transcribed from the official code (IBM/terratorch
``terratorch/models/backbones/terramind/model/terramind.py`` ``TerraMind``: ``encoder_embeddings``, ``encoder``,
``encoder_norm``, ``decoder_embeddings``, ``decoder``, ``decoder_norm``, ``decoder_proj_context``, ``mask_token``;
``encoder_embeddings.py`` ``ImageEncoderEmbedding`` (``proj`` without bias, ``pos_emb`` buffer, ``mod_emb``),
``ImageTokenEncoderEmbedding`` and ``SequenceEncoderEmbedding`` (``token_emb``); ``tm_utils.py`` ``Block``,
``DecoderBlock``, ``GatedMlp`` and ``LayerNorm(bias=False)`` whose zero ``bias`` is a buffer;
``terramind_register.py`` ``terramind_v1_base``: qkv/proj/mlp biases off, SwiGLU, eps 1e-6), so the released
``TerraMind_v1_base.pt`` holds these names. The tokenised, caption and decoder keys stand for all of their kind:
the encoder drops every one of them, as TerraTorch's ``checkpoint_filter_fn`` does. :func:`reference_forward`
re-derives ``TerraMindViT.forward`` (``merge_method="mean"``) in float64 from the same files.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

# dim, depth, heads
SIZES = {"tiny": (64, 4, 2), "base": (768, 12, 12), "large": (1024, 24, 16)}
PATCH, GRID = 16, 14
RAW = {"untok_sen2l2a@224": 12, "untok_sen2l1c@224": 13, "untok_sen2rgb@224": 3, "untok_sen1grd@224": 2,
       "untok_sen1rtc@224": 2, "untok_dem@224": 1}
HELD = ("untok_sen2l2a@224", "untok_sen2l1c@224", "untok_sen1grd@224", "untok_sen1rtc@224")   # trtbench's


def hidden(dim: int) -> int:
    return int(2 * dim * 4 / 3)   # GatedMlp: 2/3 of the 4x MLP width


def official_sincos(dim: int) -> torch.Tensor:
    """``build_2d_sincos_posemb(14, 14, dim)``, float64."""
    grid_w, grid_h = torch.meshgrid(torch.arange(GRID, dtype=torch.float64), torch.arange(GRID, dtype=torch.float64),
                                    indexing="ij")
    omega = 1.0 / 10000.0 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim // 4))
    out_w = torch.einsum("n,d->nd", grid_w.reshape(-1), omega)
    out_h = torch.einsum("n,d->nd", grid_h.reshape(-1), omega)
    return torch.cat([out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], dim=1)[None]


def encoder_layout(variant: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of everything trtbench's encoder holds: the blocks, ``encoder_norm`` and the held embeddings."""
    dim, depth, _ = SIZES[variant]
    keys: dict[str, tuple[int, ...]] = {"encoder_norm.weight": (dim,), "encoder_norm.bias": (dim,)}
    for key in HELD:
        e = f"encoder_embeddings.{key}."
        keys |= {e + "proj.weight": (dim, RAW[key] * PATCH * PATCH), e + "pos_emb": (1, GRID * GRID, dim),
                 e + "mod_emb": (1, 1, dim)}
    for n in range(depth):
        b = f"encoder.{n}."
        keys |= {b + "norm1.weight": (dim,), b + "norm1.bias": (dim,), b + "attn.qkv.weight": (3 * dim, dim),
                 b + "attn.proj.weight": (dim, dim), b + "norm2.weight": (dim,), b + "norm2.bias": (dim,),
                 b + "mlp.fc1.weight": (hidden(dim), dim), b + "mlp.fc2.weight": (dim, hidden(dim)),
                 b + "mlp.fc3.weight": (hidden(dim), dim)}
    return keys


def pretraining_layout(variant: str) -> dict[str, tuple[int, ...]]:
    """The released file: the encoder, the other raw, tokenised and sequence embeddings, and the decoder side."""
    dim, depth, _ = SIZES[variant]
    keys = encoder_layout(variant)
    for key in ("untok_sen2rgb@224", "untok_dem@224"):
        keys |= {f"encoder_embeddings.{key}.proj.weight": (dim, RAW[key] * PATCH * PATCH),
                 f"encoder_embeddings.{key}.pos_emb": (1, GRID * GRID, dim), f"encoder_embeddings.{key}.mod_emb": (1, 1, dim)}
    keys |= {"encoder_embeddings.tok_sen2l2a@224.token_emb.weight": (15360, dim),
             "encoder_embeddings.tok_sen2l2a@224.pos_emb": (1, GRID * GRID, dim),
             "encoder_embeddings.tok_sen2l2a@224.mod_emb": (1, 1, dim),
             "encoder_embeddings.caption.token_emb.weight": (30000, dim),
             "encoder_embeddings.caption.pos_emb": (1, 256, dim), "encoder_embeddings.caption.mod_emb": (1, 1, dim),
             "decoder_embeddings.tok_sen2l2a@224.token_emb.weight": (15360, dim),
             "decoder_embeddings.tok_sen2l2a@224.to_logits.weight": (15360, dim),
             "decoder_embeddings.tok_sen2l2a@224.pos_emb": (1, GRID * GRID, dim),
             "decoder_embeddings.tok_sen2l2a@224.mod_emb": (1, 1, dim),
             "decoder_proj_context.weight": (dim, dim), "decoder_proj_context.bias": (dim,),
             "decoder_norm.weight": (dim,), "decoder_norm.bias": (dim,), "mask_token": (1, 1, dim)}
    for n in range(depth):
        b = f"decoder.{n}."
        keys |= {b + "norm1.weight": (dim,), b + "self_attn.qkv.weight": (3 * dim, dim),
                 b + "self_attn.proj.weight": (dim, dim), b + "query_norm.weight": (dim,),
                 b + "context_norm.weight": (dim,), b + "cross_attn.q.weight": (dim, dim),
                 b + "cross_attn.kv.weight": (2 * dim, dim), b + "cross_attn.proj.weight": (dim, dim),
                 b + "norm2.weight": (dim,), b + "mlp.fc1.weight": (hidden(dim), dim),
                 b + "mlp.fc2.weight": (dim, hidden(dim)), b + "mlp.fc3.weight": (hidden(dim), dim)}
    return keys


def official_state(variant: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A released-layout state dict with seeded random weights (norm scales near 1, zero norm biases, the
    official sin-cos tables), float32 as released."""
    gen = torch.Generator().manual_seed(seed)
    dim = SIZES[variant][0]
    state = {}
    for key, shape in pretraining_layout(variant).items():
        if key.endswith("pos_emb") and shape[1] == GRID * GRID:
            state[key] = official_sincos(dim).float()
        elif "norm" in key and key.endswith(".bias"):
            state[key] = torch.zeros(shape)
        elif "norm" in key:
            state[key] = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        else:
            state[key] = 0.05 * torch.randn(shape, generator=gen)
    return state


def write_official_checkpoint(path: Path, variant: str, *, drop: str | None = None, extra: str | None = None,
                              reshape: str | None = None, seed: int = 0) -> Path:
    """The released layout with one key dropped, one unexpected key added, or one key's first dim grown by one."""
    state = official_state(variant, seed)
    if drop:
        del state[drop]
    if extra:
        state[extra] = torch.zeros(1)
    if reshape:
        state[reshape] = torch.zeros(state[reshape].shape[0] + 1, *state[reshape].shape[1:])
    torch.save(state, path)
    return path


def _layer_norm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), weight, None, 1e-6)


def reference_forward(state: dict[str, torch.Tensor], inputs: dict[str, tuple[torch.Tensor, list[int]]],
                      heads: int) -> list[torch.Tensor]:
    """``TerraMindViT.forward`` with ``merge_method="mean"``, float64: every layer's output, merged.

    ``inputs``: modality key -> (pixels ``[B, C, H, W]``, the pretrained channel index of each input band; a
    subset selects those columns of ``proj``, as ``select_modality_patch_embed_weights`` does).
    """
    s = {k: v.double() for k, v in state.items()}
    tokens = []
    for key, (pixels, channels) in inputs.items():
        e = f"encoder_embeddings.{key}."
        b, c, h, w = pixels.shape
        weight = s[e + "proj.weight"]
        weight = weight.view(weight.shape[0], PATCH * PATCH, -1)[..., channels].reshape(weight.shape[0], -1)
        # rearrange 'b d (nh ph) (nw pw) -> b (nh nw) (ph pw d)'
        patches = pixels.reshape(b, c, h // PATCH, PATCH, w // PATCH, PATCH).permute(0, 2, 4, 3, 5, 1)
        x = patches.reshape(b, (h // PATCH) * (w // PATCH), PATCH * PATCH * c) @ weight.T
        pos = s[e + "pos_emb"]
        if (h, w) != (GRID * PATCH, GRID * PATCH):   # interpolate_pos_encoding
            square = pos.reshape(1, GRID, GRID, -1).permute(0, 3, 1, 2)
            square = F.interpolate(square, size=(h // PATCH, w // PATCH), mode="bicubic", align_corners=False)
            pos = square.permute(0, 2, 3, 1).reshape(1, -1, pos.shape[-1])
        tokens.append(x + pos + s[e + "mod_emb"])
    x = torch.cat(tokens, dim=1)
    depth = 1 + max(int(k.split(".")[1]) for k in s if k.startswith("encoder."))
    out = []
    for n in range(depth):
        p = f"encoder.{n}."
        y = _layer_norm(x, s[p + "norm1.weight"])
        bsz, length, dim = y.shape
        q, k, v = (y @ s[p + "attn.qkv.weight"].T).reshape(bsz, length, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * (dim // heads) ** -0.5).softmax(dim=-1)
        x = x + ((attn @ v).transpose(1, 2).reshape(bsz, length, dim) @ s[p + "attn.proj.weight"].T)
        y = _layer_norm(x, s[p + "norm2.weight"])
        gated = F.silu(y @ s[p + "mlp.fc1.weight"].T) * (y @ s[p + "mlp.fc3.weight"].T)
        x = x + gated @ s[p + "mlp.fc2.weight"].T
        out.append(x.clone())
    out[-1] = _layer_norm(x, s["encoder_norm.weight"])
    count = len(inputs)
    return [o.reshape(o.shape[0], count, -1, o.shape[-1]).mean(dim=1) for o in out]   # split, stack, mean


def encoder_macs(variant: str, channels: list[int], height: int, width: int) -> int:
    """Analytic MACs at batch 1 of the exported encoder: per modality the patch projection and the two position
    matrix products; the blocks over every modality's tokens (qkv, the two attention products, proj, SwiGLU)."""
    dim, depth, _ = SIZES[variant]
    gh, gw = height // PATCH, width // PATCH
    patches = gh * gw
    per_modality = [c * PATCH * PATCH * dim * patches + gh * GRID * GRID * dim + gh * gw * GRID * dim
                    for c in channels]
    n = patches * len(channels)
    per_block = n * dim * 3 * dim + 2 * n * n * dim + n * dim * dim + 3 * n * dim * hidden(dim)
    return sum(per_modality) + depth * per_block
