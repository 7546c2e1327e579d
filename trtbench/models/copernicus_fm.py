"""Copernicus-FM encoder (ViT-B/16; a tiny test size), spectral path, written from the published architecture facts.

Sources (facts only, no code taken): Wang et al., "Towards a Unified Copernicus Foundation Model for Earth
Vision", arXiv:2503.11849 (2025); the official repository zhu-xlab/Copernicus-FM (``Copernicus-FM/src/model_vit.py``:
``CopernicusFMViT``, ``vit_base_patch16``; ``src/dynamic_hypernetwork.py``: ``Dynamic_MLP_OFA_spectral``,
``TransformerWeightGenerator``, ``FCResLayer``; ``src/aurora/fourier.py``: ``FourierExpansion``;
``src/flexivit``: the pseudo-inverse kernel resize; ``Copernicus-FM/README.md``: the released
``CopernicusFM_ViT_base_varlang_e100.pth`` and the "metadata unknown" call; ``Copernicus-Bench/src/configs/
dataset/cobench_dfc2020_s{1,2}.yaml``: wavelengths and bandwidths in nm, normalisation); torchgeo's
``torchgeo/models/copernicusfm.py`` (the same model; it loads the release asserting that only ``fc_norm.*``
and ``head.*`` are missing and nothing is unexpected, so the file holds no final norm).

What the released encoder computes on spectral input, and how this module names it (the official names):

* ``patch_embed_spectral`` (``Dynamic_MLP_OFA_spectral``): the centre wavelength and the bandwidth of each
  band, in nm (the official code takes float32 nm), each expanded into 128 Fourier features (Aurora's
  ``FourierExpansion``: ``sin``/``cos`` of ``2 pi x / l`` for 64 lengths ``l`` log-spaced over
  [100 nm, 1 m] for the wavelength and [1 nm, 1 m] for the bandwidth), summed; ``fclayer`` and
  ``weight_generator`` exactly as DOFA's (:mod:`.dofa`); the ``[C, 16 * 16 * D]`` output is viewed as
  ``[C, 16, 16, D]`` and **permuted** to the ``[D, C, 16, 16]`` kernel (DOFA views it directly); kernel and
  bias scaled by 0.01; convolution with stride = patch and **padding 1**. For a patch size other than 16 the
  generated kernel is resized with FlexiViT's pseudo-inverse of the bicubic (antialiased) resize, here a
  constant ``[p*p, 256]`` matrix built once (a MatMul in the exported graph).
* ``pos_embed`` ``[1, 1 + 14 * 14, D]`` and ``cls_token`` as in MAE; ``coord_fc``/``scale_fc``/``time_fc`` of the
  learned ``coord_token``/``scale_token``/``time_token``, added to every position (CLS included).
* ``blocks``: timm ViT blocks (pre-norm, qkv bias, LayerNorm eps 1e-6), then a LayerNorm without affine
  parameters: the release has no ``norm`` and the README builds the model with ``global_pool=False``, whose
  freshly initialised ``norm`` (weight 1, bias 0) is exactly that.

Left out, deliberately: the language-embedding hypernetwork for non-spectral variables
(``patch_embed_variable.*``, Sentinel-5P/DEM inputs), whose keys are dropped when the release is read; and the
Fourier encodings of longitude/latitude, time and patch area. The official model uses the learned tokens
instead of those encodings whenever ``meta_info`` is NaN (the README's "assume unknown" call), and that is
the path computed here: trtbench's pipeline carries no per-chip location or date, and an area derived from
the GSD would tie a fixed-band export to one resolution. Outputs are the normalised tokens (patch features and
CLS), not a pooled classifier. Grids other than 14 x 14 resample the position table bilinearly (the official
code resizes bicubically with antialiasing, which TensorRT's Resize does not offer; at 224 both are the
identity).

Numerics of the Fourier features: the official code computes them in float64, which TensorRT has not. A
Sentinel-1 bandwidth (1e9 nm) at the 1 nm length is 1e9 cycles, far beyond float32's precision, so the
cycles are computed exactly in the input's own precision instead: the input is split into two halves
(Veltkamp) and each length's frequency into five 12-bit constants, so every partial product is exact, and
only their fractional parts are summed (error about 1e-6 cycle in float32, 1e-15 in float64).

Units here: wavelengths and bandwidths in µm (trtbench's sensor tables), rounded to float32 nm inside, as
the official code receives them. Bandwidths are recorded in the model's metadata from the sensor table
(Copernicus-Bench's values); a table without them is refused. Sentinel-1: the official configs read VV and VH
at 5 cm with a 1 m bandwidth; the ``sentinel-1-rtc`` table holds Clay's pseudo-wavelengths 3.5/4.0 µm, which
:func:`trtbench.sensors.read_radar_as` replaces with 5e4 µm wherever this family is bound to that table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from ..metadata import ModelMetadata
from .dofa import FCResLayer, TransformerWeightGenerator, sincos_position_table
from .heads import tap_layers
from .registry import ENCODER, ModelFacts, register_model
from .vit_blocks import Block as VitBlock
from .vit_blocks import resample_positions, run_blocks

WAVE_DIM = 128            # width of the spectral embedding and of the generator
GENERATOR_KERNEL = 16     # the hypernetwork always emits 16 x 16 kernels
UM_TO_NM = 1000.0
KERNEL_SCALE = 0.01
PATCH_PADDING = 1
# Fourier length ranges (nm): centre wavelength 100 nm (UV) to 1 m (radio); bandwidth 1 nm to 1 m.
CENTRAL_RANGE = (100.0, 1e9)
BANDWIDTH_RANGE = (1.0, 1e9)
FREQUENCY_PIECES = 5      # 12-bit pieces of each frequency: 60 bits, beyond float64's 53
LANGUAGE_PATH = "patch_embed_variable."   # the non-spectral hypernetwork, left out


@dataclass(frozen=True)
class CopernicusFMSize:
    dim: int
    depth: int
    heads: int
    mlp_ratio: float = 4.0
    patch_size: int = 16
    img_size: int = 224   # pre-training crop: the position table's grid is img_size // 16


COPERNICUS_FM_SIZES: dict[str, CopernicusFMSize] = {
    "tiny": CopernicusFMSize(64, 4, 2),   # test size only (no released weights)
    "base": CopernicusFMSize(768, 12, 12),
}


def _split_bits(value: float, pieces: int, bits: int = 12) -> list[float]:
    """``value`` as a sum of ``pieces`` floats of at most ``bits`` significant bits each (greedy)."""
    out = []
    rest = value
    for _ in range(pieces):
        if rest == 0.0:
            out.append(0.0)
            continue
        exponent = math.frexp(rest)[1]
        step = math.ldexp(1.0, exponent - bits)
        piece = round(rest / step) * step
        out.append(piece)
        rest -= piece
    return out


class FourierExpansion(nn.Module):
    """Aurora's Fourier expansion of a length ``x`` (nm): ``[sin, cos](2 pi x / l_j)``, ``l`` log-spaced over a range.

    The cycles ``x / l_j`` are computed exactly up to their fractional part in the input's precision (see the
    module docstring), so float32 (the exported graph) agrees with the official float64 computation.
    """

    def __init__(self, lower: float, upper: float, dim: int = WAVE_DIM) -> None:
        super().__init__()
        n, low, high = dim // 2, math.log10(lower), math.log10(upper)
        lengths = [10 ** (low + (high - low) * j / (n - 1)) for j in range(n)]   # logspace, in Python (meta-safe)
        pieces = [_split_bits(1.0 / length, FREQUENCY_PIECES) for length in lengths]
        self.register_buffer("frequency_pieces", torch.tensor(pieces, dtype=torch.float64).T.contiguous(),
                             persistent=False)   # [pieces, dim/2], each exact in float32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Lengths ``[C]`` in nm -> features ``[C, dim]`` in ``x``'s dtype."""
        c = x * 4097.0                # Veltkamp split: x = hi + lo, each short enough for exact products
        hi = c - (c - x)
        lo = x - hi
        pieces = self.frequency_pieces.to(x.dtype)
        cycles = torch.zeros(x.shape[0], pieces.shape[1], dtype=x.dtype, device=x.device)
        for part in (hi, lo):
            for k in range(pieces.shape[0]):
                product = part[:, None] * pieces[k][None, :]          # exact
                cycles = cycles + (product - torch.floor(product))
                cycles = cycles - torch.floor(cycles)                 # keep the sum in [0, 1)
        angles = cycles * (2 * math.pi)
        return torch.cat([angles.sin(), angles.cos()], dim=1)


def kernel_resize_matrix(old: int, new: int) -> torch.Tensor:
    """FlexiViT's pseudo-inverse resize ``[new*new, old*old]``: maps a flattened ``old`` kernel to ``new``.

    Row ``i`` of the forward resize is the bicubic (antialiased) resize of the ``i``-th basis kernel; the
    pseudo-inverse of that matrix keeps a kernel's response to resized patches (float64 here).
    """
    basis = torch.eye(old * old, dtype=torch.float64, device="cpu").reshape(old * old, 1, old, old)
    forward = F.interpolate(basis, size=(new, new), mode="bicubic", antialias=True).reshape(old * old, new * new)
    return torch.linalg.pinv(forward)


class SpectralPatchEmbedding(nn.Module):
    """Copernicus-FM's wavelength- and bandwidth-conditioned patch embedding (the official ``Dynamic_MLP_OFA_spectral``)."""

    def __init__(self, patch_size: int, embed_dim: int, wave_dim: int = WAVE_DIM) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.spectrum_central_expansion = FourierExpansion(*CENTRAL_RANGE, wave_dim)
        self.spectrum_bandwidth_expansion = FourierExpansion(*BANDWIDTH_RANGE, wave_dim)
        self.weight_generator = TransformerWeightGenerator(wave_dim, GENERATOR_KERNEL**2 * embed_dim, embed_dim)
        self.fclayer = FCResLayer(wave_dim)
        for m in [*self.weight_generator.modules(), *self.fclayer.modules()]:
            if isinstance(m, nn.Linear):  # the official init: Xavier-uniform weights, biases 0.01
                nn.init.xavier_uniform_(m.weight)
                nn.init.constant_(m.bias, 0.01)
        resize = None if patch_size == GENERATOR_KERNEL else kernel_resize_matrix(GENERATOR_KERNEL, patch_size).float()
        self.register_buffer("kernel_resize", resize, persistent=False)

    def embedding(self, spectra: torch.Tensor) -> torch.Tensor:
        """``[2, C]`` wavelengths and bandwidths (µm) -> the summed Fourier features ``[C, wave_dim]``."""
        nm = (spectra.float() * UM_TO_NM).to(spectra.dtype)   # float32 nm, as the official code takes them
        return self.spectrum_central_expansion(nm[0]) + self.spectrum_bandwidth_expansion(nm[1])

    def raw_kernel(self, spectra: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unscaled kernel ``[D, C, p, p]`` and bias ``[D]``: what DynamicPatchEmbed takes at run time."""
        weight, bias = self.weight_generator(self.fclayer(self.embedding(spectra)))
        k = GENERATOR_KERNEL
        kernel = weight.reshape(-1, k, k, self.embed_dim).permute(3, 0, 1, 2)   # [C, k, k, D] -> [D, C, k, k]
        if self.kernel_resize is not None:
            p = self.patch_size
            kernel = (kernel.reshape(self.embed_dim, -1, k * k) @ self.kernel_resize.to(kernel.dtype).T)
            kernel = kernel.reshape(self.embed_dim, -1, p, p)
        return kernel, bias

    def kernel(self, spectra: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The conv weight and bias for ``[2, C]`` wavelengths and bandwidths in µm, both scaled by 0.01."""
        weight, bias = self.raw_kernel(spectra)
        return weight * KERNEL_SCALE, bias * KERNEL_SCALE

    def forward(self, pixels: torch.Tensor, spectra: torch.Tensor) -> torch.Tensor:
        weight, bias = self.kernel(spectra)
        return F.conv2d(pixels, weight, bias, stride=self.patch_size, padding=PATCH_PADDING)


class CopernicusFMEncoder(nn.Module):
    """Copernicus-FM at inference: pixels [B,C,H,W] + spectra [2, C] -> tokens [B, 1 + grid, dim]."""

    def __init__(self, size: CopernicusFMSize) -> None:
        super().__init__()
        self.size = size
        self.dim = size.dim
        self.patch_size = size.patch_size
        self.patch_padding = PATCH_PADDING
        self.pos_grid = size.img_size // GENERATOR_KERNEL
        self.patch_embed_spectral = SpectralPatchEmbedding(size.patch_size, size.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, size.dim))
        self.pos_embed = nn.Parameter(sincos_position_table(size.dim, self.pos_grid)[None], requires_grad=False)
        self.coord_fc = nn.Linear(size.dim, size.dim)
        self.scale_fc = nn.Linear(size.dim, size.dim)
        self.time_fc = nn.Linear(size.dim, size.dim)
        self.coord_token = nn.Parameter(torch.zeros(1, 1, size.dim))
        self.scale_token = nn.Parameter(torch.zeros(1, 1, size.dim))
        self.time_token = nn.Parameter(torch.zeros(1, 1, size.dim))
        self.blocks = nn.ModuleList(VitBlock(size.dim, size.heads, size.mlp_ratio) for _ in range(size.depth))
        for block in self.blocks:  # timm/MAE init: Xavier-uniform linears, zero biases
            for m in block.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)

    @staticmethod
    def spectra(metadata: ModelMetadata) -> torch.Tensor:
        """The band descriptors the generator reads: ``[2, C]`` wavelengths and bandwidths (µm) of the band set.

        Bandwidths are the metadata's (recorded from the sensor table), else the table's; a table without them
        is refused with the fix."""
        widths = metadata.bandwidths
        if widths is None or len(widths) != len(metadata.wavelengths):
            widths = metadata.sensor_table().bandwidths
        return torch.tensor([metadata.wavelengths, widths], dtype=torch.float32)

    def patch_embedding(self, pixels: torch.Tensor, spectra: torch.Tensor) -> torch.Tensor:
        return self.patch_embed_spectral(pixels, spectra)

    def patch_kernel(self, spectra: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.patch_embed_spectral.kernel(spectra)

    def raw_patch_kernel(self, spectra: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.patch_embed_spectral.raw_kernel(spectra)

    def grid_position_embedding(self, h: int, w: int) -> torch.Tensor:
        """Position rows for an ``h x w`` patch grid ``[1, h*w, dim]``: the stored table, resampled bilinearly."""
        return resample_positions(self.pos_embed[:, 1:], self.pos_grid, h, w)

    def metadata_embedding(self) -> torch.Tensor:
        """``[1, 1, dim]``: the learned location, area and time tokens, the official path for unknown metadata."""
        return self.coord_fc(self.coord_token) + self.scale_fc(self.scale_token) + self.time_fc(self.time_token)

    def embed(self, patches: torch.Tensor, gsd: float | torch.Tensor | None = None, time: torch.Tensor | None = None,
              latlon: torch.Tensor | None = None) -> torch.Tensor:
        """Patch grid ``[B, dim, h, w]`` -> tokens with positions, CLS first (GSD, time and place not encoded)."""
        b, _, h, w = patches.shape
        meta = self.metadata_embedding()
        tokens = patches.flatten(2).transpose(1, 2) + self.grid_position_embedding(h, w) + meta
        cls = (self.cls_token + self.pos_embed[:, :1] + meta).expand(b, -1, -1)
        return torch.cat([cls, tokens], dim=1)

    def transformer(self, x: torch.Tensor, collect: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Final normalised tokens (LayerNorm without affine), plus the raw tokens after each block in ``collect``."""
        x, taps = run_blocks(self.blocks, x, collect)
        return F.layer_norm(x, (self.dim,), eps=1e-6), taps

    def forward(self, pixels: torch.Tensor, spectra: torch.Tensor,
                collect: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.transformer(self.embed(self.patch_embedding(pixels, spectra)), collect)


def infer_copernicus_fm_variant(state: Mapping[str, torch.Tensor]) -> str | None:
    """The size whose width and depth match an encoder state dict, if any."""
    cls = state.get("cls_token")
    if cls is None:
        return None
    depth = 1 + max((int(k.split(".")[1]) for k in state if k.startswith("blocks.")), default=-1)
    return next((n for n, s in COPERNICUS_FM_SIZES.items() if s.dim == cls.shape[-1] and s.depth == depth), None)


def copernicus_fm_official_state(ckpt: Mapping, path: str | Path, variant: str) -> dict[str, torch.Tensor]:
    """The spectral encoder's tensors of a released file (language path dropped), refused if another size."""
    state = ckpt.get("model", ckpt)  # the README reads the weights under "model" when present
    if not isinstance(state, Mapping) or "patch_embed_spectral.weight_generator.fc_weight.weight" not in state:
        keys = sorted(state)[:5] if isinstance(state, Mapping) else type(state).__name__
        raise CheckpointError(f"{path} is not a Copernicus-FM checkpoint: no 'patch_embed_spectral.weight_generator.*' "
                              f"keys (first keys: {keys})", "pass CopernicusFM_ViT_base_varlang_e100.pth")
    encoder = {k: v for k, v in state.items() if not k.startswith(LANGUAGE_PATH)}
    found = infer_copernicus_fm_variant(encoder)
    if found is not None and found != variant:
        raise CheckpointError(f"{path} holds a Copernicus-FM '{found}' encoder but the model is Copernicus-FM "
                              f"'{variant}'", f"use --variant {found}")
    return encoder


# Copernicus-Pretrain's spectral sensors: Sentinel-3 OLCI from 0.4 µm, Sentinel-2 to 2.19 µm, Sentinel-1 at 5 cm.
TRAINED_RANGE = [0.4, 5.0e4]

for _variant, _size in COPERNICUS_FM_SIZES.items():
    register_model(f"copernicus_fm_{_variant}", ModelFacts(
        family="copernicus_fm", label="Copernicus-FM", variant=_variant, kind=ENCODER, patch_size=_size.patch_size,
        input_size=_size.img_size,
        band_convention="any bands: the patch kernel is generated from their centre wavelengths and bandwidths "
                        "(sensor tables with bandwidths: S2 L1C/L2A, HLS S30, S1); location/time/area unknown",
        wavelength_units="µm for wavelengths and bandwidths (rounded to float32 nm inside the generator)",
        normalisation="per-sensor mean/std (Copernicus-Bench normalises each dataset with its own statistics; "
                      "the sensor table)",
        embed_dim=_size.dim, depth=_size.depth, upernet_layers=tap_layers(_size.depth),
        band_agnostic="copernicus_fm",
        official_weights="Copernicus-FM ViT-B/16 (CopernicusFM_ViT_base_varlang_e100.pth)" if _variant == "base" else None,
        source="arXiv:2503.11849; zhu-xlab/Copernicus-FM src/model_vit.py, src/dynamic_hypernetwork.py, "
               "src/aurora/fourier.py, README.md, Copernicus-Bench dataset configs; torchgeo "
               "torchgeo/models/copernicusfm.py",
    ), aliases=(_variant,), default=_variant == "base", official_state=copernicus_fm_official_state)(
        lambda size=_size: CopernicusFMEncoder(size))
