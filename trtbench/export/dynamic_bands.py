"""Band-agnostic export: one ONNX file that serves every sensor, the band set chosen at run time.

The fixed-band export folds the wavelength-generated patch kernel into a constant ``Conv``, so each
band set needs its own file. Here the graph's inputs are ``pixels [B, C, H, W]`` with C dynamic,
``wavelengths [C]`` (µm, in channel order) and ``gsd []`` (metres; Clay scales its position embedding
by it, so Landsat at 30 m and Sentinel-2 at 10 m differ), and for Copernicus-FM ``bandwidths [C]`` (µm).
The weight generator (sin-cos embedding,
FC block, the small transformer, the linear heads) stays as standard ONNX ops, and the patch
embedding with the runtime weight is the ``trtbench::DynamicPatchEmbed`` node shipped as an ONNX
local function (:mod:`.patch_embed_op`), which runs in ONNX Runtime as is and becomes TensorRT's
plugin where one is registered.

The artifact's metadata says it is band-agnostic (``band_mode "dynamic"``), how the wavelengths
input is read, the wavelength range the embedding was trained on and the most bands it takes; its
bands/wavelengths/mean/std/gsd are the default band set. :mod:`trtbench.bands` binds another set at
run time.
"""

from __future__ import annotations

from dataclasses import astuple, replace
from pathlib import Path

import torch
from torch import nn

from ..errors import TrtbenchError
from ..metadata import ModelMetadata
from ..models import MODELS, GeoModel
from ..models.panopticon import TRAINED_RANGE as PANOPTICON_TRAINED_RANGE
from .onnx_proto import QuietExporter, name_output_dims, save_checked, write_metadata
from .patch_embed_op import CLAY, DOFA, PatchEmbedParams, attach_function, check_params, onnx_translation
from .recipes import Recipe, load_recipe

INPUTS = ["pixels", "wavelengths", "gsd"]
MAX_BANDS = 256
# Clay v1.5 was trained on Sentinel-2, Landsat, NAIP, LINZ, MODIS, PlanetScope (0.44-2.2 µm) and
# Sentinel-1 with pseudo-wavelengths 3.5/4.0 µm: outside this span the generated kernel is extrapolated.
CLAY_TRAINED_RANGE = [0.4, 4.0]
# DOFA was pre-trained on EnMAP hyperspectral (HySpecNet-11k, 0.42-2.45 µm), Sentinel-2, Gaofen, NAIP and
# Sentinel-1 given the wavelength 5.405 (zhu-xlab/DOFA README).
DOFA_TRAINED_RANGE = [0.42, 5.405]
# Copernicus-FM: its generated kernel (permuted, and resized for patches other than 16) is convolved exactly as
# DOFA's (scales 0.01/0.01, padding 1); Copernicus-Pretrain spans Sentinel-3 OLCI (0.4 µm) to Sentinel-1 (5 cm).
COPERNICUS_FM_TRAINED_RANGE = [0.4, 5.0e4]
# A registered family's DynamicPatchEmbed convention (its ModelFacts.band_agnostic) -> op parameters, trained span.
CONVENTIONS: dict[str, tuple[PatchEmbedParams, list[float]]] = {"clay": (CLAY, CLAY_TRAINED_RANGE),
                                                                 "dofa": (DOFA, DOFA_TRAINED_RANGE),
                                                                 "copernicus_fm": (DOFA, COPERNICUS_FM_TRAINED_RANGE)}
# Conventions whose generator also reads each band's bandwidth (µm): a `bandwidths [C]` input after `gsd`.
WITH_BANDWIDTHS = {"copernicus_fm"}
# Families whose band embedding is no generated convolution export their own in plain ONNX ops (the encoder's
# ``band_agnostic_embedding()``, e.g. Panopticon's channel attention); only their trained span is recorded here.
OWN_EMBEDDING_RANGES: dict[str, list[float]] = {"panopticon": PANOPTICON_TRAINED_RANGE}
SAMPLE_BANDS = 3  # the example's band count: > 1 so torch.export keeps the dimension symbolic


class BandAgnostic(nn.Module):
    """A :class:`GeoModel` with wavelengths and GSD as inputs and the patch embedding as one custom op."""

    def __init__(self, model: GeoModel):
        super().__init__()
        self.model = model
        own = getattr(model.encoder, "band_agnostic_embedding", None)
        self.embedding: nn.Module | None = own() if own is not None else None
        if self.embedding is None:
            p = model.encoder.patch_size
            self.params: PatchEmbedParams = replace(band_convention(model.metadata)[0], kernel_size=p, stride=p)
            check_params(self.params)

    def forward(self, pixels: torch.Tensor, wavelengths: torch.Tensor, gsd: torch.Tensor,
                bandwidths: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        if self.embedding is not None:
            return self.model.from_patches(self.embedding(pixels, wavelengths), gsd)
        spectra = wavelengths if bandwidths is None else torch.stack([wavelengths, bandwidths])
        weight, bias = self.model.encoder.raw_patch_kernel(spectra)
        patches = torch.ops.trtbench.dynamic_patch_embed(pixels, weight, bias, *astuple(self.params))
        return self.model.from_patches(patches, gsd)


def band_agnostic_metadata(meta: ModelMetadata) -> ModelMetadata:
    """The record of a band-agnostic artifact: the model's band set becomes the default one."""
    return meta.with_(band_mode="dynamic", inputs=band_agnostic_inputs(meta),
                      wavelength_convention=MODELS[meta.model].facts.band_agnostic,
                      wavelength_range=list(trained_range(meta)), max_bands=MAX_BANDS)


def trained_range(meta: ModelMetadata) -> list[float]:
    """The wavelength span (µm) ``meta``'s model family was pre-trained on."""
    key = MODELS[meta.model].facts.band_agnostic
    return OWN_EMBEDDING_RANGES[key] if key in OWN_EMBEDDING_RANGES else CONVENTIONS[key][1]


def band_agnostic_inputs(meta: ModelMetadata) -> list[str]:
    """The graph's inputs: pixels, wavelengths, gsd, and bandwidths where the family's generator reads them."""
    return [*INPUTS, "bandwidths"] if MODELS[meta.model].facts.band_agnostic in WITH_BANDWIDTHS else list(INPUTS)


def band_convention(meta: ModelMetadata) -> tuple[PatchEmbedParams, list[float]]:
    """The DynamicPatchEmbed parameters and trained wavelength span of ``meta``'s model family."""
    return CONVENTIONS[MODELS[meta.model].facts.band_agnostic]


def band_agnostic_request(source: GeoModel | str | Path, precision: str) -> ModelMetadata:
    """The metadata a ``--dynamic-bands`` export will write, after refusing what it cannot do."""
    if not isinstance(source, nn.Module):
        raise TrtbenchError(f"{source} is already exported; band-agnostic is decided when exporting from PyTorch",
                            "export from the checkpoint with --dynamic-bands")
    _require_band_embedding(source)
    if precision != "fp32":
        raise TrtbenchError(f"band-agnostic export is fp32 only for now, not {precision}: the precision "
                            "conversion does not reach into the DynamicPatchEmbed function",
                            "drop --precision, or export fixed bands for fp16/int8")
    return band_agnostic_metadata(source.metadata)


def export_band_agnostic(model: GeoModel, path: str | Path, *, recipe: Recipe | None = None,
                         opset: int | None = None, external_data: bool = False) -> Path:
    """Write ``model`` as one band-agnostic ONNX file (dynamic batch, bands, height, width); returns the path.
    ``external_data``: the weights in ``path.data`` beside it (always so over 2 GB)."""
    _require_band_embedding(model)
    meta = band_agnostic_metadata(model.metadata)
    recipe = recipe or load_recipe(meta.family)
    opset = opset or recipe.opset
    if opset < 18:
        raise TrtbenchError(f"the band-agnostic graph needs opset 18 or newer, got {opset}", "use --opset 18")
    p = meta.patch_size
    sample = (torch.zeros(2, SAMPLE_BANDS, 4 * p, 4 * p), torch.linspace(0.5, 2.0, SAMPLE_BANDS),
              torch.tensor(meta.gsd, dtype=torch.float32))
    if "bandwidths" in meta.inputs:
        sample = (*sample, torch.linspace(0.02, 0.2, SAMPLE_BANDS))
    bands = torch.export.Dim("bands", min=1, max=MAX_BANDS)
    grid_h = torch.export.Dim("grid_h", min=1, max=recipe.max_side // p)
    grid_w = torch.export.Dim("grid_w", min=1, max=recipe.max_side // p)
    dynamic = {"pixels": {0: torch.export.Dim("batch", min=1, max=recipe.max_batch), 1: bands,
                          2: p * grid_h, 3: p * grid_w},
               "wavelengths": {0: bands}, "gsd": None}
    if "bandwidths" in meta.inputs:
        dynamic["bandwidths"] = {0: bands}
    with QuietExporter(), torch.no_grad():
        program = torch.onnx.export(
            BandAgnostic(model).eval(), sample, dynamo=True, opset_version=opset, optimize=True, verbose=False,
            input_names=list(meta.inputs), output_names=list(meta.outputs), dynamic_shapes=dynamic,
            custom_translation_table=onnx_translation(),
        )
    proto = program.model_proto
    attach_function(proto)
    name_output_dims(proto)
    write_metadata(proto, meta)
    return save_checked(proto, path, external=external_data)


def _require_band_embedding(model: nn.Module) -> None:
    if not isinstance(model, GeoModel) or MODELS[model.metadata.model].facts.band_agnostic is None:
        raise TrtbenchError(f"{model.metadata.model} has a fixed number of input channels and no wavelength-"
                            "conditioned band embedding, so it cannot be band-agnostic", "drop --dynamic-bands")
