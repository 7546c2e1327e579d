"""Sensor band tables: names, centre wavelengths (µm), bandwidths (µm), GSD and normalization in native units.

Clay's band embedding is generated from wavelengths, so these numbers decide the model's weights:
values for Clay's own platforms come from Clay's ``configs/metadata.yaml``. Sentinel-2 L1C statistics
are SSL4EO-S12's (Wang et al. 2022, 50k patches, TOA reflectance x 10000); HLS statistics are
Prithvi-EO's (HLS V2 over CONUS, reflectance x 10000).

Bandwidths (µm, like the wavelengths) are given only where Copernicus-FM's official configs state them
(zhu-xlab/Copernicus-FM ``Copernicus-Bench/src/configs/dataset/cobench_dfc2020_s2.yaml`` and ``..._s1.yaml``,
in nm there): Sentinel-2 L1C/L2A (and HLS S30, whose bands are Sentinel-2 MSI's) and Sentinel-1 (1 m, the
configs' radar value). A model conditioned on bandwidths refuses a table without them (:attr:`Sensor.bandwidths`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .errors import TrtbenchError


@dataclass(frozen=True)
class Band:
    """One spectral band: canonical name, aliases, centre wavelength (µm), normalization, bandwidth (µm) if known."""

    name: str
    wavelength: float
    mean: float
    std: float
    aliases: tuple[str, ...] = ()
    bandwidth: float | None = None

    def matches(self, name: str) -> bool:
        key = name.strip().lower()
        return key == self.name.lower() or key in (a.lower() for a in self.aliases)


@dataclass(frozen=True)
class Sensor:
    """A platform's bands in file order, with its ground sample distance (m)."""

    name: str
    gsd: float
    bands: tuple[Band, ...]
    units: str = ""

    @property
    def band_names(self) -> list[str]:
        return [b.name for b in self.bands]

    def band(self, name: str) -> Band:
        for band in self.bands:
            if band.matches(name):
                return band
        raise TrtbenchError(
            f"sensor '{self.name}' has no band '{name}'",
            f"use one of: {', '.join(self.band_names)}",
        )

    def select(self, names: Sequence[str] | None = None) -> Sensor:
        """The same sensor restricted to ``names`` (in that order); default: all its bands."""
        names = list(names) if names else self.band_names
        chosen = tuple(self.band(n) for n in names)
        duplicates = {b.name for b in chosen if sum(c.name == b.name for c in chosen) > 1}
        if duplicates:
            raise TrtbenchError(f"band(s) selected twice: {', '.join(sorted(duplicates))}", "list each band once")
        return replace(self, bands=chosen)

    @property
    def wavelengths(self) -> list[float]:
        return [b.wavelength for b in self.bands]

    @property
    def bandwidths(self) -> list[float]:
        """Bandwidths in µm, for models conditioned on them (Copernicus-FM); refused where the table has none."""
        missing = [b.name for b in self.bands if b.bandwidth is None]
        if missing:
            raise TrtbenchError(f"sensor '{self.name}' lists no bandwidth for band(s) {', '.join(missing)}, and this "
                                "model generates its patch kernel from wavelength and bandwidth",
                                f"use a sensor whose table gives bandwidths ({', '.join(BANDWIDTH_SENSORS)})")
        return [b.bandwidth for b in self.bands]

    @property
    def known_bandwidths(self) -> list[float] | None:
        """Every band's bandwidth (µm), or None where any is missing (what a model's metadata records)."""
        widths = [b.bandwidth for b in self.bands]
        return None if any(w is None for w in widths) else widths

    @property
    def mean(self) -> list[float]:
        return [b.mean for b in self.bands]

    @property
    def std(self) -> list[float]:
        return [b.std for b in self.bands]


def _bands(rows: Sequence[tuple], bandwidths: Sequence[float | None] | None = None) -> tuple[Band, ...]:
    widths = list(bandwidths) if bandwidths is not None else [None] * len(rows)
    return tuple(Band(name, wl, mean, std, tuple(aliases), width)
                 for (name, wl, mean, std, *aliases), width in zip(rows, widths))


# Sentinel-2 band identities shared by L1C and L2A (aliases are Clay's/STAC's common names).
_S2_ALIASES = {
    "B01": ("coastal", "B1"), "B02": ("blue", "B2"), "B03": ("green", "B3"), "B04": ("red", "B4"),
    "B05": ("rededge1", "B5"), "B06": ("rededge2", "B6"), "B07": ("rededge3", "B7"), "B08": ("nir", "B8"),
    "B8A": ("nir08",), "B09": ("wv", "B9"), "B10": ("cirrus",), "B11": ("swir16",), "B12": ("swir22",),
}
_S2_WAVELENGTH = {
    "B01": 0.443, "B02": 0.493, "B03": 0.56, "B04": 0.665, "B05": 0.704, "B06": 0.74, "B07": 0.783,
    "B08": 0.842, "B8A": 0.865, "B09": 0.945, "B10": 1.375, "B11": 1.61, "B12": 2.19,
}
# Copernicus-FM's Sentinel-2 bandwidths (Copernicus-Bench cobench_dfc2020_s2.yaml, nm there), in µm.
_S2_BANDWIDTH = {
    "B01": 0.020, "B02": 0.065, "B03": 0.035, "B04": 0.030, "B05": 0.015, "B06": 0.015, "B07": 0.020,
    "B08": 0.115, "B8A": 0.020, "B09": 0.020, "B10": 0.030, "B11": 0.090, "B12": 0.180,
}
# Copernicus-FM's Sentinel-1 bandwidth (cobench_dfc2020_s1.yaml: 1e9 nm = 1 m), in µm.
S1_BANDWIDTH = 1.0e6
_S2_L2A_STATS = {  # Clay metadata.yaml
    "B02": (1105, 1809), "B03": (1355, 1757), "B04": (1552, 1888), "B05": (1887, 1870), "B06": (2422, 1732),
    "B07": (2630, 1697), "B08": (2743, 1742), "B8A": (2785, 1648), "B11": (2388, 1470), "B12": (1835, 1379),
}
_S2_L1C_STATS = {  # SSL4EO-S12 S2C
    "B01": (1605.575, 786.787), "B02": (1390.782, 850.348), "B03": (1314.873, 875.065),
    "B04": (1363.524, 1138.850), "B05": (1549.444, 1122.178), "B06": (2091.749, 1161.592),
    "B07": (2371.717, 1274.392), "B08": (2299.905, 1248.429), "B8A": (2560.295, 1345.527),
    "B09": (830.066, 577.316), "B10": (22.104, 51.154), "B11": (2177.072, 1336.099), "B12": (1524.065, 1136.538),
}


def _s2(stats: dict[str, tuple[float, float]]) -> tuple[Band, ...]:
    return tuple(
        Band(n, _S2_WAVELENGTH[n], mean, std, _S2_ALIASES[n], _S2_BANDWIDTH[n]) for n, (mean, std) in stats.items()
    )


def _landsat(stats: Sequence[tuple[float, float]]) -> tuple[Band, ...]:
    # Clay's order and wavelengths; OLI band numbers as canonical names.
    ids = [("B4", 0.65, "red"), ("B3", 0.56, "green"), ("B2", 0.48, "blue"),
           ("B5", 0.86, "nir08"), ("B6", 1.6, "swir16"), ("B7", 2.2, "swir22")]
    return tuple(Band(n, wl, m, s, (alias, f"B0{n[1]}")) for (n, wl, alias), (m, s) in zip(ids, stats))


_PRITHVI_STATS = [(775.229, 1281.526), (1080.993, 1270.030), (1228.586, 1399.480),
                  (2497.202, 1368.345), (2204.214, 1291.676), (1610.832, 1154.506)]

SENSORS: dict[str, Sensor] = {
    s.name: s
    for s in [
        Sensor("sentinel-2-l2a", 10.0, _s2(_S2_L2A_STATS), units="surface reflectance x 10000"),
        Sensor("sentinel-2-l1c", 10.0, _s2({n: _S2_L1C_STATS[n] for n in _S2_WAVELENGTH}),
               units="TOA reflectance x 10000"),
        Sensor("landsat-c2l2-sr", 30.0, _landsat([(13705, 9578), (13310, 9408), (12474, 10144),
                                                  (17801, 8277), (14615, 5300), (12701, 4522)]),
               units="C2 L2 scaled DN"),
        Sensor("landsat-c2l1", 30.0, _landsat([(10678, 6025), (10563, 5411), (11083, 5468),
                                               (14792, 6746), (12276, 5897), (10114, 4850)]),
               units="C2 L1 DN"),
        Sensor("hls-s30", 30.0, _bands([
            (n, wl, m, s, *a) for (n, wl, a), (m, s) in zip(
                [("B02", 0.493, ("blue", "B2")), ("B03", 0.56, ("green", "B3")), ("B04", 0.665, ("red", "B4")),
                 ("B8A", 0.865, ("nir08", "nir_narrow")), ("B11", 1.61, ("swir16", "swir_1")),
                 ("B12", 2.19, ("swir22", "swir_2"))], _PRITHVI_STATS)],
            [_S2_BANDWIDTH[n] for n in ("B02", "B03", "B04", "B8A", "B11", "B12")]), units="surface reflectance x 10000"),
        Sensor("hls-l30", 30.0, _bands([
            (n, wl, m, s, *a) for (n, wl, a), (m, s) in zip(
                [("B02", 0.482, ("blue", "B2")), ("B03", 0.561, ("green", "B3")), ("B04", 0.655, ("red", "B4")),
                 ("B05", 0.865, ("nir08", "nir_narrow")), ("B06", 1.609, ("swir16", "swir_1")),
                 ("B07", 2.201, ("swir22", "swir_2"))], _PRITHVI_STATS)]), units="surface reflectance x 10000"),
        Sensor("sentinel-1-rtc", 10.0, _bands([("VV", 3.5, -12.113, 8.314, "vv"), ("VH", 4.0, -18.673, 8.017, "vh")],
                                              [S1_BANDWIDTH, S1_BANDWIDTH]), units="backscatter dB"),
        # Ground-range detected, not terrain-corrected (Sen1Floods11's S1, SSL4EO-S12's S1): a modality of its own
        # for models that tell the two apart (TerraMind's S1GRD). Statistics: TerraMind v1's S1GRD pretraining
        # mean/std (SSL4EO-S12 GRD, dB; terratorch v1_pretraining_mean/std); pseudo-wavelengths as the RTC table.
        Sensor("sentinel-1-grd", 10.0, _bands([("VV", 3.5, -12.599, 5.195, "vv"), ("VH", 4.0, -20.293, 5.890, "vh")],
                                              [S1_BANDWIDTH, S1_BANDWIDTH]), units="backscatter dB (GRD)"),
        Sensor("naip", 1.0, _bands([("red", 0.65, 110.16, 47.23), ("green", 0.56, 115.41, 39.82),
                                    ("blue", 0.48, 98.15, 35.43), ("nir", 0.842, 139.04, 49.86)]), units="DN"),
        Sensor("linz", 0.5, _bands([("red", 0.635, 89.96, 41.83), ("green", 0.555, 99.46, 36.96),
                                    ("blue", 0.465, 89.51, 31.45)]), units="DN"),
        Sensor("modis", 500.0, _bands([("b01", 0.645, 1072, 1643), ("b02", 0.858, 1624, 1878),
                                       ("b03", 0.469, 931, 1449), ("b04", 0.555, 1023, 1538),
                                       ("b05", 1.240, 1599, 1763), ("b06", 1.640, 1404, 1618),
                                       ("b07", 2.130, 1051, 1396)]), units="surface reflectance x 10000"),
        Sensor("planetscope-sr", 5.0, _bands([
            ("coastal_blue", 0.443, 1720, 747), ("blue", 0.490, 1715, 698), ("green_i", 0.531, 1913, 739),
            ("green", 0.565, 2088, 768), ("yellow", 0.610, 2274, 849), ("red", 0.665, 2290, 868),
            ("rededge", 0.705, 2613, 849), ("nir", 0.865, 3970, 914)]), units="surface reflectance x 10000"),
    ]
}


# The tables that give every band's bandwidth (named in the error of a table without them).
BANDWIDTH_SENSORS = [name for name, table in SENSORS.items() if all(b.bandwidth is not None for b in table.bands)]


def get_sensor(name: str) -> Sensor:
    """A sensor table by name; ``a+b`` is a stack of tables (e.g. ``sentinel-1-rtc+sentinel-2-l1c``)."""
    if "+" in name:
        return stack_sensors([get_sensor(part) for part in name.split("+")])
    try:
        return SENSORS[name.strip().lower()]
    except KeyError:
        raise TrtbenchError(f"unknown sensor '{name}'", f"use one of: {', '.join(SENSORS)}, or a stack like "
                            "sentinel-1-rtc+sentinel-2-l1c") from None


def stack_sensors(tables: Sequence[Sensor]) -> Sensor:
    """Several sensors' bands in one file, in table order, on the first sensor's grid (its GSD)."""
    return Sensor("+".join(t.name for t in tables), tables[0].gsd, tuple(b for t in tables for b in t.bands),
                  units=" + ".join(t.units for t in tables))


RADAR_MIN_UM, RADAR_MAX_UM = 1.0e4, 1.0e6   # 1 cm to 1 m

# How a wavelength-conditioned family reads Sentinel-1 VV/VH, where that is not the table's value (the
# ``sentinel-1-rtc`` table holds Clay's pseudo-wavelengths 3.5/4.0 µm, which Clay was trained with): DOFA's
# official wave list gives its SAR bands 5.405 (zhu-xlab/DOFA, the Sentinel-1 entries of its fine-tuning
# configs), Copernicus-FM's Copernicus-Bench configs 5 cm (``cobench_*_s1.yaml``: 5e7 nm). Feeding a model
# another family's convention would condition its patch kernel on a wavelength it never saw, silently.
RADAR_READINGS: dict[str, float] = {"dofa": 5.405, "copernicus_fm": 5.0e4}


def read_radar_as(table: Sensor, family: str | None) -> Sensor:
    """``table`` with its Sentinel-1 bands at the wavelength ``family`` reads them as (unchanged for families
    that read the table's values, and for wavelengths a user gave: only the table's own values are replaced)."""
    value = RADAR_READINGS.get(family or "")
    if value is None:
        return table
    radar = {(b.name, b.wavelength) for name in ("sentinel-1-rtc", "sentinel-1-grd") for b in SENSORS[name].bands}
    return replace(table, bands=tuple(replace(b, wavelength=value) if (b.name, b.wavelength) in radar else b
                                      for b in table.bands))


def custom_sensor(wavelengths: Sequence[float], gsd: float, mean: Sequence[float] | None = None,
                  std: Sequence[float] | None = None, names: Sequence[str] | None = None,
                  bandwidths: Sequence[float] | None = None) -> Sensor:
    """A sensor from user-given wavelengths (µm); without statistics the data is assumed pre-normalised.

    ``bandwidths`` (µm) are kept where known (stacks of tables that give them; a model's recorded band set)."""
    n = len(wavelengths)
    names = list(names) if names else [f"band{i + 1}" for i in range(n)]
    mean = list(mean) if mean is not None else [0.0] * n
    std = list(std) if std is not None else [1.0] * n
    if not (len(names) == len(mean) == len(std) == n):
        raise TrtbenchError("custom sensor: wavelengths, names, mean and std differ in length",
                            "give one value per band for each")
    # Optical/thermal bands lie below 100 µm; radar bands from 1 cm (Copernicus-FM reads C-band as 5 cm = 5e4
    # µm). Between the two lie the nanometre values of optical bands, the usual unit mistake.
    if any(w <= 0 or 100 < w < RADAR_MIN_UM or w > RADAR_MAX_UM for w in wavelengths):
        raise TrtbenchError(f"wavelengths must be positive micrometres, got {list(wavelengths)}",
                            "give centre wavelengths in µm (e.g. 0.665 for red), not nm; radar bands as "
                            "1e4 to 1e6 µm (1 cm to 1 m, e.g. 5e4 for Sentinel-1 in Copernicus-FM)")
    if any(s <= 0 for s in std):
        raise TrtbenchError("custom sensor: every std must be positive", "check the normalization values")
    widths = [float(w) for w in bandwidths] if bandwidths is not None and len(bandwidths) == n else [None] * n
    return Sensor("custom", float(gsd), tuple(Band(nm, float(w), float(m), float(s), (), bw)
                                             for nm, w, m, s, bw in zip(names, wavelengths, mean, std, widths)))
