"""Reading GeoTIFF chips with rasterio, and matching a file's bands to a model's bands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError, TrtbenchError
from .metadata import ModelMetadata
from .sensors import SENSORS, Sensor, get_sensor


@dataclass
class Chip:
    """A raster read whole: pixels ``[C, H, W]`` plus what is needed to interpret them."""

    path: Path
    pixels: np.ndarray
    nodata: float | None
    descriptions: tuple[str | None, ...]
    crs: object
    transform: object
    colours: tuple[str | None, ...] = ()   # per band, the spectral band GDAL's colour interpretation names
    tags: dict[str, str] = field(default_factory=dict)   # the dataset's GDAL metadata (dates, a stack's record)

    def match(self, meta: ModelMetadata, file_bands: Sequence[str] | None = None, strict: bool = False) -> BandMatch:
        """Where ``meta``'s bands are in this chip (:func:`match_bands`)."""
        return match_bands(meta, self.pixels.shape[0], self.descriptions, self.colours, file_bands,
                           strict=strict, path=self.path)


def open_raster(path: str | Path):
    """``rasterio.open`` with errors that say whether the file is missing, not a raster, or corrupt (a URL:
    whether the object is missing, the credentials refused or the server unreachable, :mod:`trtbench.remote`)."""
    import rasterio
    from rasterio.errors import RasterioIOError

    from .remote import RemoteRaster, as_raster_path, remote_error

    path = as_raster_path(path)
    if isinstance(path, RemoteRaster):   # https:// or s3://: read by range requests (trtbench.remote)
        try:
            return rasterio.open(path.gdal_path)
        except RasterioIOError as exc:
            raise remote_error(path, gdal_reason(exc)) from None
    if not path.exists():
        raise InputError(f"file not found: {path}", "check the path")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a GeoTIFF", "pass the .tif file itself")
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"{path} is not a readable GeoTIFF: {gdal_reason(exc)}",
                         "pass a GeoTIFF (.tif); the file may be of another format or damaged") from None


def gdal_reason(exc: BaseException) -> str:
    """GDAL's own reason for a rasterio error, one line: rasterio often raises a generic "Read failed. See
    previous exception for details." whose chained causes hold the real message (the deepest is the most
    specific, e.g. "TIFFFillTile: ... got 80520 bytes, expected 132134")."""
    messages = []
    seen: BaseException | None = exc
    while seen is not None and len(messages) < 10:
        text = str(seen).strip()
        if text and "See previous exception" not in text:
            messages.append(text.splitlines()[0])
        seen = seen.__cause__ or seen.__context__
    return (messages[-1] if messages else type(exc).__name__)[:200]


def expand_rasters(paths: Sequence[str | Path], option: str = "--data") -> list[Path]:
    """GeoTIFFs named directly, or found (sorted by name) in named folders; missing paths are left to
    :func:`open_raster`, which names them."""
    from .remote import as_raster_path

    files: list[Path] = []
    for item in map(as_raster_path, paths):
        if not isinstance(item, Path) or not item.is_dir():
            files.append(item)
            continue
        found = sorted(p for p in item.iterdir() if p.suffix.lower() in (".tif", ".tiff"))
        if not found:
            raise InputError(f"folder {item} holds no .tif files", f"point {option} at GeoTIFF files or their folder")
        files += found
    return files


def read_pixels(ds, **kwargs) -> np.ndarray:
    """``ds.read(**kwargs)`` of an open dataset, with a file whose header reads but whose pixels do not
    (cut-off download, damaged tile) reported as the user's file, not as rasterio's exception."""
    from rasterio.errors import RasterioError

    try:
        return ds.read(**kwargs)
    except RasterioError as exc:
        raise InputError(f"{ds.name} is truncated or corrupt: its header reads but its pixels do not "
                         f"({gdal_reason(exc)})", "copy, download or re-create the file again") from None


def read_chip(path: str | Path) -> Chip:
    from .remote import as_raster_path

    with open_raster(path) as ds:
        pixels = read_pixels(ds)
        return Chip(as_raster_path(path), pixels, ds.nodata, tuple(ds.descriptions), ds.crs, ds.transform,
                    colour_names(ds.colorinterp), dict(ds.tags()))


# GDAL colour interpretations that name a spectral band (GDAL >= 3.10 adds the infrared ones). The others
# (gray, undefined, alpha, palette, hue ...) say nothing about which band a file holds.
SPECTRAL_COLOURS = ("red", "green", "blue", "coastal", "pan", "rededge", "nir", "swir", "mwir", "lwir", "tir")

# How a file's bands were identified (BandMatch.source). Only ASSUMED_ORDER is a guess.
FROM_OPTION, FROM_DESCRIPTIONS, FROM_COLOURS, ASSUMED_ORDER = (
    "--data-bands", "band descriptions", "colour interpretation", "assumed order")


def colour_names(colorinterp: Sequence[object]) -> tuple[str | None, ...]:
    """Per band, the spectral band named by GDAL's colour interpretation (``red``, ``nir`` ...), or None."""
    names = (getattr(c, "name", str(c)).lower() for c in colorinterp)
    return tuple(n if n in SPECTRAL_COLOURS else None for n in names)


@dataclass(frozen=True)
class BandMatch:
    """Where the model's bands are in a file, and how that was decided."""

    indices: list[int]          # 0-based file band of each model band, in model order
    source: str                 # FROM_OPTION, FROM_DESCRIPTIONS, FROM_COLOURS (or both joined) or ASSUMED_ORDER
    warning: str | None = None  # set when the order is assumed: the caller must show it


def band_match_of(path: str | Path, meta: ModelMetadata, file_bands: Sequence[str] | None = None,
                  strict: bool = False) -> BandMatch:
    """:func:`match_bands` for a GeoTIFF, reading only its header."""
    with open_raster(path) as ds:
        return match_bands(meta, ds.count, ds.descriptions, colour_names(ds.colorinterp), file_bands,
                           strict=strict, path=path)


def match_bands(meta: ModelMetadata, count: int, descriptions: Sequence[str | None] = (),
                colours: Sequence[str | None] = (), file_bands: Sequence[str] | None = None, *,
                strict: bool = False, path: str | Path | None = None) -> BandMatch:
    """:func:`_match_bands`; for a band-agnostic artifact a mismatch also says how to choose the data's bands
    (without ``--sensor`` it expects its default band set, which the data need not have)."""
    try:
        return _match_bands(meta, count, descriptions, colours, file_bands, strict=strict, path=path)
    except InputError as exc:
        if meta.band_mode != "dynamic":
            raise
        raise InputError(exc.problem, f"{exc.fix}; this artifact is band-agnostic and expects the bands "
                         f"{', '.join(meta.bands)} of {meta.sensor} unless told otherwise: pass --sensor with "
                         "the data's sensor (and --bands to choose among its bands)") from None


def _match_bands(meta: ModelMetadata, count: int, descriptions: Sequence[str | None] = (),
                 colours: Sequence[str | None] = (), file_bands: Sequence[str] | None = None, *,
                 strict: bool = False, path: str | Path | None = None) -> BandMatch:
    """Find the model's bands among a file's ``count`` bands.

    The file's band names come from ``file_bands`` (a list of names, or a single sensor name), else from
    what the file says about each band: its GeoTIFF description, else its GDAL colour interpretation
    (``RGB.byte.tif`` is red, green, blue; a blue-green-red model gets it reversed). A file that names no
    band is read in an assumed order (the model's when the counts agree, else the one sensor table with
    ``count`` bands that holds all the model's bands): a guess, so the match carries a warning for the
    caller to show and record, and ``strict`` refuses it.
    """
    table = meta.sensor_table()
    where = f"{path}" if path else "the file"
    if file_bands:
        names: list[str | None] = list(_option_names(file_bands, count))
        source = FROM_OPTION
    else:
        names, source = _described_names(count, descriptions, colours)
    if source is None:
        return _assumed(meta, count, table, where, strict)
    if len(names) != count:
        raise InputError(f"--data-bands lists {len(names)} names but {where} has {count} bands",
                         "give one name per band, in file order")
    indices = []
    for band in table.bands:
        hits = [i for i, name in enumerate(names) if name and band.matches(name)]
        if not hits:
            listed = ", ".join(name or "(unnamed)" for name in names)
            raise InputError(f"{where} has no band '{band.name}' (its bands, by {source}: {listed})",
                             f"the model needs {', '.join(meta.bands)}; pass a file that has them, or "
                             "--data-bands with the file's band names in file order")
        indices.append(hits[0])
    return BandMatch(indices, source)


def _option_names(file_bands: Sequence[str], count: int) -> list[str]:
    """``--data-bands`` as band names: one value that names no band of a multi-band file is a sensor (or a
    stack such as ``sentinel-1-rtc+sentinel-2-l1c``), and an unknown one is reported as such."""
    if len(file_bands) == 1 and count > 1 and not _is_band_name(file_bands[0]):
        try:
            return get_sensor(file_bands[0]).band_names
        except TrtbenchError as exc:
            raise InputError(f"--data-bands: {exc.problem}", exc.fix) from None
    return list(file_bands)


def _is_band_name(name: str) -> bool:
    return any(band.matches(name) for sensor in SENSORS.values() for band in sensor.bands)


def _described_names(count: int, descriptions: Sequence[str | None],
                     colours: Sequence[str | None]) -> tuple[list[str | None], str | None]:
    """Each band's name from its description, else its colour interpretation; the source (None: no band named)."""
    described = [d or None for d in descriptions] + [None] * (count - len(descriptions))
    coloured = list(colours) + [None] * (count - len(colours))
    names = [d or c for d, c in zip(described, coloured)]
    used = [s for s, found in ((FROM_DESCRIPTIONS, any(described)), (FROM_COLOURS, any(
        c and not d for d, c in zip(described, coloured)))) if found]
    return names, " and ".join(used) or None


def _assumed(meta: ModelMetadata, count: int, table: Sensor, where: str, strict: bool) -> BandMatch:
    if count == len(table.bands):
        order, indices = f"the model's order ({', '.join(meta.bands)})", list(range(count))
    else:
        candidates = [s for s in SENSORS.values() if len(s.bands) == count
                      and all(any(b.matches(n) for n in s.band_names) for b in table.bands)]
        if len({tuple(s.band_names) for s in candidates}) != 1:   # tables alike in band order (S1 GRD, RTC) agree
            raise InputError(
                f"{where} has {count} bands but the model expects {meta.num_bands} ({', '.join(meta.bands)}) "
                "and the file's bands are not named",
                "pass --data-bands with the file's band names or sensor (e.g. --data-bands sentinel-2-l1c)")
        sensor = candidates[0]
        order = f"{sensor.name}'s {count} bands in table order ({', '.join(sensor.band_names)})"
        indices = [next(i for i, name in enumerate(sensor.band_names) if b.matches(name)) for b in table.bands]
    problem = f"{where} does not name its bands (no band descriptions or colour interpretation)"
    fix = f"pass --data-bands with the file's band names in file order (e.g. --data-bands {','.join(meta.bands)})"
    if strict:
        raise InputError(f"{problem}; --strict-bands refuses to assume {order}", fix)
    return BandMatch(indices, ASSUMED_ORDER, f"{problem}: assumed {order}; to be sure, {fix}")
