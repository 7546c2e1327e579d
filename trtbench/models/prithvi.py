"""Prithvi-EO-2.0 (300M, 300M-TL, 600M, 600M-TL; tiny test sizes): a ViT over T dates of the 6 HLS bands.

Sources (facts only, no code taken): Szwarcman et al., "Prithvi-EO-2.0: A Versatile Multi-Temporal Foundation
Model for Earth Observation Applications", arXiv:2412.02732; IBM/terratorch
``terratorch/models/backbones/prithvi_mae.py`` (``PrithviViT``, ``PatchEmbed`` (3-D), ``TemporalEncoder``,
``LocationEncoder``, ``get_3d_sincos_pos_embed``, ``PrithviMAE``: the released files hold ``encoder.*`` and
``decoder.*``) and ``terratorch/models/backbones/prithvi_vit.py`` (``prithvi_cfgs``: 300M = 1024 wide, 24 blocks,
16 heads, patch 1x16x16; 600M = 1280 wide, 32 blocks, 16 heads, patch 1x14x14; input 224, 6 bands BLUE, GREEN,
RED, NIR_NARROW, SWIR_1, SWIR_2; TL variants ``coords_encoding=["time", "location"]``, ``coords_scale_learn=True``;
``PRITHVI_V2_MEAN``/``STD``; ``checkpoint_filter_fn_vit``: decoder keys dropped, ``encoder.`` stripped,
``pos_embed`` replaced by the model's own table); the Hugging Face repos ``ibm-nasa-geospatial/Prithvi-EO-2.0-*``
(``Prithvi_EO_V2_300M.pt`` ... and their ``inference.py``: ``temporal_coords = [year, day of year]`` with the day
of year read from the ``%Y%j`` date of an HLS file name, i.e. **1-based** (1 January = 1), and
``location_coords = [lat, lon]`` in degrees of the scene centre).

What the encoder computes, named as the official ``PrithviViT`` names it (so an ``encoder.*`` state dict loads
strictly after the official loader's renaming):

* Input. trtbench's ``pixels`` are 4-D ``[B, T*C, H, W]``, frame-major (channels ``t*C .. t*C+C-1`` = date t), so
  every reader, tiler and engine profile works with ``metadata.channels``; the encoder unflattens them to the
  official ``[B, C, T, H, W]``. T (``metadata.num_frames``) is fixed when the model is built and exported.
* ``patch_embed.proj``: ``Conv3d(C, D, (1, p, p), stride (1, p, p))`` (one tubelet per frame and patch).
* Positions: the fixed 3-D sin-cos table, width split 6/16 (column), 6/16 (row), 4/16 (frame), each the MAE 1-D
  sin-cos of the integer index; the CLS row is zero. The official model stores it as a buffer ``pos_embed`` sized
  for its ``num_frames`` and 224 x 224, and replaces the checkpoint's copy with its own at load (it is not learned),
  so trtbench drops ``pos_embed`` at load and computes the table for the actual frames and patch grid. On the 224
  grid it is the official table; on other grids the official code resamples the 224 table bicubically, while
  trtbench evaluates the sin-cos function on the actual grid (no Resize node, and the same formula).
* TL variants: ``temporal_embed_enc`` adds ``scale * [sincos(year) (D/2), sincos(day of year) (D - D/2)]`` to every
  token of its frame, ``location_embed_enc`` adds ``scale * [sincos(lat), sincos(lon)]`` (degrees) to every patch
  token; ``scale`` is a learned scalar (``coords_scale_learn=True`` in the released TL configs, initialised 0.1).
  As in the official ``forward_features``, an encoding is added only when its input is given: the exported TL
  graph always takes both (``temporal_coords [B, T, 2]``, ``location_coords [B, 2]``, float32), the training loop
  feeds pixels only (the encodings are then left out, as TerraTorch does without coordinates).
* ``cls_token``, then ``blocks``: timm pre-norm blocks built with ``nn.LayerNorm`` (eps 1e-5, not timm's ViT
  1e-6), qkv bias, MLP ratio 4; ``norm``: the final LayerNorm (eps 1e-5).

Outputs and heads. For T > 1 the tokens the heads and the embedding outputs see are **averaged over time**
(per patch position; the CLS token as is), TerraTorch's temporal mean: the final normalised tokens give
``features [B, D, H/p, W/p]`` and ``cls``, and each UPerNet tap (300M: blocks 7, 11, 15, 23; 600M: its 32 blocks
spread alike, 10, 15, 20, 31) is averaged the same way.

Normalisation: Prithvi-EO-2.0's configs normalise HLS reflectance x 10000 with ``PRITHVI_V2_MEAN`` =
1087, 1342, 1433, 2734, 1958, 1363 and ``PRITHVI_V2_STD`` = 2248, 2179, 2178, 1850, 1242, 1049 (blue .. SWIR 2).
They are registered as the facts' ``band_statistics`` for the HLS tables (``hls-s30``, ``hls-l30``), so a model built
on HLS bands records them (the tables hold Prithvi-EO-1.0's); other band tables (Sentinel-2 bands standing in for
HLS) keep their own statistics, which the metadata records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError, TrtbenchError
from ..metadata import ModelMetadata
from .heads import tap_layers
from .registry import ENCODER, ModelFacts, register_model
from .scalemae import sincos_1d
from .vit_blocks import Block, run_blocks

HLS_BANDS = 6
TL_INPUTS = ("temporal_coords", "location_coords")   # TerraTorch's names, after pixels, in this order
PRITHVI_V2_MEAN = (1087.0, 1342.0, 1433.0, 2734.0, 1958.0, 1363.0)
PRITHVI_V2_STD = (2248.0, 2179.0, 2178.0, 1850.0, 1242.0, 1049.0)
# The HLS tables' band names, blue .. SWIR 2, in the order of the statistics above.
HLS_TABLE_BANDS = {"hls-s30": ("B02", "B03", "B04", "B8A", "B11", "B12"), "hls-l30": ("B02", "B03", "B04", "B05", "B06", "B07")}
LAYER_NORM_EPS = 1e-5   # nn.LayerNorm's default, which the official PrithviViT uses


@dataclass(frozen=True)
class PrithviSize:
    """A Prithvi encoder size (the heads read ``dim``, ``depth`` and ``patch_size``)."""

    dim: int
    depth: int
    heads: int
    patch_size: int
    mlp_ratio: float = 4.0
    img_size: int = 224


PRITHVI_SIZES: dict[str, PrithviSize] = {
    "tiny": PrithviSize(64, 4, 2, 16),      # test size only (not a release)
    "300": PrithviSize(1024, 24, 16, 16),
    "600": PrithviSize(1280, 32, 16, 14),
}


def sincos_3d(dim: int, frames: int, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """The 3-D sin-cos positions of a ``frames x h x w`` patch grid, ``[frames*h*w, dim]`` (frame-major, rows
    row-major): column, row and frame codes of widths ``dim//16*6``, ``dim//16*6`` and ``dim//16*4``."""
    spatial, temporal = dim // 16 * 6, dim // 16 * 4
    axes = [torch.arange(n, dtype=like.dtype, device=like.device) for n in (frames, h, w)]
    ts, ys, xs = (a.reshape(-1) for a in torch.meshgrid(*axes, indexing="ij"))
    return torch.cat([sincos_1d(xs, spatial), sincos_1d(ys, spatial), sincos_1d(ts, temporal)], dim=1)


class PatchEmbed(nn.Module):
    """The official 3-D ``PatchEmbed``: a ``Conv3d`` tubelet (1 frame x p x p) named ``proj``."""

    def __init__(self, bands: int, dim: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv3d(bands, dim, (1, patch_size, patch_size), stride=(1, patch_size, patch_size))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.proj(video)


class CoordinateEncoder(nn.Module):
    """``TemporalEncoder``/``LocationEncoder``: two sin-cos codes side by side (widths ``D//2`` and ``D - D//2``),
    times a learned ``scale`` (``coords_scale_learn=True`` in every released TL model; initialised 0.1)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.widths = (dim // 2, dim - dim // 2)
        self.scale = nn.Parameter(torch.full((1,), 0.1))

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """``[N]`` and ``[N]`` -> ``[N, D]``."""
        return self.scale * torch.cat([sincos_1d(first, self.widths[0]), sincos_1d(second, self.widths[1])], dim=1)


class PrithviViT(nn.Module):
    """Pixels ``[B, T*C, H, W]`` -> tokens averaged over time ``[B, 1 + H/p * W/p, D]``, official names."""

    def __init__(self, size: PrithviSize, bands: int = HLS_BANDS, num_frames: int = 1, coords: bool = False) -> None:
        super().__init__()
        if size.dim % 16:
            raise ValueError(f"the 3-D sin-cos positions need a width divisible by 16, not {size.dim}")
        self.size = size
        self.dim = size.dim
        self.bands = bands
        self.num_frames = num_frames
        self.patch_size = size.patch_size
        self.patch_padding = 0
        self.coords = coords
        self.extra_inputs = TL_INPUTS if coords else ()
        self.patch_embed = PatchEmbed(bands, size.dim, size.patch_size)
        if coords:
            self.temporal_embed_enc = CoordinateEncoder(size.dim)
            self.location_embed_enc = CoordinateEncoder(size.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, size.dim))
        self.blocks = nn.ModuleList(Block(size.dim, size.heads, size.mlp_ratio) for _ in range(size.depth))
        for block in self.blocks:   # the shared timm block uses ViT's 1e-6; Prithvi passes plain nn.LayerNorm
            block.norm1.eps = block.norm2.eps = LAYER_NORM_EPS
        self.norm = nn.LayerNorm(size.dim, eps=LAYER_NORM_EPS)
        # The official init: xavier-uniform linears (and the patch kernel seen as a linear), zero biases, CLS N(0, 0.02).
        nn.init.xavier_uniform_(self.patch_embed.proj.weight.view(size.dim, -1))
        nn.init.normal_(self.cls_token, std=0.02)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def patch_embedding(self, pixels: torch.Tensor, waves: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, T*C, H, W]`` (frame-major) -> the tubelet grid ``[B, D, T, H/p, W/p]``; ``waves`` is ignored."""
        video = pixels.unflatten(1, (self.num_frames, self.bands)).transpose(1, 2)   # [B, C, T, H, W]
        return self.patch_embed(video)

    def embed(self, patches: torch.Tensor, gsd: float | torch.Tensor | None = None, time: torch.Tensor | None = None,
              latlon: torch.Tensor | None = None) -> torch.Tensor:
        """Tubelet grid -> tokens ``[B, 1 + T*h*w, D]`` with 3-D positions (and, for TL, date and place), CLS first."""
        b, d, frames, h, w = patches.shape
        tokens = patches.flatten(2).transpose(1, 2) + sincos_3d(d, frames, h, w, patches)[None]
        if self.coords and time is not None:
            dates = self.temporal_embed_enc(time[..., 0].reshape(-1), time[..., 1].reshape(-1))   # [B*T, D]
            tokens = tokens + dates.reshape(b, frames, 1, d).expand(-1, -1, h * w, -1).reshape(b, -1, d)
        if self.coords and latlon is not None:
            tokens = tokens + self.location_embed_enc(latlon[:, 0], latlon[:, 1])[:, None]
        return torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1)   # the CLS position row is zero

    def time_mean(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[B, 1 + T*L, D]`` -> ``[B, 1 + L, D]``: each patch position averaged over the T frames, CLS kept."""
        if self.num_frames == 1:
            return tokens
        patches = tokens[:, 1:].unflatten(1, (self.num_frames, -1)).mean(dim=1)
        return torch.cat([tokens[:, :1], patches], dim=1)

    def transformer(self, x: torch.Tensor, collect: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Final normalised tokens and the raw taps after each block in ``collect``, both averaged over time."""
        x, taps = run_blocks(self.blocks, x, collect)
        return self.time_mean(self.norm(x)), [self.time_mean(t) for t in taps]

    def tokens(self, pixels: torch.Tensor, time: torch.Tensor | None = None,
               latlon: torch.Tensor | None = None) -> torch.Tensor:
        """All final normalised tokens ``[B, 1 + T*h*w, D]`` before the temporal mean (the official last output)."""
        x, _ = run_blocks(self.blocks, self.embed(self.patch_embedding(pixels), None, time, latlon))
        return self.norm(x)


def prithvi_state(ckpt: Mapping, path: str | Path, variant: str) -> dict[str, torch.Tensor]:
    """The encoder of a released ``Prithvi_EO_V2_*.pt`` (``PrithviMAE``: ``encoder.*`` + ``decoder.*``) or of an
    encoder-only ``PrithviViT`` state dict, renamed as the official ``checkpoint_filter_fn_vit`` does.

    Dropped: the decoder (``decoder.*``, ``*_dec*``, ``mask_token``) and ``pos_embed`` (the fixed sin-cos table,
    recomputed for the model's frames and grid). A TL variant needs the time and location scales; a TL
    checkpoint given to a plain variant loses them (the official loader drops them too). Everything else must
    fit: the strict load names a missing or mis-shaped key.
    """
    state = ckpt
    for wrapper in ("model", "state_dict"):
        if isinstance(state, Mapping) and isinstance(state.get(wrapper), Mapping):
            state = state[wrapper]
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path} is not a Prithvi checkpoint (it holds a {type(state).__name__})",
                              "pass a released Prithvi_EO_V2_*.pt file")
    tl = variant.endswith("_tl")
    clean: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        key = key.replace("_timm_module.", "")
        if key.startswith("decoder.") or "_dec" in key or key == "mask_token" or key.endswith("pos_embed"):
            continue
        key = key.removeprefix("encoder.")
        if not tl and key.startswith(("temporal_embed_enc.", "location_embed_enc.")):
            continue
        clean[key] = value
    if "patch_embed.proj.weight" not in clean:
        raise CheckpointError(f"{path} is not a Prithvi checkpoint: no 'encoder.patch_embed.proj.weight' key "
                              f"(first keys: {sorted(state)[:5]})", "pass a released Prithvi_EO_V2_*.pt file")
    return clean


def build_prithvi(size: PrithviSize, coords: bool, meta: ModelMetadata | None = None) -> PrithviViT:
    """The encoder for ``meta``'s frames (without metadata: one frame); the weights take the 6 HLS bands, so any
    other band count is refused here rather than built into a patch kernel no release fits."""
    if meta is None:
        return PrithviViT(size, HLS_BANDS, 1, coords)
    if meta.num_bands != HLS_BANDS:
        raise TrtbenchError(f"Prithvi-EO-2.0 takes the 6 HLS bands (blue, green, red, NIR narrow, SWIR 1, SWIR 2), "
                            f"not {meta.num_bands} ({', '.join(meta.bands)})",
                            "use --sensor hls-s30 (or hls-l30), or pick those 6 bands of your sensor with --bands "
                            "(Sentinel-2: B02,B03,B04,B8A,B11,B12)")
    return PrithviViT(size, meta.num_bands, meta.num_frames, coords)


_SOURCE = ("arXiv:2412.02732; IBM/terratorch terratorch/models/backbones/prithvi_mae.py, prithvi_vit.py "
           "(prithvi_cfgs, checkpoint_filter_fn_vit); ibm-nasa-geospatial/Prithvi-EO-2.0-* inference.py")
_WEIGHTS = {"300": "ibm-nasa-geospatial/Prithvi-EO-2.0-300M (Prithvi_EO_V2_300M.pt)",
            "300_tl": "ibm-nasa-geospatial/Prithvi-EO-2.0-300M-TL (Prithvi_EO_V2_300M_TL.pt)",
            "600": "ibm-nasa-geospatial/Prithvi-EO-2.0-600M (Prithvi_EO_V2_600M.pt)",
            "600_tl": "ibm-nasa-geospatial/Prithvi-EO-2.0-600M-TL (Prithvi_EO_V2_600M_TL.pt)"}

# The tiny ones first: the test sizes every time-series test builds on.
for _variant in ("tiny", "tiny_tl", "300", "300_tl", "600", "600_tl"):
    _size = PRITHVI_SIZES[_variant.removesuffix("_tl")]
    _tl = _variant.endswith("_tl")
    register_model(f"prithvi_eo_v2_{_variant}", ModelFacts(
        family="prithvi", label="Prithvi-EO-2.0", variant=_variant, kind=ENCODER, patch_size=_size.patch_size,
        input_size=_size.img_size,
        band_convention="fixed: the 6 HLS bands blue, green, red, NIR narrow, SWIR 1, SWIR 2 (hls-s30/hls-l30) of "
                        "each of T dates, pixels [B, T*6, H, W] frame-major"
                        + ("; inputs temporal_coords [B, T, 2] (year, day of year 1-based) and location_coords "
                           "[B, 2] (lat, lon degrees)" if _tl else ""),
        wavelength_units=None,
        normalisation="HLS reflectance x 10000 with Prithvi-EO-2.0's mean 1087,1342,1433,2734,1958,1363 and std "
                      "2248,2179,2178,1850,1242,1049 (hls-s30/hls-l30); other tables: their own statistics",
        band_statistics={table: dict(zip(HLS_TABLE_BANDS[table], zip(PRITHVI_V2_MEAN, PRITHVI_V2_STD)))
                         for table in HLS_TABLE_BANDS},
        embed_dim=_size.dim, depth=_size.depth, upernet_layers=tap_layers(_size.depth),
        official_weights=_WEIGHTS.get(_variant), source=_SOURCE + ("" if _variant in _WEIGHTS else
                                                                   " (test size, no release)"),
        builds_from_metadata=True, sensor="hls-s30",
    ), aliases=(_variant, _variant.replace("_", "-")), default=_variant == "300",
        official_state=prithvi_state)(lambda meta=None, size=_size, tl=_tl: build_prithvi(size, tl, meta))
