"""Models: the registry, Clay's encoder, task heads and strict checkpoint loading."""

from .checkpoint import save_model
from .geomodel import GeoModel
from .registry import create_model, list_models, model_from_checkpoint, rebuild_reference, resolve_model_name

__all__ = ["GeoModel", "create_model", "list_models", "model_from_checkpoint", "rebuild_reference", "resolve_model_name", "save_model"]
