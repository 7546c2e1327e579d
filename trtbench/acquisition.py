"""When and where a raster was acquired: the dates of a time series' frames and the centre of its grid.

Prithvi-EO-2.0's TL variants take both as inputs beside the pixels, named as TerraTorch names them:
``temporal_coords`` ``[B, T, 2]`` = (year, day of year) per frame and ``location_coords`` ``[B, 2]`` =
(latitude, longitude) in degrees. Sources (facts only):

- IBM/terratorch ``terratorch/models/backbones/prithvi_mae.py``: ``TemporalEncoder`` reads ``[..., 0]`` as the
  year and ``[..., 1]`` as the day of year; ``LocationEncoder`` documents ``location_coords`` as "lat and lon"
  and encodes ``[:, 0]`` as latitude, ``[:, 1]`` as longitude.
- The Prithvi-EO-2.0 inference script (Hugging Face ``ibm-nasa-geospatial/Prithvi-EO-2.0-300M-TL``,
  ``inference.py``; the same code in TerraTorch's vLLM IO processor) takes the day of year from an HLS name's
  ``YYYYDDD`` as is, otherwise ``datetime.timetuple().tm_yday``: **1-based** (1 January is day 1), as here.
  That script passes rasterio's ``lnglat()`` (longitude first) as the location; we follow the encoder's
  documented order (latitude first), and the centre is the raster's, reprojected to EPSG:4326 with rasterio.

A frame's date comes from ``--dates`` (wins), else the file name (ISO ``YYYY-MM-DD``, ``YYYYMMDD``, or the
HLS ``YYYYDDD`` of ``HLS.S30.T10TGS.2018285T185559...``), else the GDAL tags ``ACQUISITIONDATETIME`` or
``TIFFTAG_DATETIME``; a date nowhere to be found is an error only where the artifact takes dates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from .errors import InputError
from .metadata import ModelMetadata

TEMPORAL_INPUT, LOCATION_INPUT = "temporal_coords", "location_coords"
DATE_TAGS = ("ACQUISITIONDATETIME", "TIFFTAG_DATETIME")
DATES_FIX = ("put the date in each file's name (2020-06-01, 20200601 or HLS's 2020153), set its "
             "TIFFTAG_DATETIME tag, or pass --dates 2020-06-01,2020-07-01 (one per frame, in frame order)")

_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_COMPACT = re.compile(r"(?<!\d)(\d{8})(?!\d)")            # YYYYMMDD
_ORDINAL = re.compile(r"(?<!\d)(\d{4})(\d{3})(?=T\d{6}|(?!\d))")   # YYYYDDD (HLS: 2018285T185559)


@dataclass(frozen=True)
class Acquisition:
    """The frames' dates (None where unknown) and the grid centre (lat, lon; None without georeferencing)."""

    dates: tuple[date | None, ...] = (None,)
    latlon: tuple[float, float] | None = None

    def temporal_coords(self) -> np.ndarray:
        """``[T, 2]`` float32 (year, 1-based day of year); every date must be known (:func:`check_acquisition`)."""
        return np.asarray([(d.year, d.timetuple().tm_yday) for d in self.dates], np.float32)

    def location_coords(self) -> np.ndarray:
        """``[2]`` float32 (latitude, longitude) in degrees."""
        return np.asarray(self.latlon, np.float32)

    def to_dict(self) -> dict[str, object]:
        return {"dates": [d.isoformat() if d else None for d in self.dates],
                "lat_lon": list(self.latlon) if self.latlon else None}


def parse_date(text: str, source: str = "--dates") -> date:
    """``2020-06-01``, ``20200601`` or ``2020153`` (year and 1-based day of year) as a date."""
    text = text.strip()
    found = date_in_text(text)
    if found is None or len(re.sub(r"\D", "", text)) not in (7, 8):
        raise InputError(f"{source}: '{text}' is not a date", "write dates as 2020-06-01, 20200601 or 2020153")
    return found


def parse_dates(text: str | None) -> tuple[date, ...] | None:
    """``--dates 2020-06-01,2020-07-01`` -> dates, in the order given (frame order)."""
    if not text:
        return None
    return tuple(parse_date(item) for item in text.split(",") if item.strip())


def date_in_text(text: str) -> date | None:
    """The first valid date written in ``text`` (a file name): ISO, then ``YYYYMMDD``, then ``YYYYDDD``."""
    for match in _ISO.finditer(text):
        found = _valid(lambda m=match: date(int(m[1]), int(m[2]), int(m[3])))
        if found:
            return found
    for match in _COMPACT.finditer(text):
        found = _valid(lambda m=match: datetime.strptime(m[1], "%Y%m%d").date())
        if found:
            return found
    for match in _ORDINAL.finditer(text):
        found = _valid(lambda m=match: datetime.strptime(m[1] + m[2], "%Y%j").date())
        if found and 1 <= int(match[2]) <= 366:
            return found
    return None


def date_in_tags(tags: Mapping[str, str]) -> date | None:
    """The acquisition date in a raster's GDAL tags (``ACQUISITIONDATETIME``, else ``TIFFTAG_DATETIME``, whose
    TIFF form is ``YYYY:MM:DD HH:MM:SS``)."""
    for key in DATE_TAGS:
        value = tags.get(key)
        if value:
            found = date_in_text(value.replace(":", "-", 2) if re.match(r"\d{4}:\d{2}:\d{2}", value) else value)
            if found:
                return found
    return None


def _valid(make) -> date | None:
    try:
        found = make()
    except ValueError:
        return None
    return found if 1950 <= found.year <= 2100 else None


def centre_latlon(crs, transform, width: int, height: int) -> tuple[float, float] | None:
    """The grid centre in EPSG:4326 degrees (lat, lon), or None for a raster without a CRS."""
    if crs is None:
        return None
    from rasterio.warp import transform as reproject

    x, y = transform @ (width / 2, height / 2)
    try:
        lons, lats = reproject(crs, "EPSG:4326", [x], [y])
    except Exception:   # a CRS PROJ cannot relate to WGS 84 (a local grid): no location, an error where it is needed
        return None
    return float(lats[0]), float(lons[0])


def check_acquisition(meta: ModelMetadata, acquisition: Acquisition, where: str) -> None:
    """Refuse, before any work, a sample lacking what the artifact takes as input (dates, location)."""
    if TEMPORAL_INPUT in meta.inputs:
        if len(acquisition.dates) != meta.num_frames:
            raise InputError(f"{where}: {len(acquisition.dates)} date(s) for the artifact's {meta.num_frames} frames",
                             f"give {meta.num_frames} dates, one per frame ({DATES_FIX})")
        missing = [str(t + 1) for t, d in enumerate(acquisition.dates) if d is None]
        if missing:
            raise InputError(f"{where}: no acquisition date for frame(s) {', '.join(missing)}; the artifact takes "
                             f"the dates as input ({TEMPORAL_INPUT})", DATES_FIX)
    if LOCATION_INPUT in meta.inputs and acquisition.latlon is None:
        raise InputError(f"{where} has no georeferencing (CRS), and the artifact takes its location as input "
                         f"({LOCATION_INPUT})", "pass a georeferenced GeoTIFF (with a CRS and geotransform)")


def coordinate_inputs(meta: ModelMetadata, acquisitions: Acquisition | Sequence[Acquisition] | None,
                      batch: int) -> dict[str, np.ndarray]:
    """``temporal_coords`` / ``location_coords`` for a batch of ``batch`` samples, where the artifact takes them:
    one acquisition for every sample, or one per sample."""
    wanted = [name for name in (TEMPORAL_INPUT, LOCATION_INPUT) if name in meta.inputs]
    if not wanted:
        return {}
    if acquisitions is None:
        raise InputError(f"the artifact takes {' and '.join(wanted)} (acquisition dates and location) and none "
                         "were given", DATES_FIX)
    each = [acquisitions] * batch if isinstance(acquisitions, Acquisition) else list(acquisitions)
    if len(each) != batch:
        raise InputError(f"{len(each)} acquisitions for a batch of {batch}", "give one per sample")
    for acquisition in dict.fromkeys(each):
        check_acquisition(meta, acquisition, "the input")
    out = {}
    if TEMPORAL_INPUT in wanted:
        out[TEMPORAL_INPUT] = np.stack([a.temporal_coords() for a in each])
    if LOCATION_INPUT in wanted:
        out[LOCATION_INPUT] = np.stack([a.location_coords() for a in each])
    return out


def reference_inputs(meta: ModelMetadata) -> list[str]:
    """The inputs a PyTorch reference takes: the pixels, and the dates/location of a TL artifact (its band set,
    wavelengths and GSD are built in; dates and location vary per sample, so they stay inputs)."""
    return [meta.inputs[0], *(name for name in meta.inputs[1:] if name in (TEMPORAL_INPUT, LOCATION_INPUT))]
