"""Reading GeoTIFF chips with rasterio, and matching a file's bands to a model's bands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .metadata import ModelMetadata
from .sensors import SENSORS, Sensor


@dataclass
class Chip:
    """A raster read whole: pixels ``[C, H, W]`` plus what is needed to interpret them."""

    path: Path
    pixels: np.ndarray
    nodata: float | None
    descriptions: tuple[str | None, ...]
    crs: object
    transform: object


def open_raster(path: str | Path):
    """``rasterio.open`` with errors that say whether the file is missing, not a raster, or corrupt."""
    import rasterio
    from rasterio.errors import RasterioIOError

    path = Path(path)
    if not path.exists():
        raise InputError(f"file not found: {path}", "check the path")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a GeoTIFF", "pass the .tif file itself")
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"{path} is not a readable GeoTIFF: {str(exc).splitlines()[0][:200]}",
                         "pass a GeoTIFF (.tif); the file may be of another format or damaged") from None


def expand_rasters(paths: Sequence[str | Path], option: str = "--data") -> list[Path]:
    """GeoTIFFs named directly, or found (sorted by name) in named folders; missing paths are left to
    :func:`open_raster`, which names them."""
    files: list[Path] = []
    for item in map(Path, paths):
        if not item.is_dir():
            files.append(item)
            continue
        found = sorted(p for p in item.iterdir() if p.suffix.lower() in (".tif", ".tiff"))
        if not found:
            raise InputError(f"folder {item} holds no .tif files", f"point {option} at GeoTIFF files or their folder")
        files += found
    return files


def read_chip(path: str | Path) -> Chip:
    from rasterio.errors import RasterioError

    with open_raster(path) as ds:
        try:
            pixels = ds.read()
        except RasterioError as exc:
            raise InputError(f"{path} is corrupt: {str(exc).splitlines()[0][:200]}",
                             "re-download or re-create the file; its header reads but its pixels do not") from None
        return Chip(Path(path), pixels, ds.nodata, tuple(ds.descriptions), ds.crs, ds.transform)


def band_indices(meta: ModelMetadata, count: int, descriptions: Sequence[str | None] = (),
                 file_bands: Sequence[str] | None = None) -> list[int]:
    """Indices (0-based) of the model's bands among a file's ``count`` bands.

    The file's band names come from ``file_bands`` (a list of names, or a single sensor name), else
    the GeoTIFF band descriptions, else, when the counts differ, the one sensor table with exactly
    ``count`` bands that contains all the model's bands. Equal counts with no names mean the file is
    already in the model's band order.
    """
    table = meta.sensor_table()
    names = _file_band_names(count, descriptions, file_bands, table)
    if names is None:
        if count == meta.num_bands:
            return list(range(count))
        raise InputError(
            f"the file has {count} bands but the model expects {meta.num_bands} ({', '.join(meta.bands)}) "
            "and the file's bands are not named",
            "pass --data-bands with the file's band names or sensor (e.g. --data-bands sentinel-2-l1c)")
    if len(names) != count:
        raise InputError(f"--data-bands lists {len(names)} names but the file has {count} bands",
                         "give one name per band, in file order")
    indices = []
    for band in table.bands:
        hits = [i for i, name in enumerate(names) if name and band.matches(name)]
        if not hits:
            raise InputError(f"the file has no band '{band.name}' (file bands: {', '.join(map(str, names))})",
                             f"the model needs {', '.join(meta.bands)}; pass a file that has them")
        indices.append(hits[0])
    return indices


def _file_band_names(count: int, descriptions: Sequence[str | None], file_bands: Sequence[str] | None,
                     table: Sensor) -> list[str] | None:
    if file_bands:
        if len(file_bands) == 1 and file_bands[0] in SENSORS:
            return SENSORS[file_bands[0]].band_names
        return list(file_bands)
    if descriptions and all(descriptions) and len(descriptions) == count:
        return list(descriptions)
    if count == len(table.bands):
        return None
    candidates = [s for s in SENSORS.values()
                  if len(s.bands) == count and all(any(b.matches(n) for n in s.band_names) for b in table.bands)]
    return candidates[0].band_names if len(candidates) == 1 else None
