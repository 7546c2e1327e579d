"""Reading tiles with rasterio windows (run in a background thread, see ``background.Prefetcher``).

Only the model's bands are read, one strip of tile rows at a time (never the whole scene); windows that
reach past the scene edge are filled by reflection, so edge tiles look like natural imagery rather
than a black frame. Nodata and NaN pixels are masked, normalised to 0 and reported with the tile.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..acquisition import Acquisition, check_acquisition, parse_date
from ..errors import InputError
from ..metadata import ModelMetadata
from ..preprocess import channel_statistics, normalize
from ..raster import FROM_OPTION, colour_names, gdal_reason, open_raster
from ..remote import (
    RemoteRaster,
    RemoteUnavailable,
    as_raster_path,
    remote_error,
    remote_identity,
    remote_sources,
)
from ..stacks import read_input
from .plan import WindowPlan


@dataclass
class Tile:
    col: int               # tile column in the plan (the row is implied by the reading order)
    pixels: np.ndarray     # normalised float32 [C, t, t]
    mask: np.ndarray       # nodata [t, t]


@dataclass(frozen=True)
class SceneInfo:
    """What the writer and the summary need to know about a scene, read from its header."""

    path: Path | RemoteRaster   # a local file, or a URL (https://, s3://) read by range requests
    height: int
    width: int
    crs: object
    transform: object
    nodata: float | None    # the value masked in the input
    indexes: tuple[int, ...]  # 1-based rasterio band indexes, in the model's band order
    band_match: str = FROM_OPTION   # how the bands were found (trtbench.raster.BandMatch.source)
    band_warning: str | None = None  # set when their order was assumed
    acquisition: Acquisition = Acquisition()   # frame dates and centre (inputs of a TL artifact)


def scene_info(path: str | Path, meta: ModelMetadata, data_bands: Sequence[str] | None = None,
               nodata: float | None = None, strict_bands: bool = False,
               dates: Sequence[str] | None = None) -> SceneInfo:
    """Open the header, map the file's bands to the model's (every date's for a time series:
    :func:`trtbench.stacks.read_input`), decide the nodata value, and read the acquisition (``dates``: ISO
    dates of the frames, ``--dates``), refused here, before any work, where the artifact needs what is missing."""
    with open_raster(path) as ds:
        if ds.count < meta.channels:
            raise InputError(f"{path} has {ds.count} band(s) but the model needs {meta.channels} "
                             f"({', '.join(meta.bands)}" + (f" x {meta.num_frames} dates)" if meta.num_frames > 1
                                                             else ")"), "pass a scene with the model's bands")
        value = nodata if nodata is not None else ds.nodata if ds.nodata is not None else meta.nodata
        if data_bands and all(b.isdigit() for b in data_bands):
            indexes = _by_index(meta, ds.count, data_bands)
            return SceneInfo(as_raster_path(path), ds.height, ds.width, ds.crs, ds.transform, value, indexes)
        view = read_input(meta, ds.count, ds.descriptions, colour_names(ds.colorinterp), ds.tags(),
                          (ds.crs, ds.transform, ds.width, ds.height), file_bands=data_bands, strict=strict_bands,
                          dates=[parse_date(d) for d in dates] if dates else None, path=path)
        check_acquisition(meta, view.acquisition, view.name)
        return SceneInfo(as_raster_path(path), ds.height, ds.width, ds.crs, ds.transform, value,
                         tuple(i + 1 for i in view.match.indices), view.match.source, view.match.warning,
                         view.acquisition)


def _by_index(meta: ModelMetadata, count: int, data_bands: Sequence[str]) -> tuple[int, ...]:
    """``--data-bands 3,2,1``: the file's 1-based band numbers holding the model's bands, in model order."""
    indexes = tuple(int(b) for b in data_bands)
    if len(indexes) != meta.channels or not all(1 <= i <= count for i in indexes):
        raise InputError(f"--data-bands {','.join(data_bands)} does not pick {meta.channels} of the file's "
                         f"{count} bands for {', '.join(meta.bands)}" +
                         (f" x {meta.num_frames} dates" if meta.num_frames > 1 else ""),
                         f"give {meta.channels} band numbers between 1 and {count}, in the model's channel order")
    return indexes


def read_tiles(info: SceneInfo, meta: ModelMetadata, plan: WindowPlan, start_row: int = 0) -> Iterator[Tile]:
    """Tiles of rows ``start_row..`` in row-major order.

    Each tile row is one windowed read of a ``tile``-high strip (the model's bands only), normalised
    once and reflect-padded to the plan's padded width; tiles are slices of it. Memory: one strip.
    """
    mean = channel_statistics(meta)[0][:, None, None]
    with open_raster(info.path) as ds:
        for row in range(start_row, plan.rows):
            y0, _ = plan.origin(row, 0)
            ys, ye = max(y0, 0), min(y0 + plan.tile, info.height)
            raw = _read_rows(ds, info, ys, ye)
            pads = ((0, 0), (ys - y0, y0 + plan.tile - ye), (plan.pad, plan.padded_width - plan.pad - info.width))
            pixels, mask = _normalise(_reflect(raw, pads), meta, info.nodata, mean)
            for col in range(plan.cols):
                cols = slice(col * plan.stride, col * plan.stride + plan.tile)
                yield Tile(col, pixels[:, :, cols], mask[:, cols])


def _read_rows(ds, info: SceneInfo, y0: int, y1: int) -> np.ndarray:
    from rasterio.errors import RasterioError
    from rasterio.windows import Window

    try:
        return ds.read(info.indexes, window=Window(0, y0, info.width, y1 - y0), out_dtype=np.float32)
    except RasterioError as exc:
        for source in remote_sources(info.path):   # a cut connection is not a corrupt file (nor a VRT's source)
            _raise_if_unreachable(source, exc)
        raise InputError(f"{info.path} is corrupt near rows {y0}-{y1}: {gdal_reason(exc)}",
                         "re-download or re-create the scene; its header reads but its pixels do not") from None


def _raise_if_unreachable(raster: RemoteRaster, exc: Exception) -> None:
    """Raise :class:`RemoteUnavailable` when a failed remote read is the server's doing: GDAL reports a cut
    connection as a short read, like a truncated file, so the server is asked for the object again."""
    error = remote_error(raster, gdal_reason(exc))
    if not isinstance(error, RemoteUnavailable):
        remote_identity(raster)   # raises RemoteUnavailable when the server no longer answers
        return
    raise error from None


def _normalise(raw: np.ndarray, meta: ModelMetadata, nodata: float | None,
               mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # NaN counts as missing whatever the declared nodata; filled with the band mean it normalises to 0.
    nan = np.isnan(raw).any(axis=0)
    if nan.any():
        raw = np.where(np.isnan(raw), mean, raw)
    pixels, mask = normalize(meta, raw, nodata)
    return pixels, mask | nan


def _reflect(raw: np.ndarray, pads: tuple[tuple[int, int], ...]) -> np.ndarray:
    if not any(a or b for a, b in pads):
        return raw
    # Reflection needs two pixels along an axis; a one-pixel scene is repeated instead.
    mode = "reflect" if min(raw.shape[1:]) > 1 else "edge"
    return np.pad(raw, pads, mode=mode)
