"""Which bands a band-agnostic artifact takes from STAC items: the ones the items offer, chosen from their band
metadata (``eo:bands`` / ``bands``: names, common names, centre wavelengths), unless ``--bands`` or
``--wavelengths`` say.

A band needs normalisation statistics, so bands are chosen from a sensor table (:mod:`trtbench.sensors`):
``--sensor`` if given, else the table of the items' ``collection`` (the ids the public catalogues use: Earth
Search and Microsoft Planetary Computer name Sentinel-2 ``sentinel-2-l2a`` / ``sentinel-2-c1-l2a`` /
``sentinel-2-l1c`` and Landsat Collection 2 ``landsat-c2-l2`` / ``landsat-c2-l1``), else the artifact's own sensor table, with a
warning that the items' data is assumed to be in its units. Of that table's bands, in table order, a band is
chosen when every item has an asset for it (one band set for the whole run, so all items' outputs are alike);
a band is left out, with the reason, when an item lacks it, when it lies outside the wavelengths the band
embedding was trained on, when the model needs a bandwidth the table lacks, or past the graph's band limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..metadata import ModelMetadata
from ..sensors import SENSORS, Band, Sensor, get_sensor

WAVELENGTH_TOLERANCE = 0.02   # µm: Sentinel-2's B8A (0.865) and B08 (0.842) stay apart

# STAC collection id (as the public catalogues name them) -> trtbench sensor table.
COLLECTION_SENSORS = {"sentinel-2-l2a": "sentinel-2-l2a", "sentinel-2-c1-l2a": "sentinel-2-l2a",
                      "sentinel-2-l1c": "sentinel-2-l1c",
                      "landsat-c2-l2": "landsat-c2l2-sr", "landsat-c2-l1": "landsat-c2l1"}


@dataclass(frozen=True)
class BandChoice:
    """The band set chosen for the items, and why: the sensor table's source and each band left out."""

    sensor: str
    bands: tuple[str, ...]
    table_from: str                                    # "--sensor", "the items' collection X", "the artifact"
    left_out: dict[str, str] = field(default_factory=dict)   # band -> why it was not chosen
    warning: str | None = None                         # set when the table was assumed

    def line(self) -> str:
        """The choice on one line, for the terminal."""
        text = f"bands from the STAC item(s): {', '.join(self.bands)} of {self.sensor} (table from {self.table_from})"
        if self.left_out:
            text += "; left out: " + "; ".join(f"{b} ({why})" for b, why in self.left_out.items())
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"sensor": self.sensor, "bands": list(self.bands), "table_from": self.table_from,
                "left_out": self.left_out, "warning": self.warning}


def choose_item_bands(items: list[dict[str, Any]], meta: ModelMetadata, sensor: str | None) -> BandChoice:
    """The bands of the sensor table that every item offers and the band-agnostic artifact ``meta`` can take."""
    table, table_from, warning = _table(items, meta, sensor)
    low, high = meta.wavelength_range or (0.0, float("inf"))
    chosen: list[str] = []
    left_out: dict[str, str] = {}
    used: dict[tuple[int, str], str] = {}   # (item, asset key) -> the band it already holds
    for band in table.bands:
        found = [find_asset(item, band) for item in items]
        lacking = [str(item.get("id", "?")) for item, hit in zip(items, found) if hit is None]
        taken = {used[(i, hit[0])] for i, hit in enumerate(found) if hit and (i, hit[0]) in used}
        if lacking:
            left_out[band.name] = f"no asset in item {', '.join(lacking)}"
        elif taken:
            left_out[band.name] = f"its nearest asset already holds {', '.join(sorted(taken))}"
        elif not low <= band.wavelength <= high:
            left_out[band.name] = f"{band.wavelength:g} µm, outside the {low:g}-{high:g} µm the model was trained on"
        elif "bandwidths" in meta.inputs and band.bandwidth is None:
            left_out[band.name] = f"the model needs its bandwidth, which the {table.name} table does not give"
        elif meta.max_bands and len(chosen) >= meta.max_bands:
            left_out[band.name] = f"the artifact takes at most {meta.max_bands} bands"
        else:
            chosen.append(band.name)
            used |= {(i, hit[0]): band.name for i, hit in enumerate(found)}
    if not chosen:
        raise InputError(f"the STAC item(s) offer none of the {table.name} bands this band-agnostic artifact can "
                         f"take ({'; '.join(f'{b}: {why}' for b, why in left_out.items())})",
                         "pass items with band assets described by eo:bands or bands, or choose --sensor/--bands")
    return BandChoice(table.name, tuple(chosen), table_from, left_out, warning)


def find_asset(item: dict[str, Any], band: Band) -> tuple[str, dict[str, Any]] | None:
    """The item's single-band asset holding ``band``: by name or common name, else (when no asset is named so)
    by centre wavelength within ``WAVELENGTH_TOLERANCE``; a GeoTIFF is preferred where catalogues offer the
    band twice (COG and JPEG 2000)."""
    named, near = [], []
    for key, asset in item.get("assets", {}).items():
        bands = asset_bands(asset) if isinstance(asset, dict) else []
        if len(bands) != 1:
            continue
        record = bands[0]
        wavelength = record["center_wavelength"]
        if any(band.matches(n) for n in (record["name"], record["common_name"]) if isinstance(n, str)):
            named.append((key, asset))
        elif isinstance(wavelength, int | float) and abs(wavelength - band.wavelength) <= WAVELENGTH_TOLERANCE:
            near.append((key, asset))
    hits = sorted(named or near, key=lambda hit: "tiff" not in str(hit[1].get("type", "image/tiff")).lower())
    return hits[0] if hits else None


def asset_bands(asset: dict[str, Any]) -> list[dict[str, Any]]:
    """An asset's bands as (name, common_name, center_wavelength) records, from eo:bands or STAC 1.1 bands."""
    if "eo:bands" in asset:
        return [{"name": b.get("name"), "common_name": b.get("common_name"),
                 "center_wavelength": b.get("center_wavelength")} for b in asset["eo:bands"]]
    return [{"name": b.get("name"), "common_name": b.get("eo:common_name"),
             "center_wavelength": b.get("eo:center_wavelength")} for b in asset.get("bands", [])]


def _table(items: list[dict[str, Any]], meta: ModelMetadata, sensor: str | None) -> tuple[Sensor, str, str | None]:
    if sensor:
        return get_sensor(sensor), "--sensor", None
    collections = [str(item.get("collection") or "") for item in items]
    tables = {COLLECTION_SENSORS.get(c.lower(), c.lower() if c.lower() in SENSORS else None) for c in collections}
    if len(tables - {None}) > 1:
        raise InputError(f"the STAC items come from collections of different sensors "
                         f"({', '.join(sorted(set(collections)))})", "pass --sensor, or predict each collection apart")
    if len(tables) == 1 and None not in tables:   # every item names the same known collection
        return get_sensor(tables.pop()), f"the items' collection {collections[0]}", None
    own = meta.sensor_table() if meta.sensor == "custom" else get_sensor(meta.sensor)
    warning = (f"the STAC item(s) name no collection trtbench knows ({', '.join(sorted(set(collections) - {''})) or 'none'}): "
               f"their bands are normalised with the statistics of the artifact's sensor {own.name} "
               "(pass --sensor to say what the data is)")
    return own, f"the artifact's sensor {own.name} (assumed)", warning
