"""STAC Items as scenes: one COG asset per band (as Sentinel-2 L2A items ship them), stacked onto one grid.

``trtbench predict model.onnx item.json`` (a STAC Item, an ItemCollection or search result, a local file or a
URL) picks, for each of the model's bands, the item's asset that holds that band: by the asset's band metadata
(``eo:bands`` of the eo extension, or STAC 1.1 ``bands`` with ``eo:common_name``/``eo:center_wavelength``),
matched on the band's name, its common name, else its centre wavelength (:func:`~.band_choice.find_asset`). A
band-agnostic artifact given no ``--bands`` takes the bands the items offer (:mod:`trtbench.stac.band_choice`).
The chosen assets are stacked into a GDAL VRT on the grid of the finest one: GDAL resamples the coarser bands
on the fly (``ComplexSource`` with ``resampling="nearest"``) and reads them by range requests through
/vsicurl/ or /vsis3/, so nothing is downloaded whole. The VRT names each band (its description), so the usual
band matching finds them; predict then maps it like any scene, named after the item's id.

The VRT is written under the output folder (``.trtbench-stac/<id>.vrt``) and rewritten only when it changes, so
``--resume`` recognises the scene. Mixed CRSs are refused rather than warped silently.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from ..errors import InputError
from ..metadata import ModelMetadata
from ..raster import open_raster
from ..remote import as_raster_path, is_remote
from .band_choice import BandChoice, choose_item_bands, find_asset

if TYPE_CHECKING:
    from ..predict.scene import PredictOptions

VRT_FOLDER = ".trtbench-stac"


def is_stac_scene(arg: str) -> bool:
    """Whether a scene argument is a STAC Item / ItemCollection JSON (local or URL), not a raster."""
    if not arg.lower().split("?", 1)[0].endswith(".json"):
        return False
    if is_remote(arg):
        return True
    try:
        data = json.loads(Path(arg).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and data.get("type") in ("Feature", "FeatureCollection")


@dataclass(frozen=True)
class StacScenes:
    """STAC arguments resolved: the scenes (one VRT per item), the options bound to the band set the items
    were stacked for, and, for a band-agnostic artifact, the band choice made from the items (else None)."""

    scenes: list[str]
    options: PredictOptions
    choice: BandChoice | None = None


def stac_scenes(args: list[str] | tuple[str, ...], options: PredictOptions, meta: ModelMetadata,
                out_dir: str | Path) -> StacScenes:
    """``args`` with every STAC Item / ItemCollection replaced by one VRT per item (in ``out_dir``).

    A band-agnostic artifact given no ``--bands``/``--wavelengths`` takes the bands the items offer
    (:mod:`trtbench.stac.band_choice`); the returned options carry that choice to every scene.
    """
    items = [(arg, _items(arg)) for arg in args if is_stac_scene(arg)]
    choice = None
    if meta.band_mode == "dynamic" and not options.bands and not options.wavelengths and items:
        choice = choose_item_bands([item for _, found in items for item, _ in found], meta, options.sensor)
        options = replace(options, sensor=choice.sensor, bands=choice.bands)
    bound = options.bind(meta)
    planned: list[str | tuple[str, str]] = []   # a plain scene argument, or (VRT file name, VRT text)
    by_arg = dict(items)
    for arg in args:
        if arg in by_arg:
            planned.extend(item_vrt(item, base, bound) for item, base in by_arg[arg])
        else:
            planned.append(arg)
    # Written only once every item's assets were found and read: a refused item leaves no VRT behind.
    folder = Path(out_dir) / VRT_FOLDER
    scenes = [p if isinstance(p, str) else str(write_vrt(folder, *p)) for p in planned]
    return StacScenes(scenes, options, choice)


def _items(arg: str) -> list[tuple[dict[str, Any], str]]:
    """The items of an Item or ItemCollection, each with the URL or folder its relative hrefs start from."""
    try:
        if is_remote(arg):
            with urllib.request.urlopen(arg, timeout=60) as reply:
                data = json.loads(reply.read())
            base = arg
        else:
            data = json.loads(Path(arg).read_text(encoding="utf-8"))
            base = str(Path(arg).resolve())
    except (OSError, ValueError) as exc:
        raise InputError(f"STAC input {arg} cannot be read ({exc})", "check the path or URL of the item") from None
    items = data.get("features", []) if data.get("type") == "FeatureCollection" else [data]
    if not items:
        raise InputError(f"STAC input {arg} holds no item", "pass an Item or a non-empty ItemCollection")
    return [(item, base) for item in items]


def band_assets(item: dict[str, Any], base: str, meta: ModelMetadata) -> list[tuple[str, str]]:
    """For each model band, in order: (band name, absolute href of the single-band asset holding it)."""
    chosen = []
    for band in meta.sensor_table().bands:
        found = find_asset(item, band)
        if found is None:
            raise InputError(f"STAC item {item.get('id', '?')} has no asset for band {band.name} ({band.wavelength} µm)",
                             f"the model needs {', '.join(meta.bands)}: pass items with those bands as assets "
                             "(described by eo:bands or bands)")
        chosen.append((band.name, _absolute(found[1]["href"], base)))
    return chosen


def _absolute(href: str, base: str) -> str:
    if is_remote(href) or Path(href).is_absolute():
        return href
    if is_remote(base):
        return urllib.parse.urljoin(base, href)
    return str(Path(base).parent / href)


def item_vrt(item: dict[str, Any], base: str, meta: ModelMetadata) -> tuple[str, str]:
    """The VRT stacking the item's assets for ``meta``'s bands on the finest asset's grid: its file name (the
    item's id) and its text."""
    bands = band_assets(item, base, meta)
    headers = []
    for name, href in bands:
        with open_raster(href) as ds:
            headers.append((name, href, ds.crs, ds.transform, ds.width, ds.height, ds.dtypes[0], ds.nodata))
    crss = {str(h[2]) for h in headers}
    if len(crss) > 1:
        raise InputError(f"STAC item {item.get('id', '?')} mixes CRSs across its bands ({', '.join(sorted(crss))})",
                         "pass items whose band assets share one CRS (trtbench does not warp between CRSs)")
    _, _, crs, grid, width, height, _, _ = min(headers, key=lambda h: abs(h[3].a))
    sources = "".join(_band_xml(i, h, grid) for i, h in enumerate(headers))
    transform = ", ".join(repr(v) for v in grid.to_gdal())
    vrt = (f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{escape(crs.to_wkt())}</SRS>'
           f"<GeoTransform>{transform}</GeoTransform>{sources}</VRTDataset>")
    return f"{_safe(str(item.get('id', 'item')))}.vrt", vrt


def write_vrt(folder: Path, name: str, text: str) -> Path:
    """``folder/name`` holding ``text``; an unchanged file keeps its mtime, so ``--resume`` recognises it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def _band_xml(index: int, header: tuple, grid) -> str:
    from rasterio.dtypes import _gdal_typename

    name, href, _, transform, width, height, dtype, nodata = header
    x_off, y_off = (transform.c - grid.c) / grid.a, (transform.f - grid.f) / grid.e
    scale_x, scale_y = transform.a / grid.a, transform.e / grid.e
    nodata_xml = f"<NoDataValue>{nodata!r}</NoDataValue>" if nodata is not None else ""
    source = as_raster_path(href)
    filename = getattr(source, "gdal_path", str(source))
    return (f'<VRTRasterBand dataType="{_gdal_typename(dtype)}" band="{index + 1}"><Description>{escape(name)}'
            f"</Description>{nodata_xml}<ComplexSource resampling=\"nearest\">"
            f'<SourceFilename relativeToVRT="0">{escape(filename)}</SourceFilename><SourceBand>1</SourceBand>'
            f'<SrcRect xOff="0" yOff="0" xSize="{width}" ySize="{height}"/>'
            f'<DstRect xOff="{x_off!r}" yOff="{y_off!r}" xSize="{width * scale_x!r}" ySize="{height * scale_y!r}"/>'
            f"{nodata_xml.replace('NoDataValue', 'NODATA')}</ComplexSource></VRTRasterBand>")


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text) or "item"
