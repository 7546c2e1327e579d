"""DOFA v1 (Dynamic One-For-All) encoder, ViT-B/16 and ViT-L/16, written from the published architecture facts.

Sources (facts only, no code taken): Xiong et al., "Neural Plasticity-Inspired Foundation Model for Observing
the Earth Crossing Modalities", arXiv:2403.15356 (2024); the official repository zhu-xlab/DOFA
(``dofa_v1.py``: ``OFAViT``, ``vit_base_patch16``, ``vit_large_patch16``; ``wave_dynamic_layer.py``:
``Dynamic_MLP_OFA``, ``TransformerWeightGenerator``, ``FCResLayer``; ``README.md``: the keys of the released
``DOFA_ViT_base_e100.pth`` beyond the encoder, and the per-sensor normalisation); torchgeo's
``torchgeo/models/dofa.py`` (the same architecture, ``dofa_base_patch16_224`` / ``dofa_large_patch16_224``).

What the released encoder computes, and how this module names it (the official module and parameter
names, so the release loads strictly):

* ``patch_embed`` (``Dynamic_MLP_OFA``): wavelengths in µm, times 1000, embedded with a 1-D sin-cos of
  width 128 (frequencies ``10000 ** (-i / 64)``); ``fclayer`` (``FCResLayer``: ``x + relu(w2(relu(w1(x))))``);
  ``weight_generator`` (``TransformerWeightGenerator``): one post-norm ``nn.TransformerEncoder`` layer
  (``transformer_encoder``, width 128, 4 heads, feed-forward 2048, GELU) over
  [128 ``weight_tokens``; one token per band; ``bias_token``]; ``fc_weight`` of (band outputs + band
  embeddings) gives ``[C, 16 * 16 * D]``; each band's row is its ``(16, 16, D)`` kernel slice, permuted to the
  ``[D, C, 16, 16]`` conv kernel. This is the layout fixed in August 2024 (torchgeo pull request 2256, "DOFA:
  fix bug in patch embedding"; the official code marks it "Fix bug"), for which the released weights were
  retrained; the first code *viewed* the same memory as ``[D, C, 16, 16]``, mixing bands, and the weights
  published since the fix do not work with it. ``fc_bias`` of the last output gives the bias; kernel and bias
  are scaled by 0.01 and the convolution has stride 16 and **padding 1** (so a 224 input gives a 14 x 14 grid and the last pixel row
  and column are never read).
* ``cls_token``, and ``pos_embed`` ``[1, 1 + 14 * 14, D]``: MAE's fixed 2-D sin-cos table, stored in the
  checkpoint (loaded, not recomputed); the CLS token gets row 0.
* ``blocks``: timm ViT blocks (pre-norm, qkv bias, LayerNorm eps 1e-6, MLP ratio 4, exact GELU);
  ``norm``: the MAE encoder's final LayerNorm, kept in the release.

Deliberate generalisations, as for Clay: the outputs are the normalised tokens (patch features and CLS),
not the pooled ``fc_norm``/``head`` classifier, which the release does not contain; and for a grid other
than 14 x 14 the position table is resampled bilinearly (the official code accepts 224 only; timm would
resample bicubically, but TensorRT's Resize takes nearest and linear only; resampling to the same size is
exactly the identity, so at 224 nothing changes). DOFA uses no GSD, time
or location. The released files are plain state dicts (MAE training checkpoints ``{"model": ...}`` are
read too); ``mask_token`` and ``projector.*`` are pretraining-only and dropped. torchgeo loads its
re-packaged ``dofa_base_patch16_224-7cc0f413.pth`` into a model without ``norm`` and asserts no unexpected
keys, so that file lacks ``norm.*`` and is refused naming those two keys. DOFA v2 (patch 14, layer scale) is
a different model and not covered here.
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
from .vit_blocks import Block, resample_positions, run_blocks

WAVE_DIM = 128          # width of the wavelength embedding and of the generator
WEIGHT_TOKENS = 128     # learned tokens the generator reads the kernel from
GENERATOR_FFN = 2048    # nn.TransformerEncoderLayer's default feed-forward width
UM_TO_NM = 1000.0       # the generator embeds wavelengths in nm
KERNEL_SCALE = 0.01     # DOFA scales the generated weight and bias by 0.01
PATCH_PADDING = 1
PRETRAINING_KEYS = ("mask_token", "projector.")


@dataclass(frozen=True)
class DOFASize:
    dim: int
    depth: int
    heads: int
    mlp_ratio: float = 4.0
    patch_size: int = 16
    img_size: int = 224   # pre-training crop: the position table's grid is img_size // patch_size


DOFA_SIZES: dict[str, DOFASize] = {
    "tiny": DOFASize(64, 4, 2),   # test size only (no released weights)
    "base": DOFASize(768, 12, 12),
    "large": DOFASize(1024, 24, 16),
}


def wavelength_embedding(waves: torch.Tensor, dim: int = WAVE_DIM) -> torch.Tensor:
    """DOFA's 1-D sin-cos embedding of wavelengths given in µm (embedded in nm): ``[C] -> [C, dim]``.

    Computed in the wavelengths' floating dtype (float32 as DOFA does; float64 for reference checks).
    """
    dtype = waves.dtype if waves.is_floating_point() else torch.float32
    omega = torch.arange(dim // 2, device=waves.device, dtype=dtype) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = (waves.to(dtype) * UM_TO_NM)[:, None] * omega[None, :]
    return torch.cat((angles.sin(), angles.cos()), dim=1)


class FCResLayer(nn.Module):
    """Residual two-layer ReLU MLP that refines the wavelength embedding."""

    def __init__(self, size: int = WAVE_DIM) -> None:
        super().__init__()
        self.w1 = nn.Linear(size, size)
        self.w2 = nn.Linear(size, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.relu(self.w2(F.relu(self.w1(x))))


class TransformerWeightGenerator(nn.Module):
    """One transformer layer over [weight tokens; band tokens; bias token] that emits the kernel and bias."""

    def __init__(self, input_dim: int, output_dim: int, embed_dim: int, num_heads: int = 4) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=input_dim, nhead=num_heads, dim_feedforward=GENERATOR_FFN,
                                           activation="gelu", dropout=0.0, norm_first=False)
        # enable_nested_tensor=False: the nested fast path cannot be exported and buys nothing here.
        self.transformer_encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.fc_weight = nn.Linear(input_dim, output_dim)
        self.fc_bias = nn.Linear(input_dim, embed_dim)
        self.weight_tokens = nn.Parameter(torch.randn(WEIGHT_TOKENS, input_dim) * 0.02)
        self.bias_token = nn.Parameter(torch.randn(1, input_dim) * 0.02)

    def forward(self, bands: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = torch.cat([self.weight_tokens, bands, self.bias_token], dim=0)
        out = self._encode(tokens)
        return self.fc_weight(out[WEIGHT_TOKENS:-1] + bands), self.fc_bias(out[-1])

    def _encode(self, tokens: torch.Tensor) -> torch.Tensor:
        # The layer's math spelled out on [S, 1, E] (sequence first, as the layer is built), so export takes
        # the standard attention path rather than the fused fast path.
        out = tokens.unsqueeze(1)
        for layer in self.transformer_encoder.layers:
            sa = layer.self_attn(out, out, out, need_weights=False)[0]
            out = layer.norm1(out + sa)
            out = layer.norm2(out + layer.linear2(F.gelu(layer.linear1(out))))
        return out.squeeze(1)


class DynamicPatchEmbedding(nn.Module):
    """DOFA's wavelength-conditioned patch embedding (the official ``Dynamic_MLP_OFA``)."""

    def __init__(self, patch_size: int, embed_dim: int, wave_dim: int = WAVE_DIM) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.wave_dim = wave_dim
        self.weight_generator = TransformerWeightGenerator(wave_dim, patch_size**2 * embed_dim, embed_dim)
        self.fclayer = FCResLayer(wave_dim)
        for m in [*self.weight_generator.modules(), *self.fclayer.modules()]:
            if isinstance(m, nn.Linear):  # the official init: Xavier-uniform weights, biases 0.01
                nn.init.xavier_uniform_(m.weight)
                nn.init.constant_(m.bias, 0.01)

    def raw_kernel(self, waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unscaled kernel ``[D, C, p, p]`` and bias ``[D]``: what DynamicPatchEmbed takes at run time."""
        weight, bias = self.weight_generator(self.fclayer(wavelength_embedding(waves, self.wave_dim)))
        p = self.patch_size
        # Each band's row of the generator's [C, p*p*D] output is its (p, p, D) kernel slice, moved to the
        # conv layout [D, C, p, p] (the fixed layout of the released weights, see the module docstring).
        return weight.reshape(-1, p, p, self.embed_dim).permute(3, 0, 1, 2), bias

    def kernel(self, waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The conv weight and bias for wavelengths ``[C]`` in µm, both scaled by 0.01."""
        weight, bias = self.raw_kernel(waves)
        return weight * KERNEL_SCALE, bias * KERNEL_SCALE

    def forward(self, pixels: torch.Tensor, waves: torch.Tensor) -> torch.Tensor:
        weight, bias = self.kernel(waves)
        return F.conv2d(pixels, weight, bias, stride=self.patch_size, padding=PATCH_PADDING)


def sincos_position_table(dim: int, grid: int) -> torch.Tensor:
    """MAE's fixed 2-D sin-cos table ``[1 + grid*grid, dim]`` (CLS row zero): the init of ``pos_embed``."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4.0))
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64),
                            indexing="ij")
    x = xs.reshape(-1, 1) * omega
    y = ys.reshape(-1, 1) * omega
    table = torch.cat([x.sin(), x.cos(), y.sin(), y.cos()], dim=1)
    return torch.cat([torch.zeros(1, dim, dtype=torch.float64), table]).float()


class DOFAEncoder(nn.Module):
    """DOFA encoder at inference: pixels [B,C,H,W] + wavelengths [C] -> tokens [B, 1 + H/16 * W/16, dim]."""

    def __init__(self, size: DOFASize) -> None:
        super().__init__()
        self.size = size
        self.dim = size.dim
        self.patch_size = size.patch_size
        self.patch_padding = PATCH_PADDING
        self.pos_grid = size.img_size // size.patch_size
        self.patch_embed = DynamicPatchEmbedding(size.patch_size, size.dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, size.dim) * 0.02)
        self.pos_embed = nn.Parameter(sincos_position_table(size.dim, self.pos_grid)[None], requires_grad=False)
        self.blocks = nn.ModuleList(Block(size.dim, size.heads, size.mlp_ratio) for _ in range(size.depth))
        self.norm = nn.LayerNorm(size.dim, eps=1e-6)
        for block in self.blocks:  # timm/MAE init: Xavier-uniform linears, zero biases
            for m in block.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)

    def patch_embedding(self, pixels: torch.Tensor, waves: torch.Tensor) -> torch.Tensor:
        return self.patch_embed(pixels, waves)

    def patch_kernel(self, waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.patch_embed.kernel(waves)

    def raw_patch_kernel(self, waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.patch_embed.raw_kernel(waves)

    def grid_position_embedding(self, h: int, w: int) -> torch.Tensor:
        """Position rows for an ``h x w`` patch grid ``[1, h*w, dim]``: the stored table, resampled bilinearly."""
        return resample_positions(self.pos_embed[:, 1:], self.pos_grid, h, w)

    def embed(self, patches: torch.Tensor, gsd: float | torch.Tensor | None = None, time: torch.Tensor | None = None,
              latlon: torch.Tensor | None = None) -> torch.Tensor:
        """Patch grid ``[B, dim, h, w]`` -> tokens with positions, CLS first (DOFA uses no GSD, time or place)."""
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


def infer_dofa_variant(state: Mapping[str, torch.Tensor]) -> str | None:
    """The DOFA size whose width and depth match an encoder state dict, if any."""
    cls = state.get("cls_token")
    if cls is None:
        return None
    depth = 1 + max((int(k.split(".")[1]) for k in state if k.startswith("blocks.")), default=-1)
    return next((name for name, s in DOFA_SIZES.items() if s.dim == cls.shape[-1] and s.depth == depth), None)


def dofa_official_state(ckpt: Mapping, path: str | Path, variant: str) -> dict[str, torch.Tensor]:
    """The encoder tensors of a released DOFA file (pretraining-only keys dropped), refused if another size."""
    state = ckpt.get("model", ckpt)  # MAE-style training checkpoints keep the weights under "model"
    if not isinstance(state, Mapping) or "patch_embed.weight_generator.fc_weight.weight" not in state:
        keys = sorted(state)[:5] if isinstance(state, Mapping) else type(state).__name__
        raise CheckpointError(f"{path} is not a DOFA checkpoint: no 'patch_embed.weight_generator.*' keys "
                              f"(first keys: {keys})", "pass DOFA_ViT_base_e100.pth or DOFA_ViT_large_e100.pth")
    encoder = {k: v for k, v in state.items() if not k.startswith(PRETRAINING_KEYS)}
    found = infer_dofa_variant(encoder)
    if found is not None and found != variant:
        raise CheckpointError(f"{path} holds a DOFA '{found}' encoder but the model is DOFA '{variant}'",
                              f"use --variant {found}")
    return encoder


_RELEASES = {"base": "DOFA v1 ViT-B/16 (DOFA_ViT_base_e100.pth)", "large": "DOFA v1 ViT-L/16 (DOFA_ViT_large_e100.pth)"}

for _variant, _size in DOFA_SIZES.items():
    register_model(f"dofa_{_variant}", ModelFacts(
        family="dofa", label="DOFA", variant=_variant, kind=ENCODER, patch_size=_size.patch_size,
        input_size=_size.img_size,
        band_convention="any bands: the patch kernel is generated from their centre wavelengths (no GSD)",
        wavelength_units="µm (x1000 to nm inside the generator)",
        normalisation="per-sensor mean/std (DOFA normalises each sensor with its own statistics; the sensor table)",
        embed_dim=_size.dim, depth=_size.depth, upernet_layers=tap_layers(_size.depth), band_agnostic="dofa",
        official_weights=_RELEASES.get(_variant),
        source="arXiv:2403.15356; zhu-xlab/DOFA dofa_v1.py, wave_dynamic_layer.py, README.md; "
               "torchgeo torchgeo/models/dofa.py",
    ), aliases=(_variant,), default=_variant == "base", official_state=dofa_official_state)(
        lambda size=_size: DOFAEncoder(size))
