"""SSL4EO-S12: the ViT-S/16 and ResNet-50 pretrained on 13 Sentinel-2 L1C bands, as torchgeo re-packages them.

Sources (facts only, no code taken): Wang et al., "SSL4EO-S12: A Large-Scale Multi-Modal, Multi-Temporal
Dataset for Self-Supervised Learning in Earth Observation", arXiv:2211.07044; the official repository
zhu-xlab/SSL4EO-S12 (``src/benchmark/transfer_classification/linear_BE_moco.py`` and the EuroSAT loader:
Sentinel-2 L1C digital numbers divided by 10000); torchgeo ``torchgeo/models/vit.py``
(``ViTSmall16_Weights.SENTINEL2_ALL_MOCO`` / ``_DINO`` / ``_MAE``: ``timm.create_model("vit_small_patch16_224",
in_chans=13)``, loaded allowing only ``norm.*``/``head.*`` to be missing or extra) and
``torchgeo/models/resnet.py`` (``ResNet50_Weights.SENTINEL2_ALL_MOCO`` / ``_DINO``: ``timm.create_model(
"resnet50", in_chans=13)``, only ``fc.*`` missing), with the band list ``B1 .. B8, B8a, B9, B10, B11, B12``.

Normalisation, which the weights fix (recorded in the metadata, so eval and predict apply it): every one of
the five releases above uses ``Normalize(mean=0, std=10000)`` in torchgeo (``_zhu_xlab_transforms`` for
the ViT-S, ``_ssl4eo_s12_transforms_s2_10k`` for the ResNet-50): reflectance x 10000 in, reflectance out.
The per-band mean/std variant (``_ssl4eo_s12_transforms_s2_stats``) belongs to other releases (SoftCon),
not covered here. The input must be the 13 L1C bands in that order (with the cirrus band B10): the model's
first layer is sized for 13 and anything else is refused when it is built.

The architectures are timm's (:mod:`trtbench.models.vit`, :mod:`trtbench.models.resnet`); the released
files are plain timm state dicts (a ``{"state_dict"|"model": ...}`` wrapper is unwrapped), so they load
strictly once the classifier (``head.*``, ``fc.*``) is dropped. torchgeo tolerates a ViT file without the
final ``norm.*``; such a file is refused here naming the two keys, as for DOFA, because the encoder's
output would then be undefined.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from ..errors import TrtbenchError
from .heads import tap_layers
from .registry import ENCODER, ModelFacts, register_model
from .resnet import RESNET_SIZES, ResNetEncoder
from .vit import CLASSIFIER_KEYS, VIT_SIZES, ViTEncoder, encoder_state

BANDS = 13                    # Sentinel-2 L1C, B01..B12 with B8A after B08 (torchgeo's _sentinel2_toa_bands)
STATISTICS = (0.0, 10000.0)   # torchgeo: Normalize(mean=0, std=10000) for every release registered here
NORMALISATION = "reflectance x 10000 / 10000 (mean 0, std 10000 for every band), as torchgeo's SSL4EO-S12 transforms"
SENSOR_HINT = "use --sensor sentinel-2-l1c with all 13 bands (B01..B12, B8A after B08)"


def _check_bands(bands: int) -> None:
    if bands != BANDS:
        raise TrtbenchError(f"SSL4EO-S12 weights take the 13 Sentinel-2 L1C bands, not {bands}", SENSOR_HINT)


def build_vit(variant: str, bands: int = BANDS) -> ViTEncoder:
    _check_bands(bands)
    return ViTEncoder(VIT_SIZES[variant], bands)


def build_resnet(variant: str, bands: int = BANDS) -> ResNetEncoder:
    _check_bands(bands)
    return ResNetEncoder(RESNET_SIZES[variant], bands)


def vit_state(ckpt: Mapping, path: str | Path, variant: str) -> dict[str, torch.Tensor]:
    """A torchgeo SSL4EO-S12 ViT file (timm layout), classifier dropped."""
    return encoder_state(ckpt, path, label="SSL4EO-S12 ViT", marker="patch_embed.proj.weight", drop=CLASSIFIER_KEYS,
                         fix="pass vit_small_patch16_224_sentinel2_all_{moco,dino}.pth or B13_vits16_mae_ep99_enc.pth")


def resnet_state(ckpt: Mapping, path: str | Path, variant: str) -> dict[str, torch.Tensor]:
    """A torchgeo SSL4EO-S12 ResNet-50 file (timm layout), classifier dropped."""
    return encoder_state(ckpt, path, label="SSL4EO-S12 ResNet", marker="layer1.0.conv1.weight", drop=("fc.",),
                         fix="pass resnet50_sentinel2_all_{moco,dino}.pth")


_SOURCE = ("arXiv:2211.07044; zhu-xlab/SSL4EO-S12 linear_BE_moco.py; torchgeo torchgeo/models/vit.py "
           "(ViTSmall16_Weights), torchgeo/models/resnet.py (ResNet50_Weights); timm vision_transformer.py, resnet.py")
_BANDS = "fixed: the 13 Sentinel-2 L1C bands B01..B12 (B8A after B08, with B10), in that order"
_COMMON = dict(family="ssl4eo", label="SSL4EO-S12", kind=ENCODER, input_size=224, band_convention=_BANDS,
               wavelength_units=None, normalisation=NORMALISATION, source=_SOURCE, statistics=STATISTICS,
               sensor="sentinel-2-l1c")

for _variant, _name, _weights in (("small", "ssl4eo_vit_small", "torchgeo ViTSmall16_Weights.SENTINEL2_ALL_{MOCO,"
                                   "DINO,MAE} (vit_small_patch16_224_sentinel2_all_*.pth, B13_vits16_mae_ep99_enc.pth)"),
                                  ("tiny", "ssl4eo_vit_tiny", None)):
    _size = VIT_SIZES[_variant]
    register_model(_name, ModelFacts(
        variant=f"vit_{_variant}", patch_size=_size.patch_size, embed_dim=_size.dim, depth=_size.depth,
        upernet_layers=tap_layers(_size.depth), official_weights=_weights, **_COMMON,
    ), aliases=(f"vit_{_variant}", f"vit-{_variant}"), default=_variant == "small", official_state=vit_state)(
        lambda bands=BANDS, variant=_variant: build_vit(variant, bands))

for _variant, _name, _weights in (("50", "ssl4eo_resnet50", "torchgeo ResNet50_Weights.SENTINEL2_ALL_{MOCO,DINO} "
                                   "(resnet50_sentinel2_all_*.pth)"), ("tiny", "ssl4eo_resnet_tiny", None)):
    _size = RESNET_SIZES[_variant]
    register_model(_name, ModelFacts(
        variant=f"resnet{_variant}" if _variant == "50" else "resnet_tiny", patch_size=_size.patch_size,
        embed_dim=_size.dim, depth=_size.depth, upernet_layers=None, official_weights=_weights, **_COMMON,
    ), aliases=("resnet50", "rn50") if _variant == "50" else ("resnet_tiny",), official_state=resnet_state)(
        lambda bands=BANDS, variant=_variant: build_resnet(variant, bands))
