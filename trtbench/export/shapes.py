"""TensorRT optimization profiles from ``--shapes``, checked against what the model can take.

``min=1x10x224x224,opt=8x10x256x256,max=32x10x512x512`` sets the profile of the model's first
input; ``pixels:min=...,opt=...,max=...`` names the input, and several inputs are separated by
``;``. An engine accepts exactly the shapes between ``min`` and ``max``, and is tuned for ``opt``,
so a profile that the model cannot run (wrong band count, a side that is not a multiple of the
patch size) is refused here, before minutes of engine building, not by TensorRT afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import InputError
from ..metadata import ModelMetadata

Shape = tuple[int, ...]
KEYS = ("min", "opt", "max")
DEFAULT_BATCHES = (1, 8, 32)  # min/opt/max batch when --shapes is not given
DEFAULT_MAX_BANDS = 16        # band-agnostic engines without --shapes: 1..16 bands (Sentinel-1 + Sentinel-2 L1C is 15)
EXAMPLE = "min=1x10x224x224,opt=8x10x256x256,max=32x10x512x512"


@dataclass(frozen=True)
class ShapeProfile:
    """min/opt/max shapes of one input; an engine serves every shape in between."""

    name: str
    min: Shape
    opt: Shape
    max: Shape

    def contains(self, shape: Sequence[int]) -> bool:
        return len(shape) == len(self.min) and all(lo <= s <= hi for lo, s, hi in zip(self.min, shape, self.max))

    def to_dict(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Sequence[int]]) -> ShapeProfile:
        return cls(name, *(tuple(int(v) for v in data[k]) for k in KEYS))

    def __str__(self) -> str:
        return f"{self.name}: " + ", ".join(f"{k}={_fmt(getattr(self, k))}" for k in KEYS)


def parse_shapes(text: str, input_names: Sequence[str]) -> list[ShapeProfile]:
    """Parse ``--shapes`` into one profile per named input (unnamed means the first input)."""
    profiles = [_parse_one(part.strip(), input_names) for part in text.split(";") if part.strip()]
    if not profiles:
        raise InputError("--shapes is empty", f"pass e.g. --shapes {EXAMPLE}")
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        raise InputError(f"--shapes gives input '{names[0]}' more than once", "give each input one profile")
    return profiles


def _parse_one(text: str, input_names: Sequence[str]) -> ShapeProfile:
    name = input_names[0]
    if ":" in text.split("=", 1)[0]:
        name, text = (s.strip() for s in text.split(":", 1))
        if name not in input_names:
            raise InputError(f"--shapes names input '{name}', but the model's inputs are {', '.join(input_names)}",
                             "use one of the model's input names, or leave the name out for the first input")
    shapes: dict[str, Shape] = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        key = key.strip().lower()
        if key not in KEYS or not value:
            raise InputError(f"cannot read '{item.strip()}' in --shapes", f"write min=..,opt=..,max=.., e.g. {EXAMPLE}")
        shapes[key] = _parse_dims(value.strip())
    missing = [k for k in KEYS if k not in shapes]
    if missing:
        raise InputError(f"--shapes for '{name}' lacks {', '.join(missing)}", f"give all of min, opt, max: {EXAMPLE}")
    return ShapeProfile(name, shapes["min"], shapes["opt"], shapes["max"])


def _parse_dims(value: str) -> Shape:
    try:
        dims = tuple(int(d) for d in value.lower().split("x"))
    except ValueError:
        raise InputError(f"'{value}' in --shapes is not a shape like 8x10x256x256",
                         "write dimensions as integers joined by x") from None
    if any(d < 1 for d in dims):
        raise InputError(f"'{value}' in --shapes has a dimension below 1", "every dimension must be >= 1")
    return dims


def validate_profile(profile: ShapeProfile, meta: ModelMetadata, static_dims: Sequence[int | None] | None = None) -> None:
    """Refuse a profile the model cannot run: wrong rank or bands, sides off the patch grid, min>opt>max.

    ``static_dims`` are the ONNX input's dimensions (None where dynamic); a profile must match every
    static one, because TensorRT rejects a profile that contradicts the network.
    """
    if profile.name != meta.inputs[0]:
        raise InputError(f"--shapes sets '{profile.name}', whose shape follows from '{meta.inputs[0]}' (its band "
                         "dimension)", f"give the profile of '{meta.inputs[0]}' only, e.g. {_example(meta)}")
    shapes = {k: getattr(profile, k) for k in KEYS}
    for key, shape in shapes.items():
        if len(shape) != 4:
            raise InputError(f"--shapes {key}={_fmt(shape)} has {len(shape)} dimensions; '{profile.name}' is "
                             "batch x bands x height x width", f"give 4 dimensions, e.g. {_example(meta)}")
        if meta.band_mode == "dynamic":
            _check_band_range(key, shape, meta)
        elif shape[1] != meta.channels:   # a time series: every frame's bands (T x C, frame-major)
            frames = f" x {meta.num_frames} dates" if meta.num_frames > 1 else ""
            raise InputError(f"--shapes {key}={_fmt(shape)} has {shape[1]} bands; the model takes exactly "
                             f"{meta.channels} ({', '.join(meta.bands)}{frames})",
                             f"keep the band dimension at {meta.channels}, e.g. {_example(meta)}")
        p = meta.patch_size
        if shape[2] % p or shape[3] % p:
            raise InputError(f"--shapes {key}={_fmt(shape)}: height and width must be multiples of the patch "
                             f"size {p}", f"round them to multiples of {p}, e.g. {_example(meta)}")
        for axis, (want, got) in enumerate(zip(static_dims or (), shape)):
            if want is not None and want != got:
                raise InputError(f"--shapes {key}={_fmt(shape)}: dimension {axis} of '{profile.name}' is fixed "
                                 f"at {want} in the ONNX file", f"use {want} there")
    for lower, upper in (("min", "opt"), ("opt", "max")):
        if any(a > b for a, b in zip(shapes[lower], shapes[upper])):
            raise InputError(f"--shapes needs {lower} <= {upper} in every dimension, got {lower}="
                             f"{_fmt(shapes[lower])} and {upper}={_fmt(shapes[upper])}", f"e.g. {_example(meta)}")


def default_profile(meta: ModelMetadata) -> ShapeProfile:
    """Dynamic batch at the model's recorded tile size: what ``eval`` and ``predict`` feed by default.

    A band-agnostic model also gets a band range, tuned for its default band count.
    """
    c, s = meta.channels, meta.input_size
    if meta.band_mode == "dynamic":
        bands = (1, c, max(c, min(DEFAULT_MAX_BANDS, meta.max_bands or DEFAULT_MAX_BANDS)))
        return ShapeProfile(meta.inputs[0], *((b, n, s, s) for b, n in zip(DEFAULT_BATCHES, bands)))
    return ShapeProfile(meta.inputs[0], *((b, c, s, s) for b in DEFAULT_BATCHES))


def with_derived_profiles(profiles: Sequence[ShapeProfile], meta: ModelMetadata) -> list[ShapeProfile]:
    """Add the inputs whose shapes follow from the pixels profile: ``wavelengths [C]`` of a band-agnostic model;
    a Prithvi TL model's ``temporal_coords [B, T, 2]`` and ``location_coords [B, 2]`` (batch as the pixels').

    (A band-agnostic ``gsd`` input is a scalar: static, no profile.) All of them go into one optimization profile.
    """
    pixels = next(p for p in profiles if p.name == meta.inputs[0])
    derived = []
    if meta.band_mode == "dynamic":
        per_band = [name for name in ("wavelengths", "bandwidths") if name in meta.inputs]  # bandwidths: Copernicus-FM
        derived += [ShapeProfile(name, *((getattr(pixels, k)[1],) for k in KEYS)) for name in per_band]
    if "temporal_coords" in meta.inputs:
        derived.append(ShapeProfile("temporal_coords", *((getattr(pixels, k)[0], meta.num_frames, 2) for k in KEYS)))
    if "location_coords" in meta.inputs:
        derived.append(ShapeProfile("location_coords", *((getattr(pixels, k)[0], 2) for k in KEYS)))
    return [*profiles, *derived]


def _check_band_range(key: str, shape: Shape, meta: ModelMetadata) -> None:
    most = meta.max_bands or shape[1]
    if not 1 <= shape[1] <= most:
        raise InputError(f"--shapes {key}={_fmt(shape)} has {shape[1]} bands; this band-agnostic model takes 1 to "
                         f"{most}", f"keep the band dimension within 1..{most}, e.g. {_example(meta)}")


def _fmt(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape)


def _example(meta: ModelMetadata) -> str:
    return ",".join(f"{k}={_fmt(shape)}" for k, shape in zip(KEYS, default_profile(meta).to_dict().values()))
