"""Clay v1 / v1.5 encoder, written from the published architecture facts.

Module and parameter names mirror the official implementation so that the official Lightning
checkpoints load strictly (see :mod:`trtbench.models.checkpoint`). Two deliberate generalisations:
the position grid is computed from H and W with tensor ops (Clay assumes square inputs and takes
``sqrt(L)`` in Python, which would bake the image size into an exported graph), and the wavelength
conditioned patch embedding can be evaluated once and frozen (:meth:`ClayEncoder.patch_kernel`),
which is how the fixed-band export folds it into a plain convolution.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import clay_official_state
from .heads import tap_layers
from .registry import ENCODER, ModelFacts, register_model

WAVE_DIM = 128
LATENT_TOKENS = 128
WEIGHT_SCALE = 0.02  # Clay scales the generated conv weight (not the bias) by 0.02


@dataclass(frozen=True)
class ClaySize:
    dim: int
    depth: int
    heads: int
    dim_head: int
    mlp_ratio: float
    patch_size: int = 8


CLAY_SIZES: dict[str, ClaySize] = {
    "tiny": ClaySize(192, 6, 4, 48, 2),
    "small": ClaySize(384, 6, 6, 64, 2),
    "base": ClaySize(768, 12, 12, 64, 4),
    "large": ClaySize(1024, 24, 16, 64, 4),
}


def posemb_sincos_1d(waves: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Sin-cos embedding of wavelengths in µm: ``[C] -> [C, dim]``."""
    omega = torch.arange(dim // 2, device=waves.device, dtype=torch.float32) / (dim // 2 - 1)
    omega = 1.0 / (temperature**omega)
    scaled = waves.float()[:, None] * omega[None, :]
    return torch.cat((scaled.sin(), scaled.cos()), dim=1)


def posemb_sincos_2d_with_gsd(h: torch.Tensor | int, w: torch.Tensor | int, dim: int, gsd: float | torch.Tensor,
                              temperature: float = 10000.0) -> torch.Tensor:
    """Clay's GSD-scaled 2-D position embedding, ``[h*w, dim]`` in row-major patch order.

    ``h`` and ``w`` may be 0-d tensors so the exported graph keeps them symbolic.
    """
    ys = torch.arange(h, dtype=torch.float32)
    xs = torch.arange(w, dtype=torch.float32)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    omega = torch.arange(dim // 4, dtype=torch.float32) / (dim // 4 - 1)
    omega = 1.0 / (temperature ** (2 * omega / dim)) * gsd
    y = y.flatten()[:, None] * omega[None, :]
    x = x.flatten()[:, None] * omega[None, :]
    return torch.cat((x.sin(), x.cos(), y.sin(), y.cos()), dim=1)


class FCBlock(nn.Module):
    """Residual two-layer MLP that refines the wavelength embedding."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.l1 = nn.Linear(size, size)
        self.l2 = nn.Linear(size, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.gelu(self.l2(F.gelu(self.l1(x))))


class WavesTransformer(nn.Module):
    """One transformer layer over [weight tokens; band tokens; bias token] that emits conv weights."""

    def __init__(self, wave_dim: int, output_dim: int, num_latent_tokens: int, embed_dim: int,
                 num_heads: int = 4, num_layers: int = 1) -> None:
        super().__init__()
        self.num_latent_tokens = num_latent_tokens
        layer = nn.TransformerEncoderLayer(d_model=wave_dim, nhead=num_heads, activation="gelu", dropout=0.0,
                                           norm_first=False, batch_first=True)
        # enable_nested_tensor=False: the nested fast path cannot be exported and buys nothing here.
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.fc_weight = nn.Linear(wave_dim, output_dim)
        self.fc_bias = nn.Linear(wave_dim, embed_dim)
        self.weight_tokens = nn.Parameter(torch.randn(num_latent_tokens, wave_dim) * 0.02)
        self.bias_token = nn.Parameter(torch.randn(1, wave_dim) * 0.02)

    def forward(self, waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = torch.cat([self.weight_tokens, waves, self.bias_token], dim=0)
        out = self._encode(tokens)
        band = slice(self.num_latent_tokens, -1)
        weights = self.fc_weight(out[band] + tokens[band])
        return weights, self.fc_bias(out[-1])

    def _encode(self, tokens: torch.Tensor) -> torch.Tensor:
        # Batched ([1, S, E]) so the layer takes its standard (exportable) path, not the fused fast path.
        out = tokens.unsqueeze(0)
        for layer in self.encoder.layers:
            sa = layer.self_attn(out, out, out, need_weights=False)[0]
            out = layer.norm1(out + sa)
            out = layer.norm2(out + layer.linear2(F.gelu(layer.linear1(out))))
        return out.squeeze(0)


class DynamicEmbedding(nn.Module):
    """Wavelength-conditioned patch embedding: generates a stride-``patch`` conv kernel per band set."""

    def __init__(self, patch_size: int, embed_dim: int, wave_dim: int = WAVE_DIM,
                 num_latent_tokens: int = LATENT_TOKENS) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.wave_dim = wave_dim
        self.weight_generator = WavesTransformer(wave_dim, patch_size**2 * embed_dim, num_latent_tokens, embed_dim)
        self.fclayer = FCBlock(wave_dim)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def kernel(self, waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Conv weight ``[dim, C, p, p]`` (scaled) and bias ``[dim]`` for wavelengths ``[C]`` in µm."""
        weight, bias = self.raw_kernel(waves)
        return weight * WEIGHT_SCALE, bias

    def raw_kernel(self, waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The generated weight before the 0.02 scale, and the bias: what DynamicPatchEmbed takes at run time."""
        emb = self.fclayer(posemb_sincos_1d(waves, self.wave_dim))
        weight, bias = self.weight_generator(emb)
        c, p = waves.shape[0], self.patch_size
        # Generator rows are "cin (cout k1 k2)".
        return weight.reshape(c, self.embed_dim, p, p).transpose(0, 1), bias

    def forward(self, pixels: torch.Tensor, waves: torch.Tensor) -> torch.Tensor:
        weight, bias = self.kernel(waves)
        return F.conv2d(pixels, weight, bias, stride=self.patch_size)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads = heads
        inner = heads * dim_head
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.to_qkv(self.norm(x)).reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Transformer(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(
            nn.ModuleList([Attention(dim, heads, dim_head), FeedForward(dim, mlp_dim)]) for _ in range(depth)
        )

    def forward(self, x: torch.Tensor, collect: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Final normalised tokens, plus the raw tokens after each block index in ``collect``."""
        taps = []
        for i, (attn, ff) in enumerate(self.layers):
            x = attn(x) + x
            x = ff(x) + x
            if i in collect:
                taps.append(x)
        return self.norm(x), taps


class ClayEncoder(nn.Module):
    """Clay encoder at inference (no masking): pixels [B,C,H,W] -> tokens [B, 1 + H/p * W/p, dim]."""

    def __init__(self, size: ClaySize) -> None:
        super().__init__()
        self.size = size
        self.dim = size.dim
        self.patch_size = size.patch_size
        self.patch_padding = 0  # the generated kernel is applied without padding (stride == kernel)
        self.cls_token = nn.Parameter(torch.randn(1, 1, size.dim) * 0.02)
        self.patch_embedding = DynamicEmbedding(size.patch_size, size.dim)
        self.transformer = Transformer(size.dim, size.depth, size.heads, size.dim_head,
                                       int(size.dim * size.mlp_ratio))

    def patch_kernel(self, waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.patch_embedding.kernel(waves)

    def raw_patch_kernel(self, waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.patch_embedding.raw_kernel(waves)

    def embed(self, patches: torch.Tensor, gsd: float | torch.Tensor, time: torch.Tensor | None,
              latlon: torch.Tensor | None) -> torch.Tensor:
        """Add position/time/location encodings to a patch grid ``[B, dim, h, w]``; prepend CLS."""
        b, d, h, w = patches.shape
        tokens = patches.flatten(2).transpose(1, 2)
        pos = posemb_sincos_2d_with_gsd(h, w, self.dim - 8, gsd).to(tokens.dtype)
        meta = torch.cat([_zeros_if_none(time, b, tokens), _zeros_if_none(latlon, b, tokens)], dim=1)
        encoding = torch.cat([pos.unsqueeze(0).expand(b, -1, -1), meta[:, None, :].expand(-1, h * w, -1)], dim=-1)
        cls = self.cls_token.expand(b, -1, -1)
        return torch.cat([cls, tokens + encoding], dim=1)

    def forward(self, pixels: torch.Tensor, waves: torch.Tensor, gsd: float | torch.Tensor,
                time: torch.Tensor | None = None, latlon: torch.Tensor | None = None,
                collect: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        patches = self.patch_embedding(pixels, waves)
        return self.transformer(self.embed(patches, gsd, time, latlon), collect)


def _zeros_if_none(value: torch.Tensor | None, batch: int, like: torch.Tensor) -> torch.Tensor:
    return like.new_zeros(batch, 4) if value is None else value.to(like.dtype)


# v1.5 is the released large Clay model, v1.0 the released base model; tiny and small are test sizes.
_CLAY_NAMES = (("clay_v1_5", "large", ("v1.5",), "Clay v1.5 (clay-v1.5.ckpt)"),
               ("clay_v1", "base", ("v1", "v1.0"), "Clay v1.0 base (clay-v1-base.ckpt)"),
               ("clay_large", "large", ("large",), "Clay v1.5 (clay-v1.5.ckpt)"),
               ("clay_base", "base", ("base",), "Clay v1.0 base (clay-v1-base.ckpt)"),
               ("clay_small", "small", ("small",), None),
               ("clay_tiny", "tiny", ("tiny",), None))

for _name, _variant, _aliases, _weights in _CLAY_NAMES:
    _size = CLAY_SIZES[_variant]
    register_model(_name, ModelFacts(
        family="clay", label="Clay", variant=_variant, kind=ENCODER, patch_size=_size.patch_size, input_size=256,
        band_convention="any bands: the patch kernel is generated from their centre wavelengths; GSD scales "
                        "the position embedding",
        wavelength_units="µm", normalisation="Clay's per-platform mean/std (the sensor table)",
        embed_dim=_size.dim, depth=_size.depth, upernet_layers=tap_layers(_size.depth), band_agnostic="clay",
        official_weights=_weights,
        source="Clay-foundation/model src/model.py and configs/metadata.yaml; Clay documentation",
    ), aliases=_aliases, default=_name == "clay_v1_5",
        official_state=functools.partial(clay_official_state, sizes=CLAY_SIZES))(
        lambda size=_size: ClayEncoder(size))
