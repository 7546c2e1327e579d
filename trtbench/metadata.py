"""The metadata a model carries from checkpoint to artifact.

A model knows its bands, wavelengths, normalization and input size; the exported ONNX file stores
the same record in ``metadata_props`` (key :data:`ONNX_KEY`) and an engine in its JSON sidecar, so
``eval``, ``bench`` and ``predict`` need only the artifact.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import TrtbenchError
from .onnx_header import read_onnx_header
from .sensors import Sensor, custom_sensor, get_sensor

ONNX_KEY = "trtbench.metadata"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelMetadata:
    model: str                      # registry name, e.g. "clay_v1_5"
    family: str                     # "clay"
    variant: str                    # "large"
    sensor: str                     # sensor table name or "custom"
    bands: list[str]
    wavelengths: list[float]        # µm, in channel order
    mean: list[float]               # native units, per channel
    std: list[float]
    gsd: float                      # metres
    patch_size: int
    input_size: int                 # default tile edge in pixels
    task: str = "embedding"         # embedding | segmentation | regression
    head: str | None = None
    num_classes: int | None = None
    class_names: list[str] | None = None
    embed_dim: int | None = None    # channels of an embedding artifact's `features` output
    band_mode: str = "fixed"        # fixed | dynamic
    # Band-agnostic artifacts only (band_mode "dynamic"): bands/wavelengths/mean/std/gsd above are then the
    # default band set, and any other set can be chosen at run time (trtbench.bands).
    wavelength_convention: str | None = None   # how the `wavelengths` input is read: "clay" or "dofa" (export.dynamic_bands.CONVENTIONS)
    wavelength_range: list[float] | None = None  # µm span the band embedding was trained on (outside: warn)
    max_bands: int | None = None    # most bands the graph accepts
    inputs: list[str] = field(default_factory=lambda: ["pixels"])
    outputs: list[str] = field(default_factory=lambda: ["features"])
    checkpoint: str | None = None   # where the reference weights come from
    checkpoint_sha256: str | None = None
    seed: int | None = None         # set for --random-init models, so the reference can be rebuilt
    precision: str = "fp32"
    nodata: float | None = None     # input value treated as missing when the file declares none
    training: dict[str, Any] | None = None  # provenance from `trtbench train`: dataset, regime, seed, lr, metrics
    bandwidths: list[float] | None = None   # µm per channel where the sensor table gives them (Copernicus-FM reads them)
    # Time series (Prithvi-EO-2.0): T dates of the bands. The `pixels` input stays 4-D so every reader, tiler,
    # calibrator and engine profile works unchanged: [B, T*C, H, W], frame-major (channels t*C .. t*C+C-1 are
    # date t's bands in `bands` order); the graph reshapes it to the model's [B, C, T, H, W].
    num_frames: int = 1
    # Multi-modal models (TerraMind, CROMA): modality name -> its band names, in `bands` order; `bands` is their
    # concatenation, so one file per modality (``--data s2=A.tif --data s1=B.tif``) maps onto the input.
    modalities: dict[str, list[str]] | None = None
    format_version: int = FORMAT_VERSION

    @property
    def num_bands(self) -> int:
        return len(self.bands)

    @property
    def channels(self) -> int:
        """Channels of the ``pixels`` input: the bands of every frame (``num_bands`` for a single image)."""
        return len(self.bands) * self.num_frames

    def sensor_table(self) -> Sensor:
        """The band table this model was built for (custom sensors are rebuilt from the record)."""
        if self.sensor == "custom":
            return custom_sensor(self.wavelengths, self.gsd, self.mean, self.std, self.bands, self.bandwidths)
        return get_sensor(self.sensor).select(self.bands)

    def with_(self, **changes: Any) -> ModelMetadata:
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any, source: str = "artifact") -> ModelMetadata:
        """The record stored in ``source`` (named in errors); anything else than a metadata record is refused."""
        if not isinstance(data, dict):
            raise _bad_record(source, f"it is a JSON {type(data).__name__}, not an object")
        version = data.get("format_version", 0)
        if not isinstance(version, int):
            raise _bad_record(source, f"format_version is {version!r}")
        if version > FORMAT_VERSION:
            raise TrtbenchError(f"{source}: metadata format {version} is newer than this trtbench understands",
                                "upgrade trtbench")
        known = {f.name: f for f in fields(cls)}
        missing = [name for name, f in known.items() if f.default is MISSING and f.default_factory is MISSING
                   and name not in data]
        if missing:
            raise _bad_record(source, f"it lacks {', '.join(missing)}")
        modalities, bands = data.get("modalities"), data.get("bands")
        if isinstance(modalities, dict) and isinstance(bands, list):  # to_json sorts keys: the band order rules
            first = {name: bands.index(v[0]) if isinstance(v, list) and v and v[0] in bands else len(bands)
                     for name, v in modalities.items()}
            data = {**data, "modalities": dict(sorted(modalities.items(), key=lambda item: first[item[0]]))}
        meta = cls(**{k: v for k, v in data.items() if k in known})
        problem = meta._type_problem()
        if problem:
            raise _bad_record(source, problem)
        return meta

    @classmethod
    def from_json(cls, text: str, source: str = "artifact") -> ModelMetadata:
        try:
            data = json.loads(text)
        except ValueError as exc:  # JSONDecodeError
            raise _bad_record(source, f"it is not valid JSON ({exc})") from None
        return cls.from_dict(data, source)

    def _type_problem(self) -> str | None:
        """What makes this record unusable, if anything (hand-edited or foreign JSON)."""
        def numbers(values: Any) -> bool:
            return isinstance(values, list) and all(isinstance(v, int | float) for v in values)

        if not isinstance(self.bands, list) or not all(isinstance(b, str) for b in self.bands) or not self.bands:
            return f"bands is {self.bands!r}, not a list of band names"
        for name in ("wavelengths", "mean", "std"):
            values = getattr(self, name)
            if not numbers(values) or len(values) != len(self.bands):
                return f"{name} is {values!r}, not {len(self.bands)} numbers (one per band)"
        if self.bandwidths is not None and (not numbers(self.bandwidths) or len(self.bandwidths) != len(self.bands)):
            return f"bandwidths is {self.bandwidths!r}, not {len(self.bands)} numbers (one per band)"
        for name in ("patch_size", "input_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                return f"{name} is {value!r}, not a positive integer"
        if not isinstance(self.gsd, int | float):
            return f"gsd is {self.gsd!r}, not a number"
        if not isinstance(self.num_frames, int) or self.num_frames < 1:
            return f"num_frames is {self.num_frames!r}, not a positive integer"
        if self.modalities is not None and (
                not isinstance(self.modalities, dict)
                or not all(isinstance(v, list) for v in self.modalities.values())
                or [b for bands in self.modalities.values() for b in bands] != self.bands):
            return f"modalities is {self.modalities!r}, not the bands split by modality in band order"
        for name in ("inputs", "outputs"):
            values = getattr(self, name)
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values) or not values:
                return f"{name} is {values!r}, not a list of tensor names"
        return None


def _bad_record(source: str, problem: str) -> TrtbenchError:
    return TrtbenchError(f"the trtbench metadata in {source} is unreadable: {problem}",
                         "re-export the artifact (or re-save the checkpoint) with `trtbench`; do not edit the "
                         "metadata by hand")


def read_onnx_metadata(path: str | Path) -> ModelMetadata:
    """Metadata stored in an ONNX file by ``trtbench export``, read from the file's header only
    (:mod:`trtbench.onnx_header`: fast whatever the file's size; external data is never touched)."""
    props = read_onnx_header(path).metadata_props
    if ONNX_KEY not in props:
        raise TrtbenchError(f"{path} is an ONNX model without trtbench metadata (bands, normalization, task)",
                            "export it with `trtbench export`, which records them; a model exported elsewhere "
                            "cannot be evaluated or run by trtbench")
    return ModelMetadata.from_json(props[ONNX_KEY], str(path))
