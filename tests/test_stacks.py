"""Time series and multi-modal inputs (issue 14): several GeoTIFFs read as one input by eval, predict and bench.

Real data: the series are dated copies of the HLS chip (6 of its bands, named as Prithvi's HLS bands; the second
date scaled by 1.05 so the frames differ), the modalities Sen1Floods11's S2 and S1 files of one chip. Artifacts
are the tiny Prithvi-EO-2.0 TL (T = 2) and a tiny ViT on `sentinel-2-l1c+sentinel-1-rtc` (modalities recorded).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from cli_helpers import run_cli
from rasterio.transform import Affine

from trtbench.acquisition import Acquisition, date_in_tags, date_in_text, parse_dates
from trtbench.bands import model_feed
from trtbench.bench import make_feeds
from trtbench.errors import InputError
from trtbench.metadata import ModelMetadata
from trtbench.raster import ASSUMED_ORDER, read_chip
from trtbench.sensors import get_sensor
from trtbench.stacks import read_input, stack_inputs

HLS_BANDS = ["B02", "B03", "B04", "B8A", "B11", "B12"]
DATES = ("2020-06-01", "2020-07-01")
HLS_NAMES = ("HLS.S30.T14RNV.2020153T170000.v2.0.tif", "HLS.S30.T14RNV.2020183T170000.v2.0.tif")


def hls_meta(frames: int = 2, inputs: tuple[str, ...] = ("pixels",)) -> ModelMetadata:
    table = get_sensor("hls-s30").select(HLS_BANDS)
    return ModelMetadata("test", "test", "tiny", table.name, table.band_names, table.wavelengths, table.mean,
                         table.std, table.gsd, 16, 224, num_frames=frames, inputs=list(inputs))


def s2_s1_meta() -> ModelMetadata:
    table = get_sensor("sentinel-2-l1c+sentinel-1-rtc")
    s2 = get_sensor("sentinel-2-l1c").band_names
    return ModelMetadata("test", "test", "tiny", table.name, table.band_names, table.wavelengths, table.mean,
                         table.std, table.gsd, 16, 224,
                         modalities={"sentinel-2-l1c": s2, "sentinel-1-rtc": ["VV", "VH"]})


def write_frame(path: Path, pixels: np.ndarray, profile: dict, names=HLS_BANDS, tags: dict | None = None) -> Path:
    with rasterio.open(path, "w", **(profile | {"count": pixels.shape[0]})) as out:
        out.write(pixels)
        out.descriptions = tuple(names)
        if tags:
            out.update_tags(**tags)
    return path


@pytest.fixture(scope="module")
def hls_frames(hls_chip: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], np.ndarray, dict]:
    """Two dated copies of the HLS chip's first 6 bands (HLS names carry the dates); their raw pixels [2, 6, H, W]."""
    folder = tmp_path_factory.mktemp("series")
    with rasterio.open(hls_chip) as ds:
        profile, first = ds.profile, ds.read()[:6]
    frames = np.stack([first, np.where(first == -9999, first, first * 1.05).astype(np.float32)])
    paths = [write_frame(folder / name, frames[t], profile) for t, name in enumerate(HLS_NAMES)]
    return paths, frames, profile


@pytest.fixture(scope="module")
def tl_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trtbench.export import export_onnx
    from trtbench.models import create_model

    path = tmp_path_factory.mktemp("tl") / "prithvi_tl_t2.onnx"
    return export_onnx(create_model("prithvi_eo_v2_tiny_tl", sensor="hls-s30", bands=HLS_BANDS, num_frames=2,
                                    seed=0), path)


@pytest.fixture(scope="module")
def modal_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trtbench.export import export_onnx
    from trtbench.models import create_model

    path = tmp_path_factory.mktemp("mm") / "vit_s2_s1.onnx"
    return export_onnx(create_model("vit_tiny", sensor="sentinel-2-l1c+sentinel-1-rtc", seed=0), path)


def read_stacked(meta: ModelMetadata, path: str, **kwargs):
    chip = read_chip(path)
    view = read_input(meta, chip.pixels.shape[0], chip.descriptions, chip.colours, chip.tags,
                      (chip.crs, chip.transform, chip.pixels.shape[-1], chip.pixels.shape[-2]), path=path, **kwargs)
    return chip, view


# --- dates and locations -------------------------------------------------------------------------------------

def test_dates_come_from_iso_compact_and_hls_names_tags_and_the_option():
    assert date_in_text("S2_2020-06-01_tile.tif") == date(2020, 6, 1)
    assert date_in_text("S2_20200601_tile.tif") == date(2020, 6, 1)
    assert date_in_text("HLS.S30.T10TGS.2018285T185559.v2.0.tif") == date(2018, 10, 12)   # day 285 of 2018
    assert date_in_text("Spain_7370579_S2Hand.tif") is None     # 7 digits that are no date
    assert date_in_tags({"TIFFTAG_DATETIME": "2021:03:04 10:11:12"}) == date(2021, 3, 4)
    assert date_in_tags({"ACQUISITIONDATETIME": "2021-03-05T10:11:12Z"}) == date(2021, 3, 5)
    assert parse_dates("2020-06-01,20200701,2020214") == (date(2020, 6, 1), date(2020, 7, 1), date(2020, 8, 1))
    with pytest.raises(InputError, match="not a date"):
        parse_dates("2020-13-01")


def test_feed_carries_year_and_one_based_day_of_year_and_lat_lon():
    meta = hls_meta(inputs=("pixels", "temporal_coords", "location_coords"))
    pixels = np.zeros((2, meta.channels, 16, 16), np.float32)
    feed = model_feed(meta, pixels, Acquisition((date(2020, 1, 1), date(2020, 12, 31)), (28.5, -99.6)))
    assert feed["temporal_coords"].shape == (2, 2, 2)
    np.testing.assert_array_equal(feed["temporal_coords"][1], [[2020, 1], [2020, 366]])
    np.testing.assert_array_equal(feed["location_coords"], np.float32([[28.5, -99.6]] * 2))
    with pytest.raises(InputError, match="temporal_coords"):
        model_feed(meta, pixels)
    with pytest.raises(InputError, match="12 channels"):
        model_feed(meta, pixels[:, :6])


# --- stacking ------------------------------------------------------------------------------------------------

def test_series_of_files_is_read_frame_major_with_each_files_bands_matched(hls_frames, tmp_path: Path):
    paths, frames, profile = hls_frames
    # The second date's file lists its bands in reverse: matching is per file, by its own descriptions.
    reversed_path = write_frame(tmp_path / HLS_NAMES[1], frames[1][::-1], profile, HLS_BANDS[::-1])
    meta = hls_meta()
    [vrt] = stack_inputs(meta, [f"{paths[0]},{reversed_path}"], tmp_path / "stacks")
    chip, view = read_stacked(meta, vrt)
    expected = np.where(frames == -9999, np.nan, frames).reshape(12, *frames.shape[-2:])
    np.testing.assert_array_equal(chip.pixels[view.match.indices], expected)
    assert view.acquisition.dates == (date(2020, 6, 1), date(2020, 7, 1))
    with rasterio.open(paths[0]) as ds:
        lon, lat = ds.lnglat()   # rasterio's own centre in EPSG:4326 (longitude first)
    assert view.acquisition.latlon == pytest.approx((lat, lon), abs=1e-9)
    assert view.match.source == "band descriptions" and view.match.warning is None
    option = parse_dates("2015-01-01,2015-02-01")   # --dates wins over the dates in the names
    [vrt] = stack_inputs(meta, [f"{paths[0]},{reversed_path}"], tmp_path / "dated", option)
    assert read_stacked(meta, vrt)[1].acquisition.dates == option


def test_bench_random_input_has_every_frame_and_synthetic_dates_for_a_tl_artifact():
    meta = hls_meta(inputs=("pixels", "temporal_coords", "location_coords"))
    small, large = make_feeds(meta, [1, 2], 32)
    assert large["pixels"].shape == (2, 12, 32, 32) and large["temporal_coords"].shape == (2, 2, 2)
    assert large["location_coords"].shape == (2, 2) and small["pixels"].shape == (1, 12, 32, 32)


def test_multi_date_stack_described_band_at_date_or_assumed_frame_major(hls_frames, tmp_path: Path):
    paths, frames, profile = hls_frames
    meta = hls_meta()
    later_first = np.concatenate([frames[1], frames[0]])
    described = write_frame(tmp_path / "described.tif", later_first, profile,
                            [f"{b}@{DATES[1]}" for b in HLS_BANDS] + [f"{b}@{DATES[0]}" for b in HLS_BANDS])
    _, view = read_stacked(meta, str(described))
    assert view.match.indices == list(range(6)) + list(range(6, 12))   # frames in the file's date order
    assert view.acquisition.dates == (date(2020, 7, 1), date(2020, 6, 1))
    plain = write_frame(tmp_path / "plain.tif", np.concatenate(list(frames)), profile, [None] * 12)
    _, view = read_stacked(meta, str(plain), dates=parse_dates(",".join(DATES)))
    assert view.match.source == ASSUMED_ORDER and "frame-major" in view.match.warning
    assert view.acquisition.dates == (date(2020, 6, 1), date(2020, 7, 1))
    with pytest.raises(InputError, match="strict-bands"):
        read_stacked(meta, str(plain), strict=True)


def test_s2_and_s1_files_are_stacked_as_the_models_modalities(s2_chip: Path, s1_chip: Path, tmp_path: Path):
    meta = s2_s1_meta()
    [vrt] = stack_inputs(meta, [f"s1={s1_chip}", f"s2={s2_chip}"], tmp_path)   # any order, short aliases
    chip, view = read_stacked(meta, vrt)
    with rasterio.open(s2_chip) as s2, rasterio.open(s1_chip) as s1:
        optical = s2.read().astype(np.float32)
        expected = np.concatenate([np.where(optical == s2.nodata, np.nan, optical), s1.read()])
    np.testing.assert_array_equal(chip.pixels[view.match.indices], expected)
    assert np.isnan(chip.nodata)


def test_int8_calibration_feeds_each_chips_dates_and_location(hls_frames, tmp_path: Path):
    from trtbench.export.precision import ChipCalibrationReader, calibration_samples

    paths, frames, profile = hls_frames
    stack = write_frame(tmp_path / "stack.tif", np.concatenate(list(frames)), profile,
                        [f"{b}@{d}" for d in DATES for b in HLS_BANDS])
    meta = hls_meta(inputs=("pixels", "temporal_coords", "location_coords"))
    chips = calibration_samples(meta, [stack], samples=1, tile=112)
    feed = ChipCalibrationReader(meta, [p for p, _ in chips], [a for _, a in chips]).get_next()
    np.testing.assert_array_equal(feed["temporal_coords"][0], [[2020, 153], [2020, 183]])   # 2020 is a leap year
    assert feed["pixels"].shape == (1, 12, 112, 112) and feed["location_coords"].shape == (1, 2)


# --- mistakes: exit 2 with the file named --------------------------------------------------------------------

def test_mistakes_in_a_series_or_modality_set_exit_2(capsys, hls_frames, tl_onnx: Path, modal_onnx: Path,
                                                     s2_chip: Path, s1_chip: Path, tmp_path: Path):
    paths, frames, profile = hls_frames
    shifted = write_frame(tmp_path / "shifted_2020-08-01.tif", frames[1],
                          profile | {"transform": profile["transform"] * Affine.translation(1, 0)})
    undated = write_frame(tmp_path / "undated.tif", frames[1], profile)
    cases = [
        ([f"{paths[0]},{shifted}"], "shifted_2020-08-01.tif is not on the grid"),
        ([f"{paths[0]},{undated}"], "no acquisition date for"),
        ([f"{paths[0]},{paths[1]},{shifted}"], "3 files"),
        ([str(paths[0])], "holds one date"),
    ]
    for data, problem in cases:
        result = run_cli(capsys, "eval", "--engine", tl_onnx, *(f"--data={d}" for d in data))
        assert result.code == 2 and problem in result.err and "fix:" in result.err, result.err
        assert "Traceback" not in result.err
    out = tmp_path / "maps"   # predict: the first scene's stack is written, the second refused: nothing stays
    result = run_cli(capsys, "predict", tl_onnx, f"{paths[0]},{paths[1]}", f"{paths[0]},{shifted}", "-o", out)
    assert result.code == 2 and "not on the grid" in result.err and not out.exists()
    result = run_cli(capsys, "eval", "--engine", tl_onnx, f"--data={paths[0]},{paths[1]}", "--dates", "2020-06-01")
    assert result.code == 2 and "1 date(s) for 2 files" in result.err
    result = run_cli(capsys, "eval", "--engine", modal_onnx, f"--data=s2={s2_chip}")
    assert result.code == 2 and "no file for modality sentinel-1-rtc" in result.err
    result = run_cli(capsys, "eval", "--engine", modal_onnx, f"--data=s2={s2_chip}", f"--data=s3={s1_chip}")
    assert result.code == 2 and "modality 's3'" in result.err


# --- end to end ----------------------------------------------------------------------------------------------

def test_eval_predict_and_bench_run_a_dated_series_through_a_tl_artifact(capsys, hls_frames, tl_onnx: Path,
                                                                         tmp_path: Path):
    paths, _, _ = hls_frames
    series = f"{paths[0]},{paths[1]}"
    result = run_cli(capsys, "eval", "--engine", tl_onnx, f"--data={series}", "--json", tmp_path / "eval.json")
    assert result.code == 0, result.err
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["passed"] and report["acquisitions"][0]["dates"] == list(DATES)
    result = run_cli(capsys, "predict", tl_onnx, series, "-o", tmp_path / "maps", "--tile", "112", "--quiet")
    assert result.code == 0, result.err
    [summary] = [json.loads(p.read_text()) for p in (tmp_path / "maps").glob("*.json")]
    assert summary["acquisition"]["dates"] == list(DATES) and summary["band_match"] == "band descriptions"
    result = run_cli(capsys, "bench", tl_onnx, "--backends", "onnxruntime", "--batch", "1", "--size", "112",
                     "--warmup", "0", "--min-iters", "1", "--min-time", "0", f"--data={series}")
    assert result.code == 0, result.err


def test_eval_matches_s2_and_s1_files_to_a_multi_modal_artifact(capsys, modal_onnx: Path, s2_chip: Path,
                                                                s1_chip: Path, tmp_path: Path):
    result = run_cli(capsys, "eval", "--engine", modal_onnx, f"--data=s2={s2_chip}", f"--data=s1={s1_chip}",
                     "--tile", "224", "--json", tmp_path / "eval.json")
    assert result.code == 0, result.err
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["passed"] and report["band_match"] == "band descriptions"
    assert report["coverage"]["evaluated"] == report["coverage"]["pixels"] == 512 * 512
