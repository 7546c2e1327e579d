"""Choosing the band set of a band-agnostic artifact at run time (``--sensor``, ``--bands``, ``--wavelengths``).

A band-agnostic artifact (``band_mode "dynamic"``) takes ``pixels``, ``wavelengths`` and ``gsd``; its
metadata's band set is only the default. :func:`bind_bands` turns the command-line choice into the
artifact's metadata bound to that set (names, wavelengths, normalization, GSD), so everything
downstream (band matching in files, normalization, the PyTorch reference) works unchanged, and
:func:`model_feed` builds the inputs the artifact expects from a batch of normalised pixels. A
fixed-band artifact accepts only its own band set.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .acquisition import Acquisition, coordinate_inputs
from .errors import InputError
from .metadata import ModelMetadata
from .sensors import Sensor, custom_sensor, get_sensor, read_radar_as


class WavelengthRangeWarning(UserWarning):
    """A wavelength lies outside what the band embedding was trained on: its kernel is extrapolated."""


def bind_bands(meta: ModelMetadata, sensor: str | None = None, bands: Sequence[str] | None = None,
               wavelengths: Sequence[float] | None = None) -> ModelMetadata:
    """``meta`` bound to the chosen band set (unchanged when nothing is chosen).

    ``sensor`` is a table name or a stack (``sentinel-1-rtc+sentinel-2-l1c``); ``bands`` selects and
    orders its bands (default: all of them); ``wavelengths`` (µm, one per band) override the table's,
    or alone describe pre-normalised data of an unlisted sensor.
    """
    if not (sensor or bands or wavelengths):
        return meta
    table = _choose(meta, sensor, bands, wavelengths)
    bound = meta.with_(sensor=table.name, bands=table.band_names, wavelengths=table.wavelengths,
                       bandwidths=table.known_bandwidths,
                       mean=table.mean, std=table.std, gsd=table.gsd)
    if meta.band_mode != "dynamic":
        if bound.wavelengths != meta.wavelengths:
            raise InputError(f"this artifact was exported for the fixed bands {', '.join(meta.bands)} of "
                             f"{meta.sensor}; it cannot take {', '.join(bound.bands)}",
                             "use its own bands, or re-export the model with --dynamic-bands")
        return meta
    check_band_set(bound)
    return bound


def check_band_set(meta: ModelMetadata) -> None:
    """Refuse a band count the graph cannot take; warn about wavelengths the embedding never saw."""
    if meta.max_bands and not 1 <= meta.num_bands <= meta.max_bands:
        raise InputError(f"{meta.num_bands} bands chosen; the artifact takes 1 to {meta.max_bands}",
                         "choose fewer bands with --bands")
    low, high = meta.wavelength_range or (0.0, float("inf"))
    outside = [f"{name} {w:g} µm" for name, w in zip(meta.bands, meta.wavelengths) if not low <= w <= high]
    if outside:
        warnings.warn(WavelengthRangeWarning(
            f"{', '.join(outside)} outside {low:g}-{high:g} µm, the range the band embedding was trained on: "
            "its patch kernel is extrapolated, check the results (wavelengths are in µm, e.g. 0.665 for red)"),
            stacklevel=2)


def model_feed(meta: ModelMetadata, pixels: np.ndarray,
               acquisition: Acquisition | Sequence[Acquisition] | None = None) -> dict[str, np.ndarray]:
    """The artifact's inputs for a batch of normalised pixels ``[B, C, H, W]`` in ``meta``'s band order (a time
    series: ``C`` = ``meta.channels``, frame-major). ``acquisition`` (one for the batch, or one per sample) fills
    ``temporal_coords`` and ``location_coords`` where the artifact takes them (:mod:`trtbench.acquisition`)."""
    if pixels.ndim != 4 or pixels.shape[1] != meta.channels:
        frames = f" x {meta.num_frames} dates" if meta.num_frames > 1 else ""
        raise InputError(f"pixels of shape {pixels.shape} do not have the {meta.channels} "
                         f"{'channels' if frames else 'bands'} chosen "
                         f"({', '.join(meta.bands)}{frames})", "select those bands from the file (--data-bands)")
    extras = {"wavelengths": np.asarray(meta.wavelengths, np.float32), "gsd": np.asarray(meta.gsd, np.float32),
              **coordinate_inputs(meta, acquisition, pixels.shape[0])}
    if "bandwidths" in meta.inputs:  # Copernicus-FM: the band set's bandwidths (refused where its table has none)
        widths = meta.bandwidths if meta.bandwidths is not None else meta.sensor_table().bandwidths
        extras["bandwidths"] = np.asarray(widths, np.float32)
    unknown = [name for name in meta.inputs[1:] if name not in extras]
    if unknown:
        raise InputError(f"the artifact has inputs trtbench does not know how to fill: {', '.join(unknown)}",
                         "export it with `trtbench export`")
    return {meta.inputs[0]: pixels, **{name: extras[name] for name in meta.inputs[1:]}}


def reference_model(meta: ModelMetadata, checkpoint: str | Path | None = None):
    """The artifact's PyTorch reference on ``meta``'s band set (a trtbench checkpoint rebuilds on its own)."""
    from .models import GeoModel, rebuild_reference

    model = rebuild_reference(meta, checkpoint)
    return model.for_bands(meta) if meta.band_mode == "dynamic" and isinstance(model, GeoModel) else model


def _choose(meta: ModelMetadata, sensor: str | None, bands: Sequence[str] | None,
            wavelengths: Sequence[float] | None) -> Sensor:
    if sensor or wavelengths is None:
        table = (get_sensor(sensor) if sensor else _default_table(meta)).select(bands)
        if wavelengths is None:  # Sentinel-1 at the wavelength this family reads it as (DOFA: 5.405)
            return read_radar_as(table, meta.family)
        names, mean, std, gsd, widths = table.band_names, table.mean, table.std, table.gsd, table.known_bandwidths
    else:  # wavelengths alone (optionally named by --bands): an unlisted sensor, data already normalised
        names, mean, std, gsd, widths = list(bands or []), None, None, meta.gsd, None
    if names and len(wavelengths) != len(names):
        raise InputError(f"--wavelengths gives {len(wavelengths)} values for {len(names)} bands ({', '.join(names)})",
                         "give one wavelength (µm) per band, in band order")
    return custom_sensor(list(wavelengths), gsd, mean, std, names or None, widths)


def _default_table(meta: ModelMetadata) -> Sensor:
    """The artifact's own sensor, all its bands (so ``--bands`` alone picks from it)."""
    return meta.sensor_table() if meta.sensor == "custom" else get_sensor(meta.sensor)


def parse_wavelengths(text: str | None) -> list[float] | None:
    """``"0.665,0.56,0.49"`` -> floats (µm), for ``--wavelengths``."""
    if not text:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--wavelengths '{text}' is not a comma-separated list of numbers",
                         "give centre wavelengths in µm, e.g. --wavelengths 0.665,0.56,0.49") from None
