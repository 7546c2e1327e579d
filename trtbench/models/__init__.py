"""Models: the registry, the model families (Clay, DOFA, Prithvi, CROMA, TerraMind, UNet ...), task heads and strict
checkpoint loading.

Importing the package imports every family module, which registers its models (timm's pattern).
"""

# Registration happens at import.
from . import (  # noqa: F401
    clay,
    copernicus_fm,
    croma,
    dofa,
    panopticon,
    prithvi,
    resnet,
    scalemae,
    ssl4eo,
    terramind,
    unet,
    vit,
)
from .build import create_model, model_from_checkpoint, parameter_count, rebuild_reference
from .checkpoint import save_model
from .geomodel import GeoModel
from .registry import MODELS, list_models, resolve_model_name

__all__ = ["MODELS", "GeoModel", "create_model", "list_models", "model_from_checkpoint", "parameter_count",
           "rebuild_reference", "resolve_model_name", "save_model"]
