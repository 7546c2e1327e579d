"""The metadata a model carries from checkpoint to artifact.

A model knows its bands, wavelengths, normalization and input size; the exported ONNX file stores
the same record in ``metadata_props`` (key :data:`ONNX_KEY`) and an engine in its JSON sidecar, so
``eval``, ``bench`` and ``predict`` need only the artifact.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import TrtbenchError
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
    wavelength_convention: str | None = None   # how the `wavelengths` input is read: "clay" (µm, as is)
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
    format_version: int = FORMAT_VERSION

    @property
    def num_bands(self) -> int:
        return len(self.bands)

    def sensor_table(self) -> Sensor:
        """The band table this model was built for (custom sensors are rebuilt from the record)."""
        if self.sensor == "custom":
            return custom_sensor(self.wavelengths, self.gsd, self.mean, self.std, self.bands)
        return get_sensor(self.sensor).select(self.bands)

    def with_(self, **changes: Any) -> ModelMetadata:
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMetadata:
        known = {f.name for f in fields(cls)}
        version = data.get("format_version", 0)
        if version > FORMAT_VERSION:
            raise TrtbenchError(f"artifact metadata format {version} is newer than this trtbench understands",
                                "upgrade trtbench")
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        return cls.from_dict(json.loads(text))


def read_onnx_metadata(path: str | Path) -> ModelMetadata:
    """Metadata stored in an ONNX file by ``trtbench export`` (reads the header, not the weights)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in model.metadata_props}
    if ONNX_KEY not in props:
        raise TrtbenchError(f"{path} has no trtbench metadata",
                            "export it with `trtbench export`, which records bands, normalization and task")
    return ModelMetadata.from_json(props[ONNX_KEY])


def read_artifact_metadata(path: str | Path) -> ModelMetadata:
    """Metadata of any artifact: an ONNX file's ``metadata_props``, or a TensorRT engine's JSON sidecar."""
    from .engine_meta import is_engine_path, read_engine_metadata

    return read_engine_metadata(path) if is_engine_path(path) else read_onnx_metadata(path)
