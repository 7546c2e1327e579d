"""Input files of a dataset ("sources", e.g. Sentinel-1 and Sentinel-2), read and stacked into one band table.

A model sees one channel stack; the metadata it carries must name every channel with its
wavelength and normalization. Stacking the sources' sensor tables gives exactly that record, so a
SAR+optical model exports and evaluates like any single-sensor one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import InputError, TrtbenchError
from ..raster import open_raster, read_pixels
from ..sensors import SENSORS, Sensor, custom_sensor, get_sensor
from ..sensors import stack_sensors as registered_stack


@dataclass(frozen=True)
class Source:
    """One kind of input file: its bands in file order, described by a sensor table.

    ``file_bands`` may name bands the table lacks (e.g. a cloud-probability layer); those are never
    selected. ``nodata`` is the missing-value marker used for a band whose file declares none;
    ``scale`` brings file values to the table's units (e.g. reflectance 0-1 -> x 10000).
    ``default_bands`` is the selection when the user names none (default: every band the table
    knows); BioMassters' S1 defaults to the ascending pair because its descending orbit is mostly
    no-data, which would otherwise mark most labelled pixels missing.
    """

    name: str
    sensor: Sensor
    file_bands: tuple[str, ...]
    nodata: float | None = None
    scale: float = 1.0
    default_bands: tuple[str, ...] | None = None

    def select(self, bands: Sequence[str] | None) -> tuple[list[int], Sensor]:
        """File indices and band table of ``bands`` (default: ``default_bands``, else every band the table knows)."""
        known = [b for b in self.file_bands if any(t.matches(b) for t in self.sensor.bands)]
        chosen = list(bands) if bands else list(self.default_bands or known)
        table = self.sensor.select(chosen)
        indices = []
        for band in table.bands:
            hits = [i for i, name in enumerate(self.file_bands) if band.matches(name)]
            if not hits:
                raise TrtbenchError(f"{self.name} files have no band '{band.name}'",
                                    f"choose among: {', '.join(known)}")
            indices.append(hits[0])
        return indices, table


def stack_sensors(tables: Sequence[Sensor]) -> Sensor:
    """One band table for channels stacked from several sensors.

    Registered tables keep pointing at the sensor registry: one as is, several as their stack
    (``sentinel-1-rtc+sentinel-2-l1c``, whose name tells a multi-modal model which bands are which modality).
    Anything else becomes a custom table carrying every band's wavelength and statistics, which is all a
    model's metadata needs to rebuild it.
    """
    def registered(table: Sensor) -> bool:   # a sensor table, or a stack of them, by its name
        return all(part in SENSORS for part in table.name.split("+"))

    if len(tables) == 1 and registered(tables[0]):
        return tables[0]
    bands = [b for t in tables for b in t.bands]
    names = [b.name for b in bands]
    if len(set(names)) != len(names):
        raise TrtbenchError(f"stacked sensors repeat band names: {names}", "select distinct bands per source")
    if all(registered(t) for t in tables):
        return registered_stack(tables)
    widths = [b.bandwidth for b in bands]
    stacked = custom_sensor([b.wavelength for b in bands], min(t.gsd for t in tables), [b.mean for b in bands],
                            [b.std for b in bands], names, None if None in widths else widths)
    return replace(stacked, units="; ".join(dict.fromkeys(t.units for t in tables if t.units)))


def sensor_from_spec(spec: str) -> Sensor:
    """A sensor name, or several joined with '+' (``sentinel-1-rtc+sentinel-2-l1c``) for stacked files."""
    return stack_sensors([get_sensor(name) for name in spec.split("+")])


def read_source(paths: Sequence[Path], source: Source, shape: tuple[int, int] | None) -> np.ndarray:
    """Float32 ``[C, H, W]`` in table units with NaN where data is missing.

    ``paths`` is one multi-band file, or one single-band file per band (MADOS keeps 20 m and 60 m
    bands in their own files; they are resampled to ``shape`` by nearest neighbour).
    """
    if len(paths) == 1:
        return _read(paths[0], source, shape)
    if len(paths) != len(source.file_bands):
        raise InputError(f"{source.name}: found {len(paths)} band files, expected {len(source.file_bands)} "
                         f"({', '.join(source.file_bands)}) beside {paths[0]}",
                         "check that every band file of the chip is present")
    return np.concatenate([_read(p, source, shape) for p in paths])


def band_nodata(declared: Sequence[float | None], source: Source) -> list[float | None]:
    """Per band, the no-data marker: what the file declares for that band, else the source's."""
    return [value if value is not None else source.nodata for value in declared]


def _read(path: Path, source: Source, shape: tuple[int, int] | None) -> np.ndarray:
    from rasterio.enums import Resampling

    with open_raster(path) as ds:
        out_shape = (ds.count, *shape) if shape else None
        data = read_pixels(ds, out_shape=out_shape, resampling=Resampling.nearest).astype(np.float32)
        markers = band_nodata(ds.nodatavals, source)
    for band, marker in zip(data, markers):  # a marker per band: a real 0 in one band is not another's no-data
        if marker is not None and not np.isnan(marker):
            band[band == marker] = np.nan
    return data * source.scale if source.scale != 1.0 else data
