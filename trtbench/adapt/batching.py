"""Test batches for TTT: in dataset order, or geographic (TTT-MMR-Geo: batches of nearby samples).

MMEarth-Bench forms TTT-MMR-Geo's batches from geographically close samples and finds that this trades
regularisation (many varied samples per adaptation) against specialisation (one region per adaptation). Here a
chip's location is the centre of its georeferenced footprint (its GeoTIFF's bounds, transformed to longitude and
latitude), and batches are formed greedily: the remaining chip farthest from the remaining chips' centroid
starts a batch, which takes its ``size - 1`` nearest remaining chips by great-circle distance, until none
remain. Starting from the outside keeps outlying chips with their own neighbours instead of leaving them for a
last batch of leftovers. The same chips always give the same batches (ties broken by dataset order).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError

EARTH_RADIUS_KM = 6371.0088


def sequential_batches(count: int, size: int) -> list[list[int]]:
    """Indices ``0..count-1`` in order, ``size`` at a time (as a DataLoader without shuffling)."""
    return [list(range(start, min(start + size, count))) for start in range(0, count, size)]


def chip_location(path: Path) -> tuple[float, float]:
    """(longitude, latitude) in degrees of the centre of a GeoTIFF's footprint."""
    from rasterio.warp import transform

    from ..raster import open_raster

    with open_raster(path) as ds:
        if ds.crs is None or ds.transform.is_identity:
            raise InputError(f"{path} has no georeferencing (no CRS or geotransform), so it has no location",
                             "drop --ttt-geo (batches in dataset order), or use georeferenced chips")
        left, bottom, right, top = ds.bounds
        xs, ys = transform(ds.crs, "EPSG:4326", [(left + right) / 2], [(bottom + top) / 2])
    return float(xs[0]), float(ys[0])


def great_circle_km(lonlat: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Haversine distances in km from ``origin`` (lon, lat) to every row of ``lonlat``."""
    lon, lat = np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1])
    lon0, lat0 = np.radians(origin[0]), np.radians(origin[1])
    h = np.sin((lat - lat0) / 2) ** 2 + np.cos(lat) * np.cos(lat0) * np.sin((lon - lon0) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def geographic_batches(lonlat: Sequence[tuple[float, float]] | np.ndarray, size: int) -> list[list[int]]:
    """Indices grouped into batches of ``size`` nearby locations (the last may be smaller)."""
    points = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
    remaining = list(range(len(points)))
    batches = []
    while remaining:
        rest = points[remaining]
        centre = _centroid(rest)
        seed = remaining[int(np.argmax(great_circle_km(rest, centre)))]
        distance = great_circle_km(rest, points[seed])
        order = np.lexsort((np.asarray(remaining), distance))   # nearest first, dataset order on ties
        batch = sorted(remaining[i] for i in order[:size])
        batches.append(batch)
        remaining = [i for i in remaining if i not in set(batch)]
    return batches


def _centroid(lonlat: np.ndarray) -> np.ndarray:
    """Spherical centroid (mean of unit vectors), so chips on both sides of the antimeridian average correctly."""
    lon, lat = np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1])
    x, y, z = (np.cos(lat) * np.cos(lon)).mean(), (np.cos(lat) * np.sin(lon)).mean(), np.sin(lat).mean()
    return np.degrees([np.arctan2(y, x), np.arctan2(z, np.hypot(x, y))])
