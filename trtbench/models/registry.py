"""The model registry, after timm's ``register_model``: a family is one module plus one registration.

A family module (``clay.py``, ``dofa.py``, ``unet.py``) registers each of its names with
:func:`register_model`, giving the builder and the model's facts (:class:`ModelFacts`: patch and input
size, how bands are bound, wavelength units, normalisation, UPerNet tap levels, official weights and
where the facts come from). ``trtbench.models`` imports every family module, so the registry is full as
soon as the package is imported; :mod:`trtbench.models.build` turns a name into a model and
``trtbench models`` lists the facts. This module imports no model code, so family modules can import it
without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import TrtbenchError

ENCODER = "encoder"  # the builder returns an encoder; a GeoModel wraps it with a task head
MODEL = "model"      # the builder takes the metadata and returns the whole network (its own decoder)

# ENCODER: builder() -> encoder; MODEL: builder(metadata) -> network.
Builder = Callable[..., nn.Module]
# Official checkpoint adapter: (checkpoint dict, its path, registered variant) -> encoder state dict with
# the module's own key names; raises CheckpointError naming what does not fit (layout, size).
OfficialState = Callable[[Mapping, "str | Path", str], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class ModelFacts:
    """What a registered model is: recorded in its metadata, listed by ``trtbench models``."""

    family: str                 # "clay", "dofa", "unet": the export recipe and the family's label
    label: str                  # how people write the family: "Clay", "DOFA", "UNet"
    variant: str                # size within the family
    kind: str                   # ENCODER (wrapped with a head) or MODEL (whole network)
    patch_size: int             # input edges are multiples of this (patch size, or UNet's downsampling)
    input_size: int             # the edge the model was pre-trained (or is meant to run) at
    band_convention: str        # how the input bands are bound to the weights
    wavelength_units: str | None  # what the band embedding reads; None where bands are fixed channels
    normalisation: str          # what the input pixels must be normalised with
    embed_dim: int | None = None  # encoder width (None for whole networks)
    depth: int | None = None      # encoder blocks
    upernet_layers: tuple[int, ...] | None = None  # encoder blocks UPerNet taps (None: no UPerNet, or a CNN
    # whose four stages are UPerNet's levels)
    band_agnostic: str | None = None  # DynamicPatchEmbed convention for --dynamic-bands ("clay", "dofa")
    official_weights: str | None = None  # the released checkpoint the official loader reads
    source: str = ""            # where the facts come from (paper, official repository file)
    from_scratch: bool = False  # a baseline trained from scratch: `train` needs no --checkpoint/--random-init
    statistics: tuple[float, float] | None = None  # (mean, std) of every band when the weights fix the
    # normalisation (SSL4EO-S12: reflectance / 10000); None: the sensor table's per-band statistics
    band_statistics: Mapping[str, Mapping[str, tuple[float, float]]] | None = None  # sensor table -> band ->
    # (mean, std) the weights were pretrained with, per modality (TerraMind); None: the sensor table's
    sensor: str = "sentinel-2-l2a"  # the band table a model is built on when none is named (`export`, `bench`,
    # `flops`, the GFLOPs column): the one its weights were pretrained on
    bands: tuple[str, ...] | None = None  # its bands of that table when not all of them (CROMA: no B10)
    builds_from_metadata: bool = False  # ENCODER builder takes the ModelMetadata (band split per modality,
    # frames) instead of the band count


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: a name, its facts, its builder and (if weights were released) their adapter."""

    name: str
    facts: ModelFacts
    build: Builder
    official_state: OfficialState | None = None
    aliases: tuple[str, ...] = ()     # variant spellings that select this entry within its family
    default: bool = False             # the entry a bare family name selects

    @property
    def family(self) -> str:
        return self.facts.family

    @property
    def variant(self) -> str:
        return self.facts.variant


MODELS: dict[str, ModelSpec] = {}


def register_model(name: str, facts: ModelFacts, *, aliases: tuple[str, ...] = (), default: bool = False,
                   official_state: OfficialState | None = None) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder`` under ``name`` with its facts; returns the builder unchanged."""
    if facts.kind not in (ENCODER, MODEL):
        raise ValueError(f"{name}: kind must be {ENCODER!r} or {MODEL!r}, not {facts.kind!r}")

    def register(builder: Builder) -> Builder:
        if name in MODELS:
            raise ValueError(f"model '{name}' is registered twice")
        if default and any(s.default and s.family == facts.family for s in MODELS.values()):
            raise ValueError(f"family '{facts.family}' has two default models")
        MODELS[name] = ModelSpec(name, facts, builder, official_state, tuple(a.lower() for a in aliases), default)
        return builder

    return register


def list_models() -> list[str]:
    return list(MODELS)


def families() -> list[str]:
    return list(dict.fromkeys(s.family for s in MODELS.values()))


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise TrtbenchError(f"unknown model '{name}'",
                            f"use one of: {', '.join(MODELS)} (`trtbench models` lists them)")
    return MODELS[name]


def resolve_model_name(family: str, variant: str | None) -> str:
    """``("clay", "v1.5") -> "clay_v1_5"``, ``("dofa", "large") -> "dofa_large"``; a registry name passes through."""
    if family in families() and (variant is not None or family not in MODELS):
        members = [s for s in MODELS.values() if s.family == family]
        if variant is None:
            return next(s.name for s in members if s.default)
        key = variant.lower()
        for spec in members:
            if key in spec.aliases or spec.name == key or spec.name == f"{family}_{key}":
                return spec.name
        spellings = [a for s in members for a in s.aliases] or [s.variant for s in members]
        raise TrtbenchError(f"unknown {members[0].facts.label} variant '{variant}'",
                            f"use one of: {', '.join(dict.fromkeys(spellings))}")
    if family in MODELS:
        return family
    raise TrtbenchError(f"unknown model family '{family}'", f"use one of: {', '.join([*families(), *MODELS])}")


def facts_dict(spec: ModelSpec) -> dict:
    """The facts as plain JSON-ready data, with the registry name."""
    data = asdict(spec.facts)
    data["upernet_layers"] = list(spec.facts.upernet_layers) if spec.facts.upernet_layers else None
    return {"name": spec.name, **data, "aliases": list(spec.aliases), "default": spec.default}
