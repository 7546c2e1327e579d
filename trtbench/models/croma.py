"""CROMA (base, large): separate optical and SAR ViT encoders with 2-D ALiBi, and the joint radar-optical encoder.

Sources (facts only, no code taken): Fuller, Millard, Green, "CROMA: Remote Sensing Representations with
Contrastive Radar-Optical Masked Autoencoders", NeurIPS 2023, arXiv:2311.00566; the official repository
antofuller/CROMA (``main_croma.py``: ``PretrainedCROMA``, ``ViT``, ``BaseTransformer``, ``BaseTransformerCrossAttn``,
``Attention``, ``CrossAttention``, ``FFN``, ``get_2dalibi``; ``README.md``: inputs and normalisation;
``pretrain_croma.py``: pretraining on SSL4EO-S12 with the 12 optical channels first, then the 2 radar ones);
torchgeo ``torchgeo/models/croma.py`` (``CROMA``, ``croma_base``, ``croma_large``, ``load_weights``); PANGAEA's
``configs/encoder/croma_{optical,sar,joint}.yaml`` (sig-gis/pangaea-bench: the band lists).

The architecture, as the official code computes it:

* **Patches**: 8 x 8, flattened channel-major (``b c (h i) (w j) -> b (h w) (c i j)``) and projected by
  ``linear_input`` (a Linear, not a Conv); no CLS token, no position embedding.
* **2-D ALiBi**: every attention adds ``-slope_h * dist(p, q)`` to its scores, ``dist`` the Euclidean distance
  between the two patches on the patch grid, ``slope_h = 2 ** (-8 (h + 1) / H)`` for ``H = 16`` heads (ALiBi's
  slopes; the official code computes the table once for a square grid of ``image_resolution / 8``). Here it is
  computed for the run's grid (rows x columns, row-major like the tokens) from the grid's shape alone, so 120 px
  and any other multiple of 8, square or not, work; at 120 px it is the official table. In an exported graph it
  is a function of the input's height and width only (Range, Sub, Pow, Sqrt, Mul: no data enters it).
* **Blocks**: pre-norm, each sub-layer with its own ``input_norm`` (LayerNorm, eps 1e-5): ``Attention``
  (``to_qkv`` without bias, ``to_out``), ``FFN`` (``net.0``, GELU, dropout, ``net.3``), final ``norm_out``.
  ``BaseTransformerCrossAttn`` (the joint encoder) adds ``CrossAttention`` (``to_q``, ``to_k``, ``to_v`` without
  bias, ``to_out``; one ``input_norm`` applied to both the queries' and the context's tokens) between them.
* **Sizes**: base 768 wide, the optical encoder 12 blocks, the SAR and joint encoders 6 each; large 1024 wide,
  24 / 12 / 12; 16 heads always. ``croma_tiny`` (64 wide, 2 / 1 / 1) exists for the tests only.
* **GAP FFNs** (``s1_GAP_FFN``, ``s2_GAP_FFN``): LayerNorm, Linear(D, 4D), GELU, Linear(4D, D) on the token
  average: the unimodal representations of the contrastive objective.

Which encoders run follows the bands (``metadata.modalities``; one sensor table otherwise):

* optical only (``sentinel-2-l1c``): the optical encoder. ``features`` = ``optical_encodings``, ``cls`` =
  ``optical_GAP``; heads read the optical encoder's blocks.
* SAR only (``sentinel-1-rtc``): the SAR encoder. ``features`` = ``SAR_encodings``, ``cls`` = ``SAR_GAP``; heads
  read the SAR encoder's blocks.
* both (a stack, in either order: the channels are taken from where the metadata puts them; training chips
  stacked into a custom table are split back by each band's table name and wavelength): both encoders,
  then the joint encoder with the SAR tokens as queries and the optical tokens as the cross-attention context
  (``joint_encoder(x=SAR_encodings, context=optical_encodings)``, as ``main_croma.py`` and torchgeo call it).
  ``features`` = ``joint_encodings``, ``cls`` = ``joint_GAP`` (the plain token average: the official code has no
  joint FFN); heads read the joint encoder's blocks (PANGAEA's ``croma_joint`` taps them too).

A head's taps are a block's raw tokens with their average in front (the place the heads drop as the CLS row); a
block tapped twice (tiny stacks) is handed out twice, so a head always gets the levels it asks for.

Bands: CROMA takes the 12 Sentinel-2 L1C bands ``B01 .. B12`` without the cirrus band ``B10`` (B8A after B08;
the README: "Sentinel-2 must be 12 channels (remove the cirrus band if necessary)"; PANGAEA lists
``B1 .. B8, B8A, B9, B11, B12``) and the 2 Sentinel-1 bands ``VV, VH`` (dB). Any other band set is refused
when the model is built, naming the right one.

Normalisation: the official README (after SatMAE and SeCo) maps each channel with its mean and standard
deviation to ``clip((x - (mean - 2 std)) / (4 std), 0, 1)``. trtbench feeds every model ``z = (x - mean) / std``
with the sensor table's statistics (SSL4EO-S12's for Sentinel-2 L1C, the table's for Sentinel-1, recorded in the
metadata), so the encoder begins with ``clip(z / 4 + 1/2, 0, 1)``, the same mapping with those statistics in
place of the data's (the README computes them on the batch at hand).

The released ``CROMA_base.pt`` / ``CROMA_large.pt`` are a dict of five state dicts (``s1_encoder``,
``s1_GAP_FFN``, ``s2_encoder``, ``s2_GAP_FFN``, ``joint_encoder``); the encoder here holds those five modules
under those names (torchgeo's too), so every file loads strictly, whatever the band set (the parts a band set
does not run are loaded and kept, not exported). :mod:`trtbench.models.vit_blocks` is not reused: CROMA's
blocks have other names (``input_norm`` inside each sub-layer, ``to_qkv``, ``net.*``) and the ALiBi bias.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, TrtbenchError
from ..metadata import ModelMetadata
from ..sensors import get_sensor
from .heads import tap_layers
from .registry import ENCODER, ModelFacts, register_model

OPTICAL_SENSOR, SAR_SENSOR = "sentinel-2-l1c", "sentinel-1-rtc"
OPTICAL_BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]
SAR_BANDS = ["VV", "VH"]
HEADS = 16          # "always 16, for base and large models" (main_croma.py)
PATCH = 8
INPUT_SIZE = 120
GROUPS = ("s1_encoder", "s1_GAP_FFN", "s2_encoder", "s2_GAP_FFN", "joint_encoder")   # the released file's keys
BANDS_FIX = (f"use --sensor {OPTICAL_SENSOR}+{SAR_SENSOR} --bands {','.join(OPTICAL_BANDS + SAR_BANDS)} "
             f"(or one of the two sensors with its bands: {','.join(OPTICAL_BANDS)} / {','.join(SAR_BANDS)})")


@dataclass(frozen=True)
class CromaSize:
    dim: int
    depth: int        # the optical encoder's blocks; the SAR and joint encoders have half as many
    heads: int = HEADS
    patch_size: int = PATCH


CROMA_SIZES: dict[str, CromaSize] = {
    "tiny": CromaSize(64, 2),       # test size only
    "base": CromaSize(768, 12),
    "large": CromaSize(1024, 24),
}


@dataclass(frozen=True)
class StackSize:
    """What the heads need of the stack they read (``heads.EncoderSize``)."""

    dim: int
    depth: int
    patch_size: int


# --- 2-D ALiBi -----------------------------------------------------------------------------------------------

def alibi_slopes(heads: int) -> list[float]:
    """ALiBi's head slopes (Press et al.; CROMA's ``get_slopes``): ``2 ** (-8 / heads)`` raised to ``1 .. heads``.

    The formula for a power-of-two head count, the only kind CROMA has (16 heads in every size)."""
    if not math.log2(heads).is_integer():
        raise ValueError(f"CROMA's ALiBi slopes are defined here for a power-of-two head count, not {heads}")
    start = 2.0 ** (-8.0 / heads)
    return [start ** (i + 1) for i in range(heads)]


def alibi_bias(slopes: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``[1, heads, h*w, h*w]``: ``-slope * distance`` between every two patches of an ``h x w`` grid (row-major).

    Built from ``arange`` of the grid's sides, so an exported graph computes it from the input's shape."""
    rows = torch.arange(h, dtype=slopes.dtype, device=slopes.device)[:, None].expand(h, w).reshape(-1)
    cols = torch.arange(w, dtype=slopes.dtype, device=slopes.device)[None, :].expand(h, w).reshape(-1)
    distance = ((rows[:, None] - rows[None, :]) ** 2 + (cols[:, None] - cols[None, :]) ** 2).sqrt()
    return (-slopes[:, None, None] * distance[None])[None]


# --- the official modules, under their official names -------------------------------------------------------

def _heads_split(t: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, c = t.shape
    return t.reshape(b, n, heads, c // heads).transpose(1, 2)


def _heads_merge(t: torch.Tensor) -> torch.Tensor:
    b, heads, n, d = t.shape
    return t.transpose(1, 2).reshape(b, n, heads * d)


class Attention(nn.Module):
    """Pre-norm self-attention with an additive position bias: ``softmax(q kᵀ / √d + bias) v``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.to_qkv = nn.Linear(dim, dim * 3, bias=False)
        self.to_out = nn.Linear(dim, dim)
        self.input_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        q, k, v = (_heads_split(t, self.heads) for t in self.to_qkv(self.input_norm(x)).chunk(3, dim=-1))
        return self.to_out(_heads_merge(F.scaled_dot_product_attention(q, k, v, attn_mask=bias)))


class CrossAttention(nn.Module):
    """Pre-norm cross-attention (one LayerNorm for queries and context), the same bias (X-ALiBi)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim)
        self.input_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x, context = self.input_norm(x), self.input_norm(context)
        q, k, v = (_heads_split(t, self.heads) for t in (self.to_q(x), self.to_k(context), self.to_v(context)))
        return self.to_out(_heads_merge(F.scaled_dot_product_attention(q, k, v, attn_mask=bias)))


class FFN(nn.Module):
    """Pre-norm MLP; ``net`` keeps the official dropout slot (index 2), so the second Linear is ``net.3``."""

    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, dim * mult), nn.GELU(), nn.Dropout(0.0), nn.Linear(dim * mult, dim))
        self.input_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.input_norm(x))


def _with_average(tokens: torch.Tensor) -> torch.Tensor:
    """Tokens ``[B, N, D]`` with their average in front: the row the heads drop as the CLS token."""
    return torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)


class BaseTransformer(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.ModuleList([Attention(dim, heads), FFN(dim)]) for _ in range(depth))
        self.norm_out = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, bias: torch.Tensor,
                collect: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        outputs = {}
        for i, (attention, ffn) in enumerate(self.layers):
            x = attention(x, bias) + x
            x = ffn(x) + x
            if i in collect:
                outputs[i] = _with_average(x)
        return self.norm_out(x), [outputs[i] for i in collect]


class BaseTransformerCrossAttn(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.ModuleList([Attention(dim, heads), CrossAttention(dim, heads), FFN(dim)])
                                    for _ in range(depth))
        self.norm_out = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, bias: torch.Tensor,
                collect: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        outputs = {}
        for i, (attention, cross, ffn) in enumerate(self.layers):
            x = attention(x, bias) + x
            x = cross(x, context, bias) + x
            x = ffn(x) + x
            if i in collect:
                outputs[i] = _with_average(x)
        return self.norm_out(x), [outputs[i] for i in collect]


class ViT(nn.Module):
    """One modality's encoder: ``linear_input`` on the flattened 8 x 8 patches, then the blocks."""

    def __init__(self, dim: int, depth: int, channels: int, heads: int) -> None:
        super().__init__()
        self.linear_input = nn.Linear(PATCH * PATCH * channels, dim)
        self.transformer = BaseTransformer(dim, depth, heads)


def gap_ffn(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))


# --- the encoder ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BandLayout:
    """Where each modality's channels sit in the ``pixels`` input (None: not given, its encoder does not run)."""

    optical: int | None
    sar: int | None

    @classmethod
    def of(cls, meta: ModelMetadata | None) -> BandLayout:
        """The published optical + SAR stack by default; otherwise the metadata's modalities (or single sensor)."""
        if meta is None:
            return cls(0, len(OPTICAL_BANDS))
        if meta.modalities:
            parts = meta.modalities
        elif meta.sensor == "custom":
            parts = split_custom_stack(meta)
        else:
            parts = {meta.sensor: list(meta.bands)}
        offsets: dict[str, int] = {}
        for sensor, bands in parts.items():
            expected = {OPTICAL_SENSOR: OPTICAL_BANDS, SAR_SENSOR: SAR_BANDS}.get(sensor)
            if expected is None:
                raise TrtbenchError(f"CROMA takes Sentinel-2 L1C and Sentinel-1 bands, not {sensor}", BANDS_FIX)
            start = meta.bands.index(bands[0])   # from the band order, whatever the dict's order
            if list(bands) != expected or list(meta.bands[start:start + len(bands)]) != list(bands):
                raise TrtbenchError(f"CROMA's {'optical' if sensor == OPTICAL_SENSOR else 'SAR'} encoder takes "
                                    f"{', '.join(expected)} in that order, not {', '.join(bands)}", BANDS_FIX)
            offsets[sensor] = start
        return cls(offsets.get(OPTICAL_SENSOR), offsets.get(SAR_SENSOR))


def split_custom_stack(meta: ModelMetadata) -> dict[str, list[str]]:
    """The bands of a custom table split by the registered sensor each one is, by its name and wavelength.

    Stacked training chips (``--sensor sentinel-1-rtc+sentinel-2-l1c``) reach the model as one custom table that
    still carries every band's table name and wavelength (``trtbench.data.sources.stack_sensors``); a band that is
    neither a Sentinel-2 L1C nor a Sentinel-1 band under both is refused, never assigned by position."""
    tables = [get_sensor(OPTICAL_SENSOR), get_sensor(SAR_SENSOR)]
    parts: dict[str, list[str]] = {}
    for name, wavelength in zip(meta.bands, meta.wavelengths):
        owner = next((t for t in tables for b in t.bands if b.matches(name) and b.wavelength == wavelength), None)
        if owner is None:
            raise TrtbenchError(f"CROMA cannot tell which sensor the custom band '{name}' ({wavelength} µm) is: "
                                f"it is no {OPTICAL_SENSOR} or {SAR_SENSOR} band", BANDS_FIX)
        parts.setdefault(owner.name, []).append(owner.band(name).name)
    return parts


class CromaEncoder(nn.Module):
    """The released CROMA (both encoders, their GAP FFNs, the joint encoder), running what the bands call for.

    ``patch_embedding`` only cuts the pixels into 8 x 8 patches (``pixel_unshuffle``: channel-major, the
    official ``(c i j)`` order); ``embed`` scales them as the README does and projects each modality;
    ``transformer`` runs the encoders and returns the read stack's tokens with its GAP output in front.
    """

    def __init__(self, size: CromaSize, layout: BandLayout) -> None:
        super().__init__()
        self.layout = layout
        self.patch_size = size.patch_size
        self.s1_encoder = ViT(size.dim, size.depth // 2, len(SAR_BANDS), size.heads)
        self.s1_GAP_FFN = gap_ffn(size.dim)
        self.s2_encoder = ViT(size.dim, size.depth, len(OPTICAL_BANDS), size.heads)
        self.s2_GAP_FFN = gap_ffn(size.dim)
        self.joint_encoder = BaseTransformerCrossAttn(size.dim, size.depth // 2, size.heads)
        self.slopes = alibi_slopes(size.heads)
        joint = layout.optical is not None and layout.sar is not None
        read_depth = size.depth // 2 if joint or layout.optical is None else size.depth
        self.size = StackSize(size.dim, read_depth, size.patch_size)

    def patch_embedding(self, pixels: torch.Tensor, waves: torch.Tensor | None = None) -> torch.Tensor:
        """Pixels ``[B, C, H, W]`` -> pixel patches ``[B, C*64, H/8, W/8]`` (nothing learned: the projection is
        per modality, in :meth:`embed`)."""
        return F.pixel_unshuffle(pixels, self.patch_size)

    def embed(self, patches: torch.Tensor, gsd: float | torch.Tensor | None = None,
              time: torch.Tensor | None = None, latlon: torch.Tensor | None = None) -> torch.Tensor:
        """Pixel patches -> token grids ``[B, M, h, w, D]``, M the running modalities (optical first).

        The grid stays in the shape so that :meth:`transformer` builds the ALiBi bias for it; no time or place."""
        area = self.patch_size ** 2
        patches = (patches / 4 + 0.5).clamp(0.0, 1.0)     # README: clip((x - (mean - 2 std)) / (4 std), 0, 1)
        grids = []
        for start, bands, encoder in ((self.layout.optical, OPTICAL_BANDS, self.s2_encoder),
                                      (self.layout.sar, SAR_BANDS, self.s1_encoder)):
            if start is not None:
                part = patches[:, start * area:(start + len(bands)) * area]
                grids.append(encoder.linear_input(part.permute(0, 2, 3, 1)))
        return torch.stack(grids, dim=1)

    def transformer(self, grids: torch.Tensor, collect: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Token grids -> the read stack's tokens ``[B, 1 + h*w, D]`` (its GAP output first), and its taps."""
        h, w = grids.shape[2], grids.shape[3]
        bias = alibi_bias(torch.tensor(self.slopes, dtype=grids.dtype, device=grids.device), h, w)
        streams = grids.flatten(2, 3).unbind(1)
        if self.layout.optical is not None and self.layout.sar is not None:
            optical, _ = self.s2_encoder.transformer(streams[0], bias)
            sar, _ = self.s1_encoder.transformer(streams[1], bias)
            joint, taps = self.joint_encoder(sar, optical, bias, collect)
            return torch.cat([joint.mean(dim=1, keepdim=True), joint], dim=1), taps
        encoder, gap = ((self.s2_encoder, self.s2_GAP_FFN) if self.layout.optical is not None
                        else (self.s1_encoder, self.s1_GAP_FFN))
        tokens, taps = encoder.transformer(streams[0], bias, collect)
        return torch.cat([gap(tokens.mean(dim=1))[:, None], tokens], dim=1), taps


def croma_state(ckpt: Mapping, path: str | Path, variant: str) -> dict[str, torch.Tensor]:
    """A released ``CROMA_{base,large}.pt`` (five state dicts by module) as one state dict of the encoder."""
    groups = [g for g in GROUPS if isinstance(ckpt.get(g), Mapping)]
    if not groups:
        raise CheckpointError(f"{path} is not a CROMA checkpoint: none of {', '.join(GROUPS)} in it "
                              f"(first keys: {sorted(ckpt)[:5]})",
                              "pass the released CROMA_base.pt or CROMA_large.pt (antofuller/CROMA)")
    missing = [g for g in GROUPS if g not in groups]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)} of a released CROMA file",
                              "pass the complete CROMA_base.pt or CROMA_large.pt")
    size = CROMA_SIZES[variant]
    found = ckpt["s2_encoder"].get("linear_input.weight")
    if found is not None and found.shape[0] != size.dim:
        other = next((n for n, s in CROMA_SIZES.items() if s.dim == found.shape[0]), None)
        raise CheckpointError(f"{path} holds a {found.shape[0]}-wide CROMA, but croma_{variant} is {size.dim} wide",
                              f"use croma_{other}" if other else "pass the CROMA file of this size")
    return {f"{g}.{k}": v for g in GROUPS for k, v in ckpt[g].items()}


def build_croma(variant: str, meta: ModelMetadata | None = None) -> CromaEncoder:
    """The encoder for ``meta``'s bands (default: the published optical + SAR stack)."""
    return CromaEncoder(CROMA_SIZES[variant], BandLayout.of(meta))


_SOURCE = ("arXiv:2311.00566; antofuller/CROMA main_croma.py, pretrain_croma.py, README.md; torchgeo "
           "torchgeo/models/croma.py; sig-gis/pangaea-bench configs/encoder/croma_*.yaml")
_BANDS = (f"fixed: the 12 Sentinel-2 L1C bands {','.join(OPTICAL_BANDS)} (no B10) and/or Sentinel-1 VV,VH; "
          "optical only, SAR only, or both (joint encoder); UPerNet taps the stack that runs (listed: the optical "
          "encoder's; the SAR and joint encoders have half its blocks)")
_NORMALISATION = ("the sensor tables' mean/std, then clip(z / 4 + 1/2, 0, 1) inside the encoder: the README's "
                  "clip((x - (mean - 2 std)) / (4 std), 0, 1)")

for _variant, _weights in (("base", "CROMA_base.pt (antofuller/CROMA; torchgeo CROMABase_Weights.CROMA_VIT)"),
                           ("large", "CROMA_large.pt (antofuller/CROMA; torchgeo CROMALarge_Weights.CROMA_VIT)"),
                           ("tiny", None)):
    _size = CROMA_SIZES[_variant]
    register_model(f"croma_{_variant}", ModelFacts(
        family="croma", label="CROMA", variant=_variant, kind=ENCODER, patch_size=PATCH, input_size=INPUT_SIZE,
        band_convention=_BANDS, wavelength_units=None, normalisation=_NORMALISATION, embed_dim=_size.dim,
        depth=_size.depth, upernet_layers=tap_layers(_size.depth), official_weights=_weights, source=_SOURCE,
        builds_from_metadata=True, sensor=f"{OPTICAL_SENSOR}+{SAR_SENSOR}", bands=(*OPTICAL_BANDS, *SAR_BANDS),
    ), aliases=(_variant,), default=_variant == "base", official_state=croma_state)(
        lambda meta=None, variant=_variant: build_croma(variant, meta))
