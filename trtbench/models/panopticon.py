"""Panopticon (any-sensor ViT-B/14, DINOv2 pre-training), written from the published architecture facts.

Sources (facts only, no code taken): Waldmann et al., "Panopticon: Advancing Any-Sensor Foundation Models for
Earth Observation", arXiv:2503.10845 (CVPR 2025 EarthVision); the official repository Panopticon-FM/panopticon
(``dinov2/models/panopticon.py``: ``PanopticonPE``, ``Conv3dWrapper``, ``ChnAttn``, ``ChnEmb``,
``CrossAttnNoQueryProj``; ``dinov2/models/vision_transformer.py``: ``DinoVisionTransformer``,
``interpolate_pos_encoding``; ``dinov2/layers/block.py``, ``layer_scale.py``; ``hubconf.py``:
``_panopticon_vitb14`` and the strict load of ``panopticon_vitb14_teacher.pth``; ``README.md``: 224 x 224
inputs with standard-normal (per-channel z-score) normalisation, chn_ids in nm, blocks 3, 5, 7, 11 for dense
tasks; ``dinov2/configs/data/satellites/sentinel1.yaml``: the SAR channel ids); torchgeo's
``torchgeo/models/panopticon.py`` (the same patch embedding on timm's ``vit_base_patch14_dinov2``).

What the released teacher computes, and how this module names it (the official names, so the release loads
strictly):

* ``patch_embed`` (``PanopticonPE``): ``conv3d.conv3d``, a ``1 x 14 x 14`` Conv3d, turns every channel's
  patch into its own token of width ``attn_dim`` 2304; ``chnfus`` (``ChnAttn``) adds the channel's embedding
  (``chnemb``) and reduces the channels of each patch with one cross-attention (``xattn``, 16 heads): the
  query is the learned ``query`` itself (no query projection, scaled by head_dim ** -0.5), keys and values
  are ``inproj_k``/``inproj_v`` (no bias), no output projection, no layer norm; ``proj`` maps 2304 -> 768.
* Channel ids (``chnemb``, ``ChnEmb``): an optical channel is its SRF mean wavelength in nm, floored to a
  whole nm, embedded with a 1-D sin-cos of width 2304 (frequencies ``10000 ** (-i / 1152)``); a SAR channel
  is a negative id ``-1 .. -12``: polarisation VV, VH, HH, HV (``-1 .. -4``: orbit unknown, the mean of the
  two orbit rows), the same ascending (``-5 .. -8``) and descending (``-9 .. -12``), its embedding the
  concatenation of learned transmit, receive (``embed_transmit``/``embed_receive``, 768 each) and orbit
  (``embed_orbit``) rows.
* ``cls_token``; ``pos_embed`` ``[1, 1 + 37 * 37, 768]``, stored for DINOv2's legacy 518 input although
  training ran at 224: every other grid resamples it bicubically (A = -0.75, edge-clamped) with DINOv2's
  offset, the scale being ``(grid + 0.1) / 37`` rather than ``grid / 37``; a 224 input (16 x 16) is
  resampled too.
* ``blocks``: DINOv2 blocks (pre-norm, LayerNorm eps 1e-6, qkv bias, MLP ratio 4, exact GELU) with layer scale
  (``ls1.gamma``, ``ls2.gamma``); no register tokens; ``norm`` the final LayerNorm. ``mask_token`` is
  pre-training only and dropped on load.

trtbench's binding: the model reads the metadata's wavelengths (µm, like every family). A positive value is an
optical band, turned into Panopticon's id as ``floor(1000 * w + 1e-3)`` nm (the 1e-3 keeps float32 µm such as
0.443 = 442.99998 nm on 443); the ``sentinel-1-rtc`` table's VV/VH pseudo-wavelengths (Clay's 3.5 and 4.0 µm)
are read as Panopticon's VV and VH ids (-1, -2; orbit unknown); a value <= 0 is taken as a Panopticon SAR id.
Note that the official configurations feed SRF means (Sentinel-2 B04 664.63 nm -> 664), while the sensor
tables give centre wavelengths (0.665 µm -> 665); a band-agnostic artifact takes the official values with
``--wavelengths`` (e.g. 0.66463) where the authors' inputs must be matched exactly. Other SAR ids (HH, HV, a
known orbit) reach the model only through the band-agnostic ``wavelengths`` input (``--wavelengths`` takes
positive values only).

Deployment (:class:`FusedChannelAttention`): keys and values are linear in the channel token, so the key
projection, the query and the scale fold into a 16-output per-channel convolution (one score per head) and
the value projection into the 2304-output one; the channel embedding enters as a per-channel bias. A fixed-band
export makes those biases constants; the band-agnostic export computes them from the ``wavelengths`` input.
Either way the graph is plain ONNX ops: a Conv with one input channel over ``[B * C, 1, H, W]`` (TensorRT
needs a static Conv input channel count, which this is), then Softmax and MatMul over the channel axis, which
TensorRT takes with a dynamic extent like any other attention length; no ``DynamicPatchEmbed`` custom op (a
generated convolution kernel) applies, and none is needed. The fold removes the official key/value
projections' ``2 * 2304 ** 2`` MACs per channel and patch (the authors' README calls them redundant).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from .heads import tap_layers
from .registry import ENCODER, ModelFacts, register_model
from .vit_blocks import Attention, Mlp, run_blocks

SAR_IDS = 12                    # -1 .. -12: 4 polarisations x (orbit unknown, ascending, descending)
TABLE_SAR = {3.5: -1.0, 4.0: -2.0}  # sentinel-1-rtc's VV/VH pseudo-wavelengths (µm) -> Panopticon's VV/VH ids
UM_TO_NM = 1000.0
NM_ROUNDING = 1e-3              # float32 µm -> nm lands within 1e-4 of the whole nm it means
POS_OFFSET = 0.1                # DINOv2's interpolate_offset
CUBIC_A = -0.75                 # PyTorch's (and ONNX Resize's) bicubic coefficient
PRETRAINING_KEYS = ("mask_token",)
# Optical ids Panopticon was pre-trained on span EnMAP/AVIRIS (from ~0.4 µm) to Landsat 9's thermal band
# (12.0 µm) (the satellite configs); the sentinel-1-rtc table's VV/VH values lie inside. SAR ids are <= 0.
TRAINED_RANGE = [0.4, 12.02]


@dataclass(frozen=True)
class PanopticonSize:
    dim: int
    depth: int
    heads: int
    attn_dim: int = 2304     # width of the per-channel tokens and of the channel cross-attention
    attn_heads: int = 16
    mlp_ratio: float = 4.0
    patch_size: int = 14
    img_size: int = 224      # the pre-training input edge
    pos_size: int = 518      # the edge the stored position table is laid out for (37 x 37)
    layer_scale: float = 1e-5


PANOPTICON_SIZES: dict[str, PanopticonSize] = {
    "tiny": PanopticonSize(64, 4, 2, attn_dim=96),   # test size only (no released weights)
    "base": PanopticonSize(768, 12, 12),
}


def channel_ids(waves: torch.Tensor) -> torch.Tensor:
    """trtbench wavelengths (µm; see the module docstring) -> Panopticon's channel ids (nm, or SAR ids <= -1)."""
    ids = torch.floor(waves * UM_TO_NM + NM_ROUNDING)
    for wavelength, sar in TABLE_SAR.items():
        ids = torch.where(waves == wavelength, torch.full_like(waves, sar), ids)
    return torch.where(waves <= 0, waves, ids)


def sincos(ids: torch.Tensor, dim: int) -> torch.Tensor:
    """The 1-D sin-cos embedding of channel ids ``[C] -> [C, dim]`` (sin half, then cos half).

    The frequencies are float32 at any model dtype, as the official code builds them: ids reach ~12000 nm,
    so a float64 frequency table would move the fastest angles by ~1e-4 rad from the released model's.
    """
    omega = torch.arange(dim // 2, dtype=torch.float32, device=ids.device) / (dim / 2.0)
    angles = ids[:, None] * (1.0 / 10000**omega).to(ids.dtype)[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ChnEmb(nn.Module):
    """Channel embeddings: sin-cos of the nm id for optical channels, learned SAR rows for ids -1 .. -12."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        part = embed_dim // 3
        self.embed_transmit = nn.Parameter(torch.zeros(2, part))              # V, H
        self.embed_receive = nn.Parameter(torch.zeros(2, part))               # V, H
        self.embed_orbit = nn.Parameter(torch.zeros(2, embed_dim - 2 * part))  # ascending, descending

    def sar_table(self) -> torch.Tensor:
        """``[12, embed_dim]``: row ``-(id + 1)`` for SAR id ``id``."""
        pol = torch.arange(SAR_IDS, device=self.embed_orbit.device) % 4          # VV, VH, HH, HV
        transmit = self.embed_transmit[pol // 2]                                # V V H H
        receive = self.embed_receive[torch.tensor([0, 1, 1, 0], device=pol.device)[pol]]  # V H H V
        orbits = torch.cat([self.embed_orbit.mean(dim=0, keepdim=True), self.embed_orbit])  # unknown, asc, desc
        orbit = orbits[torch.arange(SAR_IDS, device=pol.device) // 4]
        return torch.cat([transmit, receive, orbit], dim=1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Channel ids ``[C]`` -> embeddings ``[C, embed_dim]`` (computed in the ids' dtype)."""
        sar = ids < 0
        rows = (-(ids + 1)).clamp(0, SAR_IDS - 1).long()
        optical = sincos(torch.where(sar, torch.zeros_like(ids), ids), self.embed_dim)
        return torch.where(sar[:, None], self.sar_table().to(optical.dtype)[rows], optical)


class Conv3dWrapper(nn.Module):
    """Each channel's patches projected on their own: a ``1 x p x p`` Conv3d with one input channel."""

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.conv3d = nn.Conv3d(1, embed_dim, kernel_size=(1, patch_size, patch_size),
                                stride=(1, patch_size, patch_size))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, C, L, attn_dim]`` (L = patches, row-major)."""
        return self.conv3d(pixels.unsqueeze(1)).flatten(3).permute(0, 2, 3, 1)


class CrossAttnNoQueryProj(nn.Module):
    """Cross-attention of the learned query over the channel tokens: key/value projections only."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.inproj_k = nn.Linear(dim, dim, bias=False)
        self.inproj_v = nn.Linear(dim, dim, bias=False)

    def forward(self, query: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """``query [1, D]``, ``tokens [N, C, D]`` -> ``[N, D]``."""
        n, c, d = tokens.shape
        h = self.num_heads
        q = (query * self.scale).reshape(1, h, 1, d // h)
        k = self.inproj_k(tokens).reshape(n, c, h, d // h).transpose(1, 2)
        v = self.inproj_v(tokens).reshape(n, c, h, d // h).transpose(1, 2)
        attn = torch.softmax(q @ k.transpose(-1, -2), dim=-1)                # [N, h, 1, C]
        return (attn @ v).reshape(n, d)


class ChnAttn(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.chnemb = ChnEmb(dim)
        self.query = nn.Parameter(torch.randn(1, 1, dim))
        self.xattn = CrossAttnNoQueryProj(dim, num_heads)

    def forward(self, tokens: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``[B, C, L, D]`` channel tokens + ids ``[C]`` -> ``[B, L, D]``."""
        b, c, length, d = tokens.shape
        tokens = tokens + self.chnemb(ids).to(tokens.dtype)[None, :, None]
        fused = self.xattn(self.query.reshape(1, d), tokens.transpose(1, 2).reshape(b * length, c, d))
        return fused.reshape(b, length, d)


class PanopticonPE(nn.Module):
    """Panopticon's patch embedding, the official math: per-channel tokens, channel cross-attention, projection."""

    def __init__(self, size: PanopticonSize) -> None:
        super().__init__()
        self.patch_size = size.patch_size
        self.conv3d = Conv3dWrapper(size.patch_size, size.attn_dim)
        self.chnfus = ChnAttn(size.attn_dim, size.attn_heads)
        self.proj = nn.Linear(size.attn_dim, size.dim)

    def forward(self, pixels: torch.Tensor, waves: torch.Tensor) -> torch.Tensor:
        """Pixels ``[B, C, H, W]`` + wavelengths ``[C]`` -> patch grid ``[B, dim, H/p, W/p]``."""
        b, _, height, width = pixels.shape
        fused = self.proj(self.chnfus(self.conv3d(pixels), channel_ids(waves.to(pixels.dtype))))
        return fused.transpose(1, 2).reshape(b, -1, height // self.patch_size, width // self.patch_size)


class FusedChannelAttention(nn.Module):
    """The same patch embedding with keys, query and values folded into one per-channel convolution.

    ``waves`` given: the channel biases are constants (fixed-band export); None: they are computed from the
    wavelengths passed to ``forward`` (band-agnostic export). Folded in float64 from ``embedding``'s
    parameters at construction; the result has their dtype.
    """

    def __init__(self, embedding: PanopticonPE, waves: torch.Tensor | None = None) -> None:
        super().__init__()
        chnfus = embedding.chnfus
        attn = chnfus.xattn
        conv = embedding.conv3d.conv3d
        dtype = conv.weight.dtype
        d, heads, p = conv.weight.shape[0], attn.num_heads, embedding.patch_size
        self.patch_size, self.heads, self.attn_dim = p, heads, d
        kernel = conv.weight.detach().double().reshape(d, p * p)
        head_of = torch.arange(d, device=kernel.device) // (d // heads)
        query = chnfus.query.detach().double().reshape(d) * attn.scale
        per_head_query = torch.zeros(heads, d, dtype=torch.float64, device=kernel.device)
        per_head_query[head_of, torch.arange(d, device=kernel.device)] = query
        # score_h = q_h . (W_k t) and value = W_v t are linear in the channel token t = conv(x) + b + e.
        token_map = torch.cat([per_head_query @ attn.inproj_k.weight.detach().double(),
                               attn.inproj_v.weight.detach().double()])          # [heads + d, d]
        self.register_buffer("kernel", (token_map @ kernel).reshape(heads + d, 1, p, p).to(dtype))
        self.register_buffer("token_map", token_map.to(dtype))
        self.register_buffer("token_bias", conv.bias.detach().to(dtype))
        self.proj = embedding.proj
        self.chnemb = chnfus.chnemb
        self.register_buffer("channel_bias", None if waves is None else self.bias(waves.to(dtype)))

    def bias(self, waves: torch.Tensor) -> torch.Tensor:
        """Per-channel score and value offsets ``[C, heads + d]`` of wavelengths ``[C]`` (µm)."""
        tokens = self.token_bias + self.chnemb(channel_ids(waves)).to(self.token_bias.dtype)
        return tokens @ self.token_map.T

    def forward(self, pixels: torch.Tensor, waves: torch.Tensor | None = None) -> torch.Tensor:
        b, c, height, width = pixels.shape
        p, heads, d = self.patch_size, self.heads, self.attn_dim
        bias = self.channel_bias if waves is None else self.bias(waves)
        out = F.conv2d(pixels.reshape(b * c, 1, height, width), self.kernel, stride=p)
        grid_h, grid_w = out.shape[-2], out.shape[-1]
        n = grid_h * grid_w  # every shape spelled out (no -1): export then proves nothing by division
        out = out.reshape(b, c, heads + d, n).permute(0, 3, 1, 2) + bias                  # [B, L, C, heads + d]
        attn = torch.softmax(out[..., :heads], dim=2).permute(0, 1, 3, 2).unsqueeze(3)     # [B, L, heads, 1, C]
        values = out[..., heads:].reshape(b, n, c, heads, d // heads).transpose(2, 3)      # [B, L, heads, C, hd]
        fused = self.proj((attn @ values).reshape(b, n, d))                                # [B, L, dim]
        return fused.transpose(1, 2).reshape(b, self.proj.out_features, grid_h, grid_w)


class LayerScale(nn.Module):
    def __init__(self, dim: int, init: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """DINOv2's pre-norm block with layer scale (no drop path at inference)."""

    def __init__(self, size: PanopticonSize) -> None:
        super().__init__()
        dim = size.dim
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, size.heads)
        self.ls1 = LayerScale(dim, size.layer_scale)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * size.mlp_ratio))
        self.ls2 = LayerScale(dim, size.layer_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


def bicubic_matrix(length: int, stored: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[length, stored]``: DINOv2's bicubic resampling of ``stored`` rows to ``length`` as a matrix.

    Scale ``(length + 0.1) / stored`` (the offset), half-pixel centres, A = -0.75, indices clamped to the
    edge, as ``F.interpolate(mode="bicubic", scale_factor=...)``. A matrix (MatMul in ONNX) rather than a
    Resize, so a dynamic grid needs nothing beyond plain ops.
    """
    out = torch.arange(length, dtype=dtype, device=device)
    count = out[-1:] + 1  # the length as a tensor: export keeps the arithmetic in the graph, not in symbolic shapes
    src = (out + 0.5) * (stored / (count + POS_OFFSET)) - 0.5
    base = torch.floor(src)[:, None]
    offsets = torch.tensor([-1.0, 0.0, 1.0, 2.0], dtype=dtype, device=device)
    taps = base + offsets                                                   # [length, 4]: the 4 source rows
    # their distances t + 1, t, 1 - t, 2 - t (t = src - base in [0, 1)): the inner two within 1, the outer beyond
    x = (src[:, None] - taps) * torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=dtype, device=device)
    inner = torch.tensor([False, True, True, False], device=device)
    a = CUBIC_A
    weight = torch.where(inner, ((a + 2) * x - (a + 3)) * x * x + 1, ((a * x - 5 * a) * x + 8 * a) * x - 4 * a)
    columns = torch.arange(stored, dtype=dtype, device=device)
    hits = (taps.clamp(0, stored - 1)[:, :, None] == columns).to(dtype)     # [length, 4, stored]
    return (weight[:, :, None] * hits).sum(dim=1)


class PanopticonEncoder(nn.Module):
    """Panopticon at inference: pixels [B,C,H,W] + wavelengths [C] -> tokens [B, 1 + H/14 * W/14, dim]."""

    def __init__(self, size: PanopticonSize) -> None:
        super().__init__()
        self.size = size
        self.dim = size.dim
        self.patch_size = size.patch_size
        self.patch_padding = 0
        self.pos_grid = size.pos_size // size.patch_size
        self.patch_embed = PanopticonPE(size)
        self.cls_token = nn.Parameter(torch.randn(1, 1, size.dim) * 1e-6)
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + self.pos_grid**2, size.dim) * 0.02)
        self.blocks = nn.ModuleList(Block(size) for _ in range(size.depth))
        self.norm = nn.LayerNorm(size.dim, eps=1e-6)
        for m in self.modules():  # timm's ViT init, as DINOv2 applies it
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def patch_embedding(self, pixels: torch.Tensor, waves: torch.Tensor) -> torch.Tensor:
        return self.patch_embed(pixels, waves)

    def fixed_patch_embedding(self, waves: torch.Tensor) -> nn.Module:
        """The patch embedding for one band set with its channel embeddings as constants (``GeoModel.folded``)."""
        return FusedChannelAttention(self.patch_embed, waves)

    def band_agnostic_embedding(self) -> nn.Module:
        """``(pixels, wavelengths) -> patch grid`` in plain ops, for the band-agnostic export."""
        return FusedChannelAttention(self.patch_embed)

    def grid_position_embedding(self, h: int, w: int) -> torch.Tensor:
        """Position rows for an ``h x w`` patch grid ``[1, h*w, dim]``: the stored table, resampled bicubically."""
        g, table = self.pos_grid, self.pos_embed[0, 1:]
        rows = bicubic_matrix(h, g, table.dtype, table.device)
        cols = bicubic_matrix(w, g, table.dtype, table.device)
        resampled = cols @ (rows @ table.reshape(g, g * self.dim)).reshape(h, g, self.dim)  # [h, w, dim]
        return resampled.reshape(1, h * w, self.dim)

    def embed(self, patches: torch.Tensor, gsd: float | torch.Tensor | None = None, time: torch.Tensor | None = None,
              latlon: torch.Tensor | None = None) -> torch.Tensor:
        """Patch grid ``[B, dim, h, w]`` -> tokens with positions, CLS first (no GSD, time or place)."""
        b, _, h, w = patches.shape
        tokens = patches.flatten(2).transpose(1, 2) + self.grid_position_embedding(h, w)
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(b, -1, -1)
        return torch.cat([cls, tokens], dim=1)

    def transformer(self, x: torch.Tensor, collect: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Final normalised tokens, plus the raw tokens after each block index in ``collect``."""
        x, taps = run_blocks(self.blocks, x, collect)
        return self.norm(x), taps

    def forward(self, pixels: torch.Tensor, waves: torch.Tensor,
                collect: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.transformer(self.embed(self.patch_embedding(pixels, waves)), collect)


def infer_panopticon_variant(state: Mapping[str, torch.Tensor]) -> str | None:
    """The Panopticon size whose width, depth and channel-attention width match a state dict, if any."""
    cls, query = state.get("cls_token"), state.get("patch_embed.chnfus.query")
    if cls is None or query is None:
        return None
    depth = 1 + max((int(k.split(".")[1]) for k in state if k.startswith("blocks.")), default=-1)
    return next((name for name, s in PANOPTICON_SIZES.items()
                 if (s.dim, s.depth, s.attn_dim) == (cls.shape[-1], depth, query.shape[-1])), None)


def panopticon_official_state(ckpt: Mapping, path: str | Path, variant: str) -> dict[str, torch.Tensor]:
    """The encoder tensors of a released Panopticon teacher (``mask_token`` dropped), refused if another size."""
    if "patch_embed.chnfus.query" not in ckpt:
        keys = sorted(ckpt)[:5]
        raise CheckpointError(f"{path} is not a Panopticon checkpoint: no 'patch_embed.chnfus.*' keys "
                              f"(first keys: {keys})", "pass panopticon_vitb14_teacher.pth")
    encoder = {k: v for k, v in ckpt.items() if not k.startswith(PRETRAINING_KEYS)}
    found = infer_panopticon_variant(encoder)
    if found is not None and found != variant:
        raise CheckpointError(f"{path} holds a Panopticon '{found}' encoder but the model is Panopticon '{variant}'",
                              f"use --variant {found}")
    return encoder


for _variant, _size in PANOPTICON_SIZES.items():
    register_model(f"panopticon_{_variant}", ModelFacts(
        family="panopticon", label="Panopticon", variant=_variant, kind=ENCODER, patch_size=_size.patch_size,
        input_size=_size.img_size,
        band_convention="any optical bands (by wavelength) and Sentinel-1 polarisations: one token per channel "
                        "and patch, fused by cross-attention conditioned on each channel's embedding (no GSD)",
        wavelength_units="µm (floored to whole nm inside); sentinel-1-rtc VV/VH (3.5/4.0) -> SAR ids -1/-2; "
                         "values <= 0 are Panopticon SAR ids",
        normalisation="per-sensor mean/std (standard-normal per channel, as pre-trained; the sensor table)",
        embed_dim=_size.dim, depth=_size.depth, upernet_layers=tap_layers(_size.depth), band_agnostic="panopticon",
        official_weights="Panopticon ViT-B/14 teacher (panopticon_vitb14_teacher.pth)" if _variant == "base" else None,
        source="arXiv:2503.10845; Panopticon-FM/panopticon dinov2/models/panopticon.py, "
               "dinov2/models/vision_transformer.py, hubconf.py, README.md; torchgeo torchgeo/models/panopticon.py",
    ), aliases=(_variant,), default=_variant == "base", official_state=panopticon_official_state)(
        lambda size=_size: PanopticonEncoder(size))
