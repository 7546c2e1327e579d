"""TerraMind v1 (base, large): the encoder alone, for fine-tuning on any subset of its raw-image modalities.

Sources (facts only, no code taken): Jakubik et al., "TerraMind: Large-Scale Generative Multimodality for Earth
Observation", arXiv:2504.11171; IBM/terratorch ``terratorch/models/backbones/terramind/model/terramind_vit.py``
(``TerraMindViT``: the encoder TerraTorch fine-tunes, its ``merge_method="mean"`` output),
``encoder_embeddings.py`` (``ImageEncoderEmbedding``), ``tm_utils.py`` (``Block``, ``Attention``, ``GatedMlp``,
bias-free ``LayerNorm``, ``build_2d_sincos_posemb``, ``interpolate_pos_encoding``), ``modality_info.py``
(``untok_*@224``: 16 x 16 patches, 224 input), ``terramind_register.py`` (``terramind_v1_base``: 768 wide,
12 blocks, 12 heads; ``terramind_v1_large``: 1024, 24, 16; ``PRETRAINED_BANDS``, ``v1_pretraining_mean/std``,
``checkpoint_filter_fn``) and ``terramind.py`` (``TerraMind``: the pretraining checkpoint's other keys).

What the encoder computes, named as the official code names it, so that the encoder part of the released
``TerraMind_v1_base.pt`` / ``TerraMind_v1_large.pt`` loads strictly:

* ``encoder_embeddings.<key>`` per raw-image modality (``untok_sen2l2a@224`` S2L2A, 12 bands;
  ``untok_sen2l1c@224`` S2L1C, 13; ``untok_sen1grd@224`` S1GRD and ``untok_sen1rtc@224`` S1RTC, VV/VH):
  ``proj`` a bias-free ``Linear(C * 16 * 16, D)`` over each patch flattened row, column, then band (here run
  as the equivalent strided convolution), a fixed 2-D sin-cos ``pos_emb`` buffer for the 14 x 14 grid (MoCo-v3
  layout: sin/cos of the column, then of the row) and a learned ``mod_emb``. Other grids resample the table
  bicubically (``align_corners=False``) as the official code does; here as two matrix products (exactly the
  identity at 14 x 14), so a dynamic-size ONNX graph needs no Resize.
* ``encoder.<i>``: pre-norm blocks with bias-free LayerNorm (eps 1e-6; the zero ``bias`` is a stored buffer),
  bias-free ``attn.qkv`` and ``attn.proj``, and a SwiGLU MLP (``mlp.fc1``, ``mlp.fc3``, ``mlp.fc2``, no biases,
  hidden ``int(2 * 4 * D / 3)``: ``fc2(silu(fc1 x) * fc3 x)``). ``encoder_norm`` after the last block.
* No CLS token. The tokens of every input modality are concatenated (in the metadata's modality order) and
  attend to each other; the output follows TerraTorch's backbone with ``merge_method="mean"``: every layer's
  tokens are averaged over the modalities per patch, and the last layer's are the ``encoder_norm`` output. A
  head reads that merged grid (UPerNet taps blocks 3, 5, 7, 11 of base and 7, 11, 15, 23 of large); the slot a
  CLS token would hold carries the mean of the merged patch tokens (the ``cls`` output of an embedding export).

Modalities are bound to trtbench's sensor tables: ``sentinel-2-l2a`` -> S2L2A, ``sentinel-2-l1c`` -> S2L1C,
``sentinel-1-grd`` -> S1GRD, ``sentinel-1-rtc`` -> S1RTC. A modality may
take any subset of its pretrained bands, in any order, as TerraTorch's ``bands=`` does
(``select_modality_patch_embed_weights``: each band keeps its pretrained weights, absent bands contribute
nothing); a band the modality was not pretrained on is refused. The released checkpoint is the whole
pretraining model: like ``checkpoint_filter_fn``, :func:`terramind_state` keeps what the encoder has and drops
the decoder, the mask token and the tokenised/sequence/other modalities' embeddings.

Normalisation: TerraMind v1 was pretrained on per-modality standardised inputs (``v1_pretraining_mean/std``,
:data:`PRETRAINING_STATISTICS`, S1 in dB); registered as the facts' ``band_statistics``, so a model's metadata records them for its bands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, TrtbenchError
from ..metadata import ModelMetadata
from .heads import tap_layers
from .registry import ENCODER, ModelFacts, register_model
from .vit_blocks import Attention, run_blocks

PATCH = 16
IMAGE = 224   # the grid of the stored position tables is IMAGE // PATCH
CUBIC_A = -0.75   # PyTorch's bicubic coefficient (F.interpolate(mode="bicubic"))


@dataclass(frozen=True)
class TerraMindSize:
    dim: int
    depth: int
    heads: int
    mlp_ratio: float = 4.0
    patch_size: int = PATCH


SIZES = {"tiny": TerraMindSize(64, 4, 2), "base": TerraMindSize(768, 12, 12), "large": TerraMindSize(1024, 24, 16)}

_S2_OFFICIAL = {"B01": "COASTAL_AEROSOL", "B02": "BLUE", "B03": "GREEN", "B04": "RED", "B05": "RED_EDGE_1",
                "B06": "RED_EDGE_2", "B07": "RED_EDGE_3", "B08": "NIR_BROAD", "B8A": "NIR_NARROW",
                "B09": "WATER_VAPOR", "B10": "CIRRUS", "B11": "SWIR_1", "B12": "SWIR_2", "VV": "VV", "VH": "VH"}


@dataclass(frozen=True)
class Modality:
    key: str                 # the official embedding name (``encoder_embeddings.<key>``)
    name: str                # how TerraTorch users write it (``S2L2A``)
    bands: tuple[str, ...]   # trtbench band names in the official channel order (PRETRAINED_BANDS)
    mean: tuple[float, ...]  # v1_pretraining_mean / std, per band
    std: tuple[float, ...]


_S2L2A = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
MODALITIES: dict[str, Modality] = {m.key: m for m in (
    Modality("untok_sen2l2a@224", "S2L2A", _S2L2A,
             (1390.458, 1503.317, 1718.197, 1853.91, 2199.1, 2779.975, 2987.011, 3083.234, 3132.22, 3162.988,
              2424.884, 1857.648),
             (2106.761, 2141.107, 2038.973, 2134.138, 2085.321, 1889.926, 1820.257, 1871.918, 1753.829, 1797.379,
              1434.261, 1334.311)),
    Modality("untok_sen2l1c@224", "S2L1C", _S2L2A[:10] + ("B10",) + _S2L2A[10:],
             (2357.089, 2137.385, 2018.788, 2082.986, 2295.651, 2854.537, 3122.849, 3040.56, 3306.481, 1473.847,
              506.07, 2472.825, 1838.929),
             (1624.683, 1675.806, 1557.708, 1833.702, 1823.738, 1733.977, 1732.131, 1679.732, 1727.26, 1024.687,
              442.165, 1331.411, 1160.419)),
    Modality("untok_sen1grd@224", "S1GRD", ("VV", "VH"), (-12.599, -20.293), (5.195, 5.890)),
    Modality("untok_sen1rtc@224", "S1RTC", ("VV", "VH"), (-10.93, -17.329), (4.391, 4.459)),
)}
# trtbench sensor table -> the modality it feeds
SENSOR_MODALITY = {"sentinel-2-l2a": "untok_sen2l2a@224", "sentinel-2-l1c": "untok_sen2l1c@224",
                   "sentinel-1-grd": "untok_sen1grd@224", "sentinel-1-rtc": "untok_sen1rtc@224"}
PRETRAINING_STATISTICS = {sensor: MODALITIES[key] for sensor, key in SENSOR_MODALITY.items()}


def official_band_name(band: str) -> str:
    """trtbench's band name -> TerraTorch's (``B8A`` -> ``NIR_NARROW``), for messages."""
    return _S2_OFFICIAL.get(band, band)


def modality_inputs(meta: ModelMetadata | None) -> list[tuple[str, list[int]]]:
    """``(modality key, official channel index of each input band)`` per input modality, in input order.

    Without metadata: S2L2A with its 12 pretrained bands (the size ``trtbench models`` lists). A sensor table
    TerraMind has no embedding for, or a band its modality was not pretrained on, is refused naming the right ones.
    """
    if meta is None:
        return [("untok_sen2l2a@224", list(range(len(_S2L2A))))]
    if meta.num_frames != 1:
        raise TrtbenchError(f"TerraMind takes one date per modality, not {meta.num_frames} frames",
                            "pass one image per modality (num_frames 1)")
    split = meta.modalities or {meta.sensor: list(meta.bands)}
    inputs = []
    for sensor, bands in split.items():
        if sensor not in SENSOR_MODALITY:
            raise TrtbenchError(f"TerraMind has no patch embedding for sensor '{sensor}'",
                                f"use {', '.join(f'{s} ({MODALITIES[k].name})' for s, k in SENSOR_MODALITY.items())}"
                                ", alone or stacked (e.g. sentinel-2-l2a+sentinel-1-rtc)")
        modality = MODALITIES[SENSOR_MODALITY[sensor]]
        unknown = [b for b in bands if b not in modality.bands]
        if unknown:
            raise TrtbenchError(f"TerraMind's {modality.name} was not pretrained on band(s) {', '.join(unknown)} "
                                f"of {sensor}",
                                f"use (a subset of) {', '.join(modality.bands)} "
                                f"({', '.join(official_band_name(b) for b in modality.bands)})")
        inputs.append((modality.key, [modality.bands.index(b) for b in bands]))
    return inputs


def sincos_table(grid: int, dim: int) -> torch.Tensor:
    """MoCo-v3's fixed 2-D sin-cos positions ``[1, grid*grid, dim]``: column-major over the grid as the official
    ``build_2d_sincos_posemb`` (its meshgrid is ``(w, h)`` with ``indexing="ij"``), ``[sin w, cos w, sin h, cos h]``."""
    steps = torch.arange(grid, dtype=torch.float32)
    w, h = torch.meshgrid(steps, steps, indexing="ij")
    omega = 1.0 / 10000.0 ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4))
    out_w, out_h = w.reshape(-1, 1) * omega, h.reshape(-1, 1) * omega
    return torch.cat([out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], dim=1)[None]


def cubic_matrix(length: int, stored: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[length, stored]``: ``F.interpolate(mode="bicubic", size=..., align_corners=False)`` along one axis.

    Half-pixel centres, scale ``stored / length``, A = -0.75, source indices clamped to the edge; the identity
    when ``length == stored``. A matrix (MatMul in ONNX), so a dynamic grid needs only plain ops.
    """
    out = torch.arange(length, dtype=dtype, device=device)
    count = out[-1:] + 1  # the length as a tensor, so the exported graph computes it from the grid
    src = (out + 0.5) * (stored / count) - 0.5
    base = torch.floor(src)[:, None]
    taps = base + torch.tensor([-1.0, 0.0, 1.0, 2.0], dtype=dtype, device=device)   # the 4 source rows
    # their distances t + 1, t, 1 - t, 2 - t (t = src - base in [0, 1)): the inner two within 1, the outer beyond
    x = (src[:, None] - taps) * torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=dtype, device=device)
    inner = torch.tensor([False, True, True, False], device=device)
    a = CUBIC_A
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    weight = torch.where(inner, near, far)
    columns = torch.arange(stored, dtype=dtype, device=device)
    hits = (taps.clamp(0, stored - 1)[:, :, None] == columns).to(dtype)
    return (weight[:, :, None] * hits).sum(dim=1)


class BiasFreeLayerNorm(nn.Module):
    """TerraMind's LayerNorm with ``bias=False``: a learned scale; the zero bias is a stored buffer (its key exists)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.register_buffer("bias", torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, self.eps)


class GatedMlp(nn.Module):
    """SwiGLU: ``fc2(silu(fc1 x) * fc3 x)``, no biases, hidden width ``int(2 * ratio * dim / 3)``."""

    def __init__(self, dim: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(2 * dim * mlp_ratio / 3)
        self.fc1 = nn.Linear(dim, hidden, bias=False)
        self.act = nn.SiLU()
        self.fc2 = nn.Linear(hidden, dim, bias=False)
        self.fc3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)) * self.fc3(x))


class Block(nn.Module):
    """TerraMind's pre-norm block: timm's attention maths without the qkv and output biases, SwiGLU MLP."""

    def __init__(self, size: TerraMindSize) -> None:
        super().__init__()
        self.norm1 = BiasFreeLayerNorm(size.dim)
        self.attn = Attention(size.dim, size.heads)
        self.attn.qkv = nn.Linear(size.dim, 3 * size.dim, bias=False)
        self.attn.proj = nn.Linear(size.dim, size.dim, bias=False)
        self.norm2 = BiasFreeLayerNorm(size.dim)
        self.mlp = GatedMlp(size.dim, size.mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ImageEncoderEmbedding(nn.Module):
    """One raw-image modality's patch embedding, official names: ``proj`` (bias-free), ``pos_emb``, ``mod_emb``."""

    def __init__(self, channels: int, dim: int) -> None:
        super().__init__()
        self.channels = channels
        self.proj = nn.Linear(channels * PATCH * PATCH, dim, bias=False)
        self.register_buffer("pos_emb", sincos_table(IMAGE // PATCH, dim))
        self.mod_emb = nn.Parameter(torch.zeros(1, 1, dim))

    def kernel(self, channels: list[int]) -> torch.Tensor:
        """The projection as a conv weight ``[D, len(channels), 16, 16]`` for the given pretrained channels.

        The official input row is the patch flattened (row, column, band): weight column ``(r * 16 + c) * C + b``.
        """
        dim = self.proj.weight.shape[0]
        weight = self.proj.weight.view(dim, PATCH, PATCH, self.channels)[..., channels]
        return weight.permute(0, 3, 1, 2)

    def positions(self, h: int, w: int) -> torch.Tensor:
        """``pos_emb + mod_emb`` for an ``h x w`` grid ``[1, h*w, D]`` (the 14 x 14 table resampled bicubically)."""
        g, table = IMAGE // PATCH, self.pos_emb[0]
        dim = table.shape[-1]
        rows = cubic_matrix(h, g, table.dtype, table.device)
        cols = cubic_matrix(w, g, table.dtype, table.device)
        resampled = cols @ (rows @ table.reshape(g, g * dim)).reshape(h, g, dim)
        return resampled.reshape(1, h * w, dim) + self.mod_emb


class TerraMindEncoder(nn.Module):
    """Pixels ``[B, C, H, W]`` (the input modalities' bands concatenated) -> merged tokens ``[B, 1 + h*w, D]``."""

    def __init__(self, size: TerraMindSize, inputs: list[tuple[str, list[int]]]) -> None:
        super().__init__()
        self.size = size
        self.dim = size.dim
        self.patch_size = size.patch_size
        self.patch_padding = 0
        self.inputs = inputs
        self.encoder_embeddings = nn.ModuleDict(
            {m.key: ImageEncoderEmbedding(len(m.bands), size.dim) for m in MODALITIES.values()})
        self.encoder = nn.ModuleList(Block(size) for _ in range(size.depth))
        self.encoder_norm = BiasFreeLayerNorm(size.dim)
        for name, m in self.named_modules():   # the official MAE init (qkv per third, else Xavier)
            if isinstance(m, nn.Linear):
                rows = m.weight.shape[0] // 3 if name.endswith("qkv") else m.weight.shape[0]
                bound = (6.0 / (rows + m.weight.shape[1])) ** 0.5
                nn.init.uniform_(m.weight, -bound, bound)
        for embedding in self.encoder_embeddings.values():
            nn.init.normal_(embedding.mod_emb, std=0.02)

    def patch_embedding(self, pixels: torch.Tensor, waves: torch.Tensor | None = None) -> torch.Tensor:
        """Each modality's patch grid, stacked: ``[B, M, D, h, w]`` (``waves`` is ignored: fixed bands)."""
        grids, start = [], 0
        for key, channels in self.inputs:
            embedding = self.encoder_embeddings[key]
            part = pixels[:, start:start + len(channels)]
            grids.append(F.conv2d(part, embedding.kernel(channels), stride=PATCH))
            start += len(channels)
        return torch.stack(grids, dim=1)

    def embed(self, patches: torch.Tensor, gsd: float | torch.Tensor | None = None, time: torch.Tensor | None = None,
              latlon: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, M, D, h, w]`` -> tokens ``[B, M*h*w, D]``: each modality's patches plus its positions and ``mod_emb``."""
        h, w = patches.shape[-2], patches.shape[-1]
        tokens = [patches[:, i].flatten(2).transpose(1, 2) + self.encoder_embeddings[key].positions(h, w)
                  for i, (key, _) in enumerate(self.inputs)]
        return torch.cat(tokens, dim=1)

    def merge(self, tokens: torch.Tensor) -> torch.Tensor:
        """TerraTorch's ``merge_method="mean"``: the modalities averaged per patch, with their mean in the CLS slot."""
        b, n, d = tokens.shape
        merged = tokens.reshape(b, len(self.inputs), n // len(self.inputs), d).mean(dim=1)
        return torch.cat([merged.mean(dim=1, keepdim=True), merged], dim=1)

    def transformer(self, x: torch.Tensor, collect: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Merged final tokens (after ``encoder_norm``), and the merged tokens after each block in ``collect`` (the
        last block's normalised, as TerraTorch returns it)."""
        x, taps = run_blocks(self.encoder, x, collect)
        final = self.encoder_norm(x)
        last = len(self.encoder) - 1
        taps = [final if i == last else t for i, t in zip(sorted(collect), taps)]
        return self.merge(final), [self.merge(t) for t in taps]

    def forward(self, pixels: torch.Tensor, collect: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.transformer(self.embed(self.patch_embedding(pixels)), collect)


def terramind_state(ckpt: Mapping, path: str | Path, variant: str) -> dict[str, torch.Tensor]:
    """The encoder of a released TerraMind file, as TerraTorch's ``checkpoint_filter_fn`` keeps it for the ViT:
    the blocks, ``encoder_norm`` and the raw-image embeddings held here; the decoder, mask token and other
    modalities' embeddings are dropped. A file of another size is refused saying which it holds."""
    state = ckpt
    for wrapper in ("model", "state_dict"):
        if isinstance(state, Mapping) and "encoder_norm.weight" not in state and isinstance(state.get(wrapper), Mapping):
            state = state[wrapper]
    if not isinstance(state, Mapping) or "encoder_norm.weight" not in state:
        keys = sorted(state)[:5] if isinstance(state, Mapping) else type(state).__name__
        raise CheckpointError(f"{path} is not a TerraMind checkpoint: no 'encoder_norm.weight' key (first keys: {keys})",
                              "pass TerraMind_v1_base.pt or TerraMind_v1_large.pt (ibm-esa-geospatial on Hugging Face)")
    dim = state["encoder_norm.weight"].shape[0]
    depth = 1 + max((int(k.split(".")[1]) for k in state if k.startswith("encoder.")), default=-1)
    held = next((name for name, s in SIZES.items() if (s.dim, s.depth) == (dim, depth)), None)
    if held is not None and held != variant:
        raise CheckpointError(f"{path} holds a TerraMind '{held}' encoder ({dim} wide, {depth} blocks), not '{variant}'",
                              f"use --variant {held}")
    keep = ("encoder.", "encoder_norm.", *(f"encoder_embeddings.{key}." for key in MODALITIES))
    return {k: v for k, v in state.items() if k.startswith(keep)}


def build_terramind(size: TerraMindSize, meta: ModelMetadata | None = None) -> TerraMindEncoder:
    return TerraMindEncoder(size, modality_inputs(meta))


_WEIGHTS = {"base": "TerraMind_v1_base.pt (ibm-esa-geospatial/TerraMind-1.0-base)",
            "large": "TerraMind_v1_large.pt (ibm-esa-geospatial/TerraMind-1.0-large)", "tiny": None}

for _variant, _size in SIZES.items():
    register_model(f"terramind_v1_{_variant}", ModelFacts(
        family="terramind", label="TerraMind", variant=_variant, kind=ENCODER, patch_size=PATCH, input_size=IMAGE,
        band_convention="fixed per modality: sentinel-2-l2a -> S2L2A (B01-B12 without B10), sentinel-2-l1c -> S2L1C "
                        "(13), sentinel-1-grd -> S1GRD, sentinel-1-rtc -> S1RTC (VV, VH); any subset of a modality's bands; modalities "
                        "stacked (sentinel-2-l2a+sentinel-1-rtc), tokens averaged over modalities per patch",
        wavelength_units=None,
        normalisation="TerraMind v1 pretraining mean/std per modality (terratorch v1_pretraining_mean/std; S1 in dB)",
        embed_dim=_size.dim, depth=_size.depth, upernet_layers=tap_layers(_size.depth), official_weights=_WEIGHTS[_variant],
        source="arXiv:2504.11171; IBM/terratorch terratorch/models/backbones/terramind/model/terramind_vit.py, "
               "encoder_embeddings.py, tm_utils.py, modality_info.py, terramind_register.py",
        builds_from_metadata=True,
        band_statistics={sensor: dict(zip(m.bands, zip(m.mean, m.std))) for sensor, m in PRETRAINING_STATISTICS.items()},
    ), aliases=(_variant, f"v1_{_variant}"), default=_variant == "base", official_state=terramind_state)(
        lambda meta=None, size=_size: build_terramind(size, meta))
