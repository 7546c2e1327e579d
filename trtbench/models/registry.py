"""Model registry in the spirit of timm: ``create_model("clay_v1_5", checkpoint=..., sensor=..., bands=...)``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError, TrtbenchError
from ..fileio import file_sha256
from ..metadata import ModelMetadata
from ..sensors import Sensor, get_sensor
from .checkpoint import (
    checkpoint_metadata,
    clay_encoder_state,
    infer_clay_variant,
    load_strict,
    read_checkpoint,
)
from .clay import CLAY_SIZES, ClayEncoder
from .geomodel import GeoModel, build_head
from .unet import UNET_SIZES, UNet


@dataclass(frozen=True)
class ModelSpec:
    """What a registry name builds: a model family (which decides the builder) and its size."""

    family: str   # "clay" (encoder + head) or "unet" (baseline trained from scratch)
    variant: str  # a key of CLAY_SIZES or UNET_SIZES


# v1.5 is the released large Clay model, v1.0 the released base model.
MODELS: dict[str, ModelSpec] = {
    "clay_v1_5": ModelSpec("clay", "large"),
    "clay_v1": ModelSpec("clay", "base"),
    "clay_large": ModelSpec("clay", "large"),
    "clay_base": ModelSpec("clay", "base"),
    "clay_small": ModelSpec("clay", "small"),
    "clay_tiny": ModelSpec("clay", "tiny"),
    "unet": ModelSpec("unet", "base"),
    "unet_small": ModelSpec("unet", "small"),
}
VARIANT_ALIASES = {"v1.5": "clay_v1_5", "v1": "clay_v1", "v1.0": "clay_v1", "large": "clay_large",
                   "base": "clay_base", "small": "clay_small", "tiny": "clay_tiny"}
DEFAULT_INPUT_SIZE = 256


def list_models() -> list[str]:
    return list(MODELS)


def resolve_model_name(family: str, variant: str | None) -> str:
    """``("clay", "v1.5") -> "clay_v1_5"``; also accepts a registry name as ``family``."""
    if family == "unet" and variant not in (None, "base"):
        if f"unet_{variant}" not in MODELS:
            raise TrtbenchError(f"unknown UNet variant '{variant}'", f"use one of: {', '.join(UNET_SIZES)}")
        return f"unet_{variant}"
    if family in MODELS:
        return family
    if family != "clay":
        raise TrtbenchError(f"unknown model family '{family}'", f"use one of: clay, {', '.join(MODELS)}")
    key = (variant or "v1.5").lower()
    if key not in VARIANT_ALIASES:
        raise TrtbenchError(f"unknown Clay variant '{variant}'", f"use one of: {', '.join(VARIANT_ALIASES)}")
    return VARIANT_ALIASES[key]


def create_model(name: str, *, checkpoint: str | Path | None = None, sensor: str | Sensor = "sentinel-2-l2a",
                 bands: Sequence[str] | None = None, task: str = "embedding", head: str | None = None,
                 num_classes: int | None = None, class_names: Sequence[str] | None = None,
                 seed: int | None = None, input_size: int = DEFAULT_INPUT_SIZE) -> GeoModel | UNet:
    """Build a registered model bound to a band set, in eval mode.

    Clay models are an encoder plus ``head``; a UNet has its own decoder (``head`` None or "unet").

    ``checkpoint`` is an official Clay Lightning checkpoint (encoder loaded strictly; the head, if
    any, is a seeded init) or a trtbench checkpoint (everything loaded strictly; its metadata wins
    over the arguments). Without a checkpoint the weights are a seeded random init. The seed
    (default 0) is recorded in the metadata so the reference can be rebuilt exactly.
    """
    if checkpoint is not None:
        ckpt = read_checkpoint(checkpoint)
        stored = checkpoint_metadata(ckpt)
        if stored is not None:
            return _from_trtbench_checkpoint(name, ckpt, stored, checkpoint)
    if name not in MODELS:
        raise TrtbenchError(f"unknown model '{name}'", f"use one of: {', '.join(MODELS)}")
    spec = MODELS[name]
    table = get_sensor(sensor) if isinstance(sensor, str) else sensor
    table = table.select(bands)
    seed = 0 if seed is None else seed  # recorded, so a seeded random part (init or head) can be rebuilt
    if spec.family == "unet":
        head = _unet_head(name, task, head)
    meta = ModelMetadata(
        model=name, family=spec.family, variant=spec.variant, sensor=table.name, bands=table.band_names,
        wavelengths=table.wavelengths, mean=table.mean, std=table.std, gsd=table.gsd,
        patch_size=_size_multiple(spec), input_size=input_size, task=task,
        head=head if task != "embedding" else None, num_classes=num_classes,
        class_names=list(class_names) if class_names else None,
        embed_dim=CLAY_SIZES[spec.variant].dim if spec.family == "clay" else None,
        outputs=["features", "cls"] if task == "embedding" else ["logits"], seed=seed,
    )
    torch.manual_seed(seed)
    model = _build(meta)
    if checkpoint is not None:
        if spec.family != "clay":
            raise CheckpointError(f"{checkpoint} is not a trtbench checkpoint, and a {name} has no official weights",
                                  "pass a checkpoint written by `trtbench train`, or train from scratch")
        state = clay_encoder_state(ckpt, checkpoint)
        found = infer_clay_variant(state)
        if found is not None and found != spec.variant:
            raise CheckpointError(f"{checkpoint} holds a Clay '{found}' encoder but '{name}' is '{spec.variant}'",
                                  f"use --variant {found}")
        load_strict(model.encoder, state, f"{checkpoint} (encoder)")
        model.metadata = meta.with_(checkpoint=str(Path(checkpoint).resolve()),
                                    checkpoint_sha256=file_sha256(checkpoint))
    return model.eval()


def _size_multiple(spec: ModelSpec) -> int:
    """The input edge must be a multiple of this: Clay's patch, or the UNet's total downsampling."""
    if spec.family == "unet":
        return 2 ** UNET_SIZES[spec.variant][1]
    return CLAY_SIZES[spec.variant].patch_size


def _unet_head(name: str, task: str, head: str | None) -> str:
    if task not in ("segmentation", "regression"):
        raise TrtbenchError(f"{name} is a dense baseline and cannot do {task}",
                            "use --task segmentation or regression, or a Clay model")
    if head not in (None, "unet"):
        raise TrtbenchError(f"{name} has its own decoder; head '{head}' does not apply", "drop --head for a UNet")
    return "unet"


def _build(meta: ModelMetadata) -> GeoModel | UNet:
    """A freshly initialised network for ``meta`` (seed the RNG first for a reproducible init)."""
    if meta.family == "unet":
        out = 1 if meta.task == "regression" else meta.num_classes
        if not out or out < 1:
            raise TrtbenchError(f"a {meta.task} UNet needs --num-classes >= 1", "pass --num-classes")
        return UNet(meta, out, *UNET_SIZES[meta.variant])
    encoder = ClayEncoder(CLAY_SIZES[meta.variant])
    return GeoModel(encoder, meta, build_head(meta.head, encoder, meta.task, meta.num_classes))


def model_from_checkpoint(path: str | Path) -> GeoModel | UNet:
    """A model rebuilt from a trtbench checkpoint alone (its metadata says what it is)."""
    ckpt = read_checkpoint(path)
    meta = checkpoint_metadata(ckpt)
    if meta is None:
        raise CheckpointError(f"{path} carries no trtbench metadata (it is not from `trtbench train` or save_model)",
                              "for an official Clay checkpoint use `trtbench export clay --checkpoint FILE`")
    return _from_trtbench_checkpoint(meta.model, ckpt, meta, path)


def _from_trtbench_checkpoint(name: str, ckpt: dict, meta: ModelMetadata, path: str | Path) -> GeoModel | UNet:
    if name not in (meta.model, meta.family):
        raise CheckpointError(f"{path} is a '{meta.model}' checkpoint, not '{name}'", f"use {meta.model}")
    model = _build(meta)
    load_strict(model, ckpt["state_dict"], str(path))
    model.metadata = meta.with_(checkpoint=str(Path(path).resolve()), checkpoint_sha256=file_sha256(path))
    return model.eval()


def rebuild_reference(meta: ModelMetadata, checkpoint: str | Path | None = None) -> GeoModel | UNet:
    """The PyTorch model an artifact was exported from: from ``checkpoint``, the recorded one, or the seed."""
    checkpoint = checkpoint or meta.checkpoint
    if checkpoint is None and meta.seed is None:
        raise TrtbenchError("the artifact records neither a checkpoint nor a seed", "pass --reference CKPT")
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise TrtbenchError(f"reference checkpoint not found: {checkpoint}", "pass --reference with its current path")
    if checkpoint is not None and meta.checkpoint_sha256 and file_sha256(checkpoint) != meta.checkpoint_sha256:
        raise CheckpointError(f"{checkpoint} is not the checkpoint this artifact was exported from (sha256 differs)",
                              "pass the checkpoint used at export time")
    return create_model(meta.model, checkpoint=checkpoint, sensor=meta.sensor_table(), bands=meta.bands,
                        task=meta.task, head=meta.head, num_classes=meta.num_classes,
                        class_names=meta.class_names, seed=meta.seed, input_size=meta.input_size)
