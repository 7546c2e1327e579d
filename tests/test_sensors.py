"""Sensor tables: band subsets by name or alias, custom wavelengths, clear errors."""

from __future__ import annotations

import pytest

from trtbench.errors import TrtbenchError
from trtbench.sensors import SENSORS, custom_sensor, get_sensor

REQUIRED = ["sentinel-2-l2a", "sentinel-2-l1c", "landsat-c2l1", "landsat-c2l2-sr", "hls-s30", "hls-l30",
            "sentinel-1-rtc", "sentinel-1-grd", "naip", "planetscope-sr"]


@pytest.mark.parametrize("name", REQUIRED)
def test_every_required_sensor_has_wavelengths_gsd_and_positive_std(name):
    sensor = get_sensor(name)
    assert sensor.gsd > 0 and sensor.bands
    assert all(0.3 < b.wavelength < 10 for b in sensor.bands)
    assert all(b.std > 0 for b in sensor.bands)


def test_sentinel2_l1c_has_all_13_bands_in_file_order():
    assert get_sensor("sentinel-2-l1c").band_names == [
        "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]


def test_clay_l2a_values_are_the_published_ones():
    red = get_sensor("sentinel-2-l2a").band("red")
    assert (red.name, red.wavelength, red.mean, red.std) == ("B04", 0.665, 1552, 1888)


def test_band_subset_is_selected_by_name_or_alias_in_the_requested_order():
    subset = get_sensor("sentinel-2-l1c").select(["B8A", "blue", "B3", "swir22"])
    assert subset.band_names == ["B8A", "B02", "B03", "B12"]
    assert subset.wavelengths == [0.865, 0.493, 0.56, 2.19]


def test_unknown_sensor_lists_the_known_ones():
    with pytest.raises(TrtbenchError, match="unknown sensor 'sentinel-3'") as err:
        get_sensor("sentinel-3")
    assert "sentinel-2-l2a" in str(err.value)


def test_unknown_band_names_the_sensor_and_its_bands():
    with pytest.raises(TrtbenchError, match="sensor 'hls-s30' has no band 'B99'"):
        get_sensor("hls-s30").select(["B02", "B99"])


def test_duplicate_band_is_rejected():
    with pytest.raises(TrtbenchError, match="selected twice: B02"):
        get_sensor("sentinel-2-l2a").select(["B02", "blue"])


def test_custom_wavelengths_make_a_usable_sensor():
    sensor = custom_sensor([0.48, 0.56, 0.65], gsd=30, mean=[1, 2, 3], std=[4, 5, 6], names=["b", "g", "r"])
    assert sensor.select(["r", "b"]).wavelengths == [0.65, 0.48]


def test_custom_wavelengths_in_nanometres_are_rejected_with_the_unit():
    with pytest.raises(TrtbenchError, match="µm"):
        custom_sensor([480, 560, 650], gsd=30)


def test_sensor_names_are_unique_and_lowercase():
    assert all(name == name.lower() for name in SENSORS)


# --- Sentinel-1 as each wavelength-conditioned family reads it -------------------------------------------------

@pytest.mark.parametrize("model, expected", [
    ("dofa_tiny", [5.405, 5.405]),             # DOFA's official SAR wavelength
    ("copernicus_fm_tiny", [5.0e4, 5.0e4]),    # Copernicus-FM: 5 cm, in µm
    ("clay_tiny", [3.5, 4.0]),                 # Clay was trained on the table's pseudo-wavelengths
])
def test_a_model_built_for_sentinel_1_records_its_own_family_s_radar_wavelengths(model, expected):
    from trtbench.models import create_model

    meta = create_model(model, sensor="sentinel-1-rtc").metadata
    assert meta.bands == ["VV", "VH"] and meta.wavelengths == expected
    stacked = create_model(model, sensor="sentinel-2-l1c+sentinel-1-rtc", bands=["B04", "VV"]).metadata
    assert stacked.wavelengths == [0.665, expected[0]]   # optical bands keep the table's values


def test_binding_sentinel_1_to_an_artifact_reads_it_as_the_artifact_s_family_does_unless_wavelengths_are_given():
    from trtbench.bands import bind_bands
    from trtbench.models import create_model

    dynamic = create_model("dofa_tiny").metadata.with_(band_mode="dynamic", wavelength_convention="dofa")
    assert bind_bands(dynamic, sensor="sentinel-1-rtc").wavelengths == [5.405, 5.405]
    assert bind_bands(dynamic, sensor="sentinel-1-rtc", wavelengths=[5.5, 5.5]).wavelengths == [5.5, 5.5]
    fixed = create_model("dofa_tiny", sensor="sentinel-1-rtc").metadata
    assert bind_bands(fixed, sensor="sentinel-1-rtc") == fixed   # its own bands: accepted, not refused
    clay = create_model("clay_tiny").metadata.with_(band_mode="dynamic", wavelength_convention="clay")
    assert bind_bands(clay, sensor="sentinel-1-rtc").wavelengths == [3.5, 4.0]
