"""Registry name -> model: ``create_model("dofa_base", checkpoint=..., sensor=..., bands=...)``.

The registry (:mod:`.registry`) says what each name is; this module binds it to a band set, builds it
(seeded), loads official or trtbench checkpoints strictly, and rebuilds the PyTorch reference of an
exported artifact from its metadata.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError, TrtbenchError
from ..fileio import file_sha256
from ..metadata import ModelMetadata
from ..sensors import Sensor, get_sensor, read_radar_as
from .checkpoint import checkpoint_metadata, load_strict, read_checkpoint
from .geomodel import GeoModel, build_head
from .lora import add_adapters, lora_in_checkpoint, merge_adapters
from .registry import ENCODER, ModelSpec, get_spec


def create_model(name: str, *, checkpoint: str | Path | None = None, sensor: str | Sensor | None = None,
                 bands: Sequence[str] | None = None, task: str = "embedding", head: str | None = None,
                 num_classes: int | None = None, class_names: Sequence[str] | None = None,
                 seed: int | None = None, input_size: int | None = None, num_frames: int = 1) -> nn.Module:
    """Build a registered model bound to a band set, in eval mode.

    Encoder families (Clay, DOFA) are an encoder plus ``head``; whole networks (UNet) have their own
    decoder (``head`` None or "unet").

    ``checkpoint`` is the family's official release (encoder loaded strictly; the head, if any, is a
    seeded init) or a trtbench checkpoint (everything loaded strictly, LoRA adapters included and then
    merged into the encoder weights; its metadata wins over the arguments). Without a checkpoint the weights are a seeded random init. The seed (default 0) is
    recorded in the metadata so the reference can be rebuilt exactly. ``input_size`` defaults to the
    model's published input edge. ``num_frames`` is the time steps T of a time-series model (the pixels input
    is then ``[B, T*C, H, W]``, frame-major). A stacked sensor (``sentinel-2-l1c+sentinel-1-rtc``) records
    which bands belong to which modality (``metadata.modalities``).
    """
    if checkpoint is not None:
        ckpt = read_checkpoint(checkpoint)
        stored = checkpoint_metadata(ckpt)
        if stored is not None:
            return _from_trtbench_checkpoint(name, ckpt, stored, checkpoint)
    spec = get_spec(name)
    facts = spec.facts
    if sensor is None:   # the model's own table (and its bands of it) unless one is named
        sensor, bands = facts.sensor, bands if bands is not None else facts.bands
    table = get_sensor(sensor) if isinstance(sensor, str) else sensor
    table = read_radar_as(table.select(bands), spec.family)  # Sentinel-1 as this family reads it (DOFA: 5.405)
    mean, std = table.mean, table.std
    if facts.statistics is not None:  # the weights fix the normalisation (SSL4EO-S12: reflectance / 10000)
        mean, std = [facts.statistics[0]] * len(mean), [facts.statistics[1]] * len(std)
    if facts.band_statistics is not None and all(p in facts.band_statistics for p in table.name.split("+")):
        # per-modality pretraining statistics (TerraMind); another sensor is refused by the model's builder
        mean, std = pretraining_statistics(facts.band_statistics, table, facts.label)
    seed = 0 if seed is None else seed  # recorded, so a seeded random part (init or head) can be rebuilt
    if facts.kind != ENCODER:
        head = _own_decoder_head(spec, task, head)
    meta = ModelMetadata(
        model=name, family=spec.family, variant=spec.variant, sensor=table.name, bands=table.band_names,
        wavelengths=table.wavelengths, bandwidths=table.known_bandwidths, mean=mean, std=std, gsd=table.gsd,
        patch_size=facts.patch_size, input_size=input_size or facts.input_size, task=task,
        head=head if task != "embedding" else None, num_classes=num_classes,
        class_names=list(class_names) if class_names else None,
        embed_dim=facts.embed_dim if facts.kind == ENCODER else None,
        outputs=["features", "cls"] if task == "embedding" else ["logits"], seed=seed,
        num_frames=num_frames, modalities=modalities_of(table),
    )
    torch.manual_seed(seed)
    model = build_network(meta)
    if checkpoint is not None:
        if spec.official_state is None:
            raise CheckpointError(f"{checkpoint} is not a trtbench checkpoint, and a {name} has no official weights",
                                  "pass a checkpoint written by `trtbench train`, or train from scratch")
        load_strict(model.encoder, spec.official_state(ckpt, checkpoint, spec.variant), f"{checkpoint} (encoder)")
        model.metadata = meta.with_(checkpoint=str(Path(checkpoint).resolve()),
                                    checkpoint_sha256=file_sha256(checkpoint))
    return model.eval()


def build_network(meta: ModelMetadata) -> nn.Module:
    """A freshly initialised network for ``meta`` (seed the RNG first for a reproducible init)."""
    spec = get_spec(meta.model)
    if spec.facts.kind != ENCODER:
        return spec.build(meta)
    # Fixed-channel encoders (ViT, ResNet) size their first layer from the bands; wavelength-driven ones need not;
    # multi-modal and time-series encoders read the band split and frames from the metadata.
    if spec.facts.builds_from_metadata:
        encoder = spec.build(meta)
    else:
        encoder = spec.build() if spec.facts.wavelength_units is not None else spec.build(meta.num_bands)
    return GeoModel(encoder, meta, build_head(meta.head, encoder, meta.task, meta.num_classes))


def pretraining_statistics(statistics: Mapping[str, Mapping[str, tuple[float, float]]], table: Sensor,
                           label: str) -> tuple[list[float], list[float]]:
    """Mean and std of each band of ``table`` (one sensor or an ``a+b`` stack) from a model's pretraining
    statistics per sensor table; a band the model has none for is refused (its inputs would be mis-scaled)."""
    parts = table.name.split("+")
    pairs = []
    for band in table.band_names:
        found = next((statistics[p][band] for p in parts if band in statistics.get(p, {})), None)
        if found is None:
            raise TrtbenchError(f"{label} has no pretraining statistics for band '{band}' of {table.name}",
                                f"use the bands of {', '.join(statistics)}")
        pairs.append(found)
    return [float(m) for m, _ in pairs], [float(s) for _, s in pairs]


def modalities_of(table: Sensor) -> dict[str, list[str]] | None:
    """Bands per modality of a stacked sensor table (``sentinel-2-l1c+sentinel-1-rtc``); None for one sensor.

    The modalities must follow each other in the band order (the metadata's contract), so a selection that
    interleaves them is refused rather than silently regrouped."""
    parts = table.name.split("+")
    if len(parts) < 2:
        return None
    owned = {name: set(get_sensor(name).band_names) for name in parts}
    split = {name: [b for b in table.band_names if b in bands] for name, bands in owned.items()}
    split = {name: bands for name, bands in split.items() if bands}
    if [b for bands in split.values() for b in bands] != table.band_names:
        raise TrtbenchError(f"the bands {', '.join(table.band_names)} interleave the modalities of {table.name}",
                            "list each modality's bands together, in the order of the sensor stack")
    return split


def parameter_count(name: str) -> int:
    """Parameters of the encoder (whole networks: at 10 input bands and 2 classes), counted on the meta device."""
    spec = get_spec(name)
    with torch.device("meta"):
        if spec.facts.kind == ENCODER:
            module = spec.build()
        else:
            module = spec.build(ModelMetadata(model=name, family=spec.family, variant=spec.variant, sensor="custom",
                                              bands=[f"b{i}" for i in range(10)], wavelengths=[1.0] * 10,
                                              mean=[0.0] * 10, std=[1.0] * 10, gsd=10.0,
                                              patch_size=spec.facts.patch_size, input_size=spec.facts.input_size,
                                              task="segmentation", num_classes=2))
    return sum(p.numel() for p in module.parameters())


def model_from_checkpoint(path: str | Path, *, merge_lora: bool = True) -> nn.Module:
    """A model rebuilt from a trtbench checkpoint alone (its metadata says what it is).

    A LoRA checkpoint (``trtbench train --regime lora``) holds the pretrained weights and the adapters; they
    are loaded strictly and merged into plain weights, the model every artifact is exported from.
    ``merge_lora=False`` keeps the adapters as trained (to check that merging changes nothing)."""
    ckpt = read_checkpoint(path)
    meta = checkpoint_metadata(ckpt)
    if meta is None:
        raise CheckpointError(f"{path} carries no trtbench metadata (it is not from `trtbench train` or save_model)",
                              "for an official release use `trtbench export <family> --checkpoint FILE` "
                              "(e.g. `trtbench export clay --checkpoint FILE`)")
    return _from_trtbench_checkpoint(meta.model, ckpt, meta, path, merge_lora=merge_lora)


def rebuild_reference(meta: ModelMetadata, checkpoint: str | Path | None = None) -> nn.Module:
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
                        class_names=meta.class_names, seed=meta.seed, input_size=meta.input_size,
                        num_frames=meta.num_frames)


def _from_trtbench_checkpoint(name: str, ckpt: dict, meta: ModelMetadata, path: str | Path, *,
                              merge_lora: bool = True) -> nn.Module:
    if name not in (meta.model, meta.family):
        raise CheckpointError(f"{path} is a '{meta.model}' checkpoint, not '{name}'", f"use {meta.model}")
    model = build_network(meta)
    lora = lora_in_checkpoint(meta, str(path))
    if lora is not None:  # the adapter keys are then expected, and checked, like every other key
        add_adapters(model, lora)
    load_strict(model, ckpt["state_dict"], str(path))
    model.metadata = meta.with_(checkpoint=str(Path(path).resolve()), checkpoint_sha256=file_sha256(path))
    if lora is not None and merge_lora:
        merge_adapters(model)
    return model.eval()


def _own_decoder_head(spec: ModelSpec, task: str, head: str | None) -> str:
    if task not in ("segmentation", "regression"):
        raise TrtbenchError(f"{spec.name} is a dense baseline and cannot do {task}",
                            "use --task segmentation or regression, or a foundation-model encoder (clay, dofa)")
    if head not in (None, spec.family):
        raise TrtbenchError(f"{spec.name} has its own decoder; head '{head}' does not apply",
                            f"drop --head for a {spec.facts.label}")
    return spec.family
