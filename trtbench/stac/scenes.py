"""STAC Items as scenes: one COG asset per band (as Sentinel-2 L2A items ship them), stacked onto one grid.

``trtbench predict model.onnx item.json`` (a STAC Item, an ItemCollection or search result, a local file or a
URL) picks, for each of the model's bands, the item's asset that holds that band: by the asset's band metadata
(``eo:bands`` of the eo extension, or STAC 1.1 ``bands`` with ``eo:common_name``/``eo:center_wavelength``),
matched on the band's name, its common name, else its centre wavelength (within ``WAVELENGTH_TOLERANCE`` µm).
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
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from ..errors import InputError
from ..metadata import ModelMetadata
from ..raster import open_raster
from ..remote import as_raster_path, is_remote

WAVELENGTH_TOLERANCE = 0.025   # µm: Sentinel-2's B8A (0.865) and B08 (0.842) stay apart
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


def stac_scenes(args: list[str] | tuple[str, ...], meta: ModelMetadata, out_dir: str | Path) -> list[str]:
    """``args`` with every STAC Item / ItemCollection replaced by one VRT per item (in ``out_dir``)."""
    scenes: list[str] = []
    for arg in args:
        if not is_stac_scene(arg):
            scenes.append(arg)
            continue
        for item, base in _items(arg):
            scenes.append(str(item_vrt(item, base, meta, Path(out_dir) / VRT_FOLDER)))
    return scenes


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


def _asset_bands(asset: dict[str, Any]) -> list[dict[str, Any]]:
    """An asset's bands as (name, common_name, center_wavelength) records, from eo:bands or STAC 1.1 bands."""
    if "eo:bands" in asset:
        return [{"name": b.get("name"), "common_name": b.get("common_name"),
                 "center_wavelength": b.get("center_wavelength")} for b in asset["eo:bands"]]
    return [{"name": b.get("name"), "common_name": b.get("eo:common_name"),
             "center_wavelength": b.get("eo:center_wavelength")} for b in asset.get("bands", [])]


def band_assets(item: dict[str, Any], base: str, meta: ModelMetadata) -> list[tuple[str, str]]:
    """For each model band, in order: (band name, absolute href of the single-band asset holding it)."""
    item_id = item.get("id", "?")
    candidates = [(key, asset, _asset_bands(asset)) for key, asset in item.get("assets", {}).items()
                  if isinstance(asset, dict) and len(_asset_bands(asset)) == 1]
    chosen = []
    for band in meta.sensor_table().bands:
        def hit(record: dict[str, Any], band=band) -> bool:
            names = [n for n in (record["name"], record["common_name"]) if n]
            wavelength = record["center_wavelength"]
            return any(band.matches(n) for n in names) or (
                isinstance(wavelength, int | float) and abs(wavelength - band.wavelength) <= WAVELENGTH_TOLERANCE)

        found = [(key, asset) for key, asset, bands in candidates if hit(bands[0])]
        if not found:
            raise InputError(f"STAC item {item_id} has no asset for band {band.name} ({band.wavelength} µm)",
                             f"the model needs {', '.join(meta.bands)}: pass items with those bands as assets "
                             "(described by eo:bands or bands)")
        chosen.append((band.name, _absolute(found[0][1]["href"], base)))
    return chosen


def _absolute(href: str, base: str) -> str:
    if is_remote(href) or Path(href).is_absolute():
        return href
    if is_remote(base):
        return urllib.parse.urljoin(base, href)
    return str(Path(base).parent / href)


def item_vrt(item: dict[str, Any], base: str, meta: ModelMetadata, folder: Path) -> Path:
    """The VRT stacking the item's assets for ``meta``'s bands on the finest asset's grid."""
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
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_safe(str(item.get('id', 'item')))}.vrt"
    if not path.is_file() or path.read_text() != vrt:   # unchanged: keep its mtime, so --resume recognises it
        path.write_text(vrt)
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
