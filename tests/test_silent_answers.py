"""No silent wrong answers: band order, eval coverage, labels, bench backends and tolerance, empty scenes,
and where training weights come from. Every case runs on the real data in ../shared/data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from cli_helpers import run_cli
from predict_support import LANDSAT8, conv_artifact, crop_scene
from rasterio.windows import Window

from trtbench.evaluate import chip_tiles
from trtbench.export import export_onnx
from trtbench.metadata import read_onnx_metadata
from trtbench.models import create_model
from trtbench.parity import DEFAULT_TOLERANCE
from trtbench.raster import ASSUMED_ORDER, FROM_COLOURS, read_chip

BGR = ["B02", "B03", "B04"]   # blue, green, red: the order of Sentinel-2 and Landsat band numbers


@pytest.fixture(scope="module")
def bgr_segmenter(tmp_path_factory) -> str:
    """clay_tiny + FCN head, 2 classes, on Sentinel-2 L2A B02, B03, B04 (blue, green, red), 64-pixel tiles."""
    model = create_model("clay_tiny", sensor="sentinel-2-l2a", bands=BGR, task="segmentation", head="fcn",
                         num_classes=2, seed=0, input_size=64)
    return str(export_onnx(model, tmp_path_factory.mktemp("bgr") / "bgr_seg.onnx"))


@pytest.fixture(scope="module")
def unnamed_chip(tmp_path_factory, landsat_scene) -> str:
    """64x64 of the real Landsat 8 scene (B2, B3, B4 DN): its bands have no description or colour interpretation."""
    return str(crop_scene(landsat_scene, tmp_path_factory.mktemp("l8") / "l8_chip.tif", Window(900, 700, 64, 64)))


def crop(src, dst, size: int, dtype=None, edit=None):
    """The top-left ``size`` x ``size`` of a real GeoTIFF (optionally converted and edited), header kept."""
    with rasterio.open(src) as ds:
        data = ds.read(window=Window(0, 0, size, size))
        profile = ds.profile | {"height": size, "width": size, "transform": ds.window_transform(Window(0, 0, size, size))}
        descriptions = ds.descriptions
    if dtype:
        data, profile["dtype"] = data.astype(dtype), dtype
    if edit:
        edit(data)
    profile.pop("blockxsize", None), profile.pop("blockysize", None), profile.update(tiled=False)
    with rasterio.open(dst, "w", **profile) as out:
        out.write(data)
        out.descriptions = descriptions
    return dst


# --- 1. band order ---------------------------------------------------------------------------------------

def test_colour_interpretation_reverses_rgb_byte_for_a_blue_green_red_model(rgb_scene, bgr_segmenter):
    meta = read_onnx_metadata(bgr_segmenter)
    chip = read_chip(rgb_scene)
    match = chip.match(meta)
    assert chip.colours == ("red", "green", "blue") and match.source == FROM_COLOURS and match.warning is None
    np.testing.assert_array_equal(chip.pixels[match.indices], chip.pixels[::-1])
    # ... and what eval feeds the model is the file's bands reversed, normalised.
    tiles = chip_tiles(meta, rgb_scene, 64, None).tiles
    expected = (chip.pixels[::-1, :64, :64] - np.array(meta.mean)[:, None, None]) / np.array(meta.std)[:, None, None]
    valid = ~tiles[0].mask
    np.testing.assert_allclose(tiles[0].pixels[:, valid], expected[:, valid], rtol=1e-5)


def test_unnamed_bands_are_assumed_with_a_warning_recorded_in_every_eval_report(
        capsys, tmp_path, bgr_segmenter, unnamed_chip):
    report, markdown = tmp_path / "eval.json", tmp_path / "eval.md"
    result = run_cli(capsys, "eval", "--engine", bgr_segmenter, "--data", unnamed_chip, "--json", report,
                     "--markdown", markdown)
    assert result.code == 0, result.err
    assert "warning:" in result.err and "l8_chip.tif does not name its bands" in result.err
    assert json.loads(report.read_text())["band_match"] == ASSUMED_ORDER
    assert ASSUMED_ORDER in markdown.read_text() and ASSUMED_ORDER in result.out


def test_strict_bands_refuses_unnamed_bands_before_any_output(capsys, tmp_path, bgr_segmenter, unnamed_chip):
    report = tmp_path / "eval.json"
    result = run_cli(capsys, "eval", "--engine", bgr_segmenter, "--data", unnamed_chip, "--strict-bands",
                     "--json", report)
    assert result.code == 2 and "Traceback" not in result.err
    assert "error: " in result.err and "l8_chip.tif" in result.err and "fix: pass --data-bands" in result.err
    assert not report.exists()
    named = run_cli(capsys, "eval", "--engine", bgr_segmenter, "--data", unnamed_chip, "--strict-bands",
                    "--data-bands", "B02,B03,B04")
    assert named.code == 0 and "warning" not in named.err


def test_predict_records_the_band_match_and_strict_bands_refuses(capsys, tmp_path, unnamed_chip, rgb_scene):
    artifact = conv_artifact(tmp_path / "l8.onnx", LANDSAT8)
    out = tmp_path / "out"
    result = run_cli(capsys, "predict", artifact, unnamed_chip, "-o", out, "--tile", "64", "--quiet")
    assert result.code == 0, result.err
    assert "does not name its bands" in result.err
    assert json.loads((out / "l8_chip.json").read_text())["band_match"] == ASSUMED_ORDER
    refused = run_cli(capsys, "predict", artifact, unnamed_chip, "-o", tmp_path / "strict", "--strict-bands", "--quiet")
    assert refused.code == 2 and "l8_chip.tif does not name its bands" in refused.err


# --- 2. eval covers every pixel ---------------------------------------------------------------------------

def test_eval_of_a_250_pixel_chip_on_a_patch_8_model_covers_all_62500_pixels(
        capsys, tmp_path, tiny_water_onnx, s2_chip, water_label):
    chip = crop(s2_chip, tmp_path / "chip.tif", 250)
    label = crop(water_label, tmp_path / "label.tif", 250)
    report = tmp_path / "eval.json"
    result = run_cli(capsys, "eval", "--engine", tiny_water_onnx, "--data", chip, "--labels", label, "--json", report)
    assert result.code == 0, result.err
    data = json.loads(report.read_text())
    with rasterio.open(label) as ds:
        labelled = int((ds.read(1) != -1).sum())
    coverage = data["coverage"]
    assert data["tile_size"] == 128 and read_onnx_metadata(tiny_water_onnx).patch_size == 8
    assert coverage["pixels"] == coverage["evaluated"] == 250 * 250
    # Every labelled pixel reached the metrics exactly once, although the edge tiles overlap.
    assert coverage["labelled"] == coverage["labelled_evaluated"] == labelled and coverage["fraction"] == 1.0
    assert f"covering {labelled:,} of {labelled:,} labelled pixels (100.0%)" in result.out


# --- 3. labels --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype,value,named", [("int16", 3, "3"), ("int16", 255, "255"), ("float32", 0.5, "0.5")])
def test_labels_outside_the_classes_or_not_whole_are_refused_naming_the_values(
        capsys, tmp_path, tiny_water_onnx, s2_chip, water_label, dtype, value, named):
    def stray(data):
        data[0, 10:20, 10:20] = value

    chip = crop(s2_chip, tmp_path / "chip.tif", 128)
    label = crop(water_label, tmp_path / "label.tif", 128, dtype=dtype, edit=stray)
    result = run_cli(capsys, "eval", "--engine", tiny_water_onnx, "--data", chip, "--labels", label)
    assert result.code == 2 and "Traceback" not in result.err
    error = result.err.splitlines()[0]
    assert error.startswith("error: label") and "label.tif" in error and error.endswith(f": {named}")
    assert "fix: " in result.err


def test_float_labels_holding_whole_class_numbers_are_accepted(capsys, tmp_path, tiny_water_onnx, s2_chip,
                                                              water_label):
    chip = crop(s2_chip, tmp_path / "chip.tif", 128)
    label = crop(water_label, tmp_path / "label.tif", 128, dtype="float32")
    result = run_cli(capsys, "eval", "--engine", tiny_water_onnx, "--data", chip, "--labels", label)
    assert result.code == 0, result.err


# --- 4 and 6. bench: unknown backends, one tolerance rule -------------------------------------------------

def test_bench_refuses_an_unknown_backend_before_any_work(capsys, tmp_path, tiny_embedding_onnx, s2_chip):
    report = tmp_path / "bench.json"
    result = run_cli(capsys, "bench", tiny_embedding_onnx, "--data", s2_chip, "--backends", "onnxruntime,foo",
                     "--json", report)
    assert result.code == 2 and "error: unknown backend(s): foo" in result.err and "fix: use any of:" in result.err
    assert result.out == "" and not report.exists()


def test_bench_judges_an_fp16_artifact_by_the_fp16_tolerance_as_eval_does(capsys, tmp_path, tiny_embedding_onnx,
                                                                          s2_chip):
    from trtbench.export.precision import convert_fp16

    fp16 = convert_fp16(tiny_embedding_onnx, tmp_path / "tiny_fp16.onnx")
    bench_json, eval_json = tmp_path / "bench.json", tmp_path / "eval.json"
    result = run_cli(capsys, "bench", fp16, "--data", s2_chip, "--size", "64", "--batch", "1", "--backends",
                     "onnxruntime", "--min-time", "0", "--min-iters", "1", "--warmup", "0", "--json", bench_json)
    assert result.code == 0, result.out + result.err
    bench = json.loads(bench_json.read_text())
    backend = bench["backends"][0]
    assert bench["tolerance"] == DEFAULT_TOLERANCE["fp16"] and backend["status"] == "ok" and backend["timings"]
    # The premise: fp16 rounding is beyond the fp32 rule, which used to fail every fp16 artifact.
    assert max(p["rel_max"] for p in backend["parity"]) > DEFAULT_TOLERANCE["fp32"]
    assert bench["band_match"] == "band descriptions"
    evaluated = run_cli(capsys, "eval", "--engine", fp16, "--data", s2_chip, "--tile", "64", "--json", eval_json)
    assert evaluated.code == 0 and json.loads(eval_json.read_text())["tolerance"] == bench["tolerance"]


# --- 5. an all-NaN scene ----------------------------------------------------------------------------------

def test_predict_of_an_all_nan_scene_says_so(capsys, tmp_path, landsat_scene):
    def clouds(data):
        data[:] = np.nan   # e.g. a cloud-masked product over a fully clouded area

    scene = crop(landsat_scene, tmp_path / "clouds.tif", 96, dtype="float32", edit=clouds)
    artifact = conv_artifact(tmp_path / "l8.onnx", LANDSAT8)
    result = run_cli(capsys, "predict", artifact, scene, "-o", tmp_path / "out", "--tile", "64", "--data-bands",
                     "B2,B3,B4", "--quiet")
    assert result.code == 0, result.err
    assert "warning: " in result.err and "clouds.tif holds no valid pixel" in result.err
    summary = json.loads((tmp_path / "out" / "clouds.json").read_text())
    assert summary["all_nodata"] is True and summary["valid_pixels"] == 0 and summary["warnings"]


def test_predict_of_a_real_scene_has_no_empty_warning(capsys, tmp_path, unnamed_chip):
    artifact = conv_artifact(tmp_path / "l8.onnx", LANDSAT8)
    result = run_cli(capsys, "predict", artifact, unnamed_chip, "-o", tmp_path / "out", "--tile", "64",
                     "--data-bands", "B2,B3,B4", "--quiet")
    assert result.code == 0 and "warning" not in result.err
    summary = json.loads((tmp_path / "out" / "l8_chip.json").read_text())
    assert summary["all_nodata"] is False and summary["warnings"] == [] and summary["band_match"] == "--data-bands"


# --- 7. training a foundation model says where its weights come from --------------------------------------

def test_train_clay_without_a_checkpoint_asks_for_random_init(capsys, tmp_path, data_dir):
    out = tmp_path / "run"
    result = run_cli(capsys, "train", "clay", "--variant", "tiny", "--dataset", "chips", "--data-root",
                     data_dir / "sen1floods11", "--epochs", "1", "-o", out)
    assert result.code == 2 and "encoder weights" in result.err and "--random-init" in result.err
    assert not out.exists()


def test_flops_needs_no_weights(capsys):
    result = run_cli(capsys, "flops", "clay", "--variant", "tiny", "--size", "64", "--no-cross-check")
    assert result.code == 0, result.err
    assert "GMAC per image" in result.out


def test_eval_of_chips_of_different_sizes_covers_both_in_one_run(capsys, tmp_path, tiny_embedding_onnx, s2_chip,
                                                                 hls_chip):
    small = crop(s2_chip, tmp_path / "small.tif", 128)
    report = tmp_path / "eval.json"
    result = run_cli(capsys, "eval", "--engine", tiny_embedding_onnx, "--data", small, "--data", hls_chip,
                     "--batch-size", "8", "--json", report)
    assert result.code == 0, result.err
    data = json.loads(report.read_text())
    assert data["tiles"] == 2 and data["coverage"]["evaluated"] == data["coverage"]["pixels"] == 128 ** 2 + 224 ** 2
    assert data["band_match"] == ASSUMED_ORDER   # the HLS chip names no band
