"""``predict_scene`` on the real Landsat scenes: georeferencing, nodata, seams, small scenes, runners."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import rasterio
from predict_support import (
    DISPLAY_RGB,
    LANDSAT8,
    RECEPTIVE_RADIUS,
    conv_artifact,
    crop_scene,
    read_raster,
)
from rasterio.windows import Window

from trtbench.metadata import read_onnx_metadata
from trtbench.predict.plan import WindowPlan
from trtbench.predict.scene import PredictOptions, predict_scene
from trtbench.predict.seams import edge_disagreement, seam_ratio
from trtbench.preprocess import normalize


@pytest.fixture(scope="module")
def l8_segmenter(tmp_path_factory):
    """3-class ConvNet for Landsat 8 DN in B2, B3, B4 order, patch 8; DN 0 is fill."""
    return conv_artifact(tmp_path_factory.mktemp("a") / "l8_seg.onnx", LANDSAT8, nodata=0.0)


@pytest.fixture(scope="module")
def rgb_regressor(tmp_path_factory):
    """Regression ConvNet (patch 1) for display RGB: translation-equivariant, so tiling must not show."""
    return conv_artifact(tmp_path_factory.mktemp("a") / "rgb_reg.onnx", DISPLAY_RGB, task="regression", patch_size=1)


def test_landsat8_outputs_keep_the_scene_grid_and_fill_stays_nodata(landsat_scene, l8_segmenter, tmp_path):
    summary = predict_scene(l8_segmenter, landsat_scene, tmp_path, PredictOptions(tile=256, overlap=64, batch=8,
                                                                                  probabilities=True), progress=False)
    scene, src = read_raster(landsat_scene)
    fill = (scene == 0).any(axis=0)
    classes, cls_meta = read_raster(tmp_path / summary["outputs"]["class"])
    probs, prob_meta = read_raster(tmp_path / summary["outputs"]["probabilities"])
    for meta in (cls_meta, prob_meta):
        assert (meta["crs"], meta["transform"], meta["width"], meta["height"]) == \
               (src["crs"], src["transform"], src["width"], src["height"])
    assert fill.any() and not fill.all()
    np.testing.assert_array_equal(classes[0] == 255, fill)
    assert np.isnan(probs[:, fill]).all() and np.isfinite(probs[:, ~fill]).all()
    np.testing.assert_allclose(probs[:, ~fill].sum(axis=0), 1.0, atol=1e-5)
    assert summary["valid_pixels"] == int((~fill).sum())
    assert summary["km2"] == pytest.approx((~fill).sum() * 30 * 30 / 1e6, rel=1e-6)


def test_outputs_are_cloud_optimized_with_overviews(landsat_scene, l8_segmenter, tmp_path):
    from rio_cogeo.cogeo import cog_validate

    summary = predict_scene(l8_segmenter, landsat_scene, tmp_path, PredictOptions(tile=256, overlap=32),
                            progress=False)
    path = tmp_path / summary["outputs"]["class"]
    valid, errors, _ = cog_validate(path)
    assert valid, errors
    with rasterio.open(path) as ds:
        assert ds.overviews(1) and ds.profile["tiled"] and ds.compression is not None
    written = json.loads((tmp_path / f"{landsat_scene.stem}.json").read_text())
    assert written["artifact_sha256"] and written["seconds"]["infer"] > 0
    assert {p.name for p in tmp_path.iterdir()} == {path.name, f"{landsat_scene.stem}.json"}


def test_zstd_cog_holds_the_same_pixels_and_band_names_as_deflate(landsat_scene, l8_segmenter, tmp_path):
    from rio_cogeo.cogeo import cog_validate

    probs = {}
    for codec in ("deflate", "zstd"):
        summary = predict_scene(l8_segmenter, landsat_scene, tmp_path / codec,
                                PredictOptions(tile=256, overlap=32, probabilities=True, compress=codec), progress=False)
        path = tmp_path / codec / summary["outputs"]["probabilities"]
        assert cog_validate(path)[0]
        with rasterio.open(path) as ds:
            assert ds.compression.name == codec
            assert ds.descriptions == ("class_0", "class_1", "class_2")   # the artifact names no classes
            probs[codec] = ds.read()
    np.testing.assert_array_equal(probs["deflate"], probs["zstd"])


def test_landsat7_nodata_collar_stays_nodata(rgb_scene, rgb_regressor, tmp_path):
    summary = predict_scene(rgb_regressor, rgb_scene, tmp_path, PredictOptions(tile=128, overlap=32), progress=False)
    scene, _ = read_raster(rgb_scene)
    values, meta = read_raster(tmp_path / summary["outputs"]["regression"])
    collar = (scene == 0).any(axis=0)
    assert collar.sum() > 0.2 * collar.size          # the real collar is large
    np.testing.assert_array_equal(np.isnan(values[0]), collar)


@pytest.mark.parametrize("tile,overlap,batch", [(64, 16, 5), (96, 40, 3)])
def test_tiled_matches_whole_image_for_a_convolutional_model(rgb_scene, rgb_regressor, tmp_path, tile, overlap,
                                                             batch, record_property):
    summary = predict_scene(rgb_regressor, rgb_scene, tmp_path, PredictOptions(tile=tile, overlap=overlap,
                                                                               batch=batch), progress=False)
    tiled = read_raster(tmp_path / summary["outputs"]["regression"])[0][0]
    meta = read_onnx_metadata(rgb_regressor)
    with rasterio.open(rgb_scene) as ds:   # red, green, blue by colour interpretation; the model takes blue first
        x, mask = normalize(meta, ds.read()[::-1].astype(np.float32), ds.nodata)
    whole = ort.InferenceSession(str(rgb_regressor)).run(None, {"pixels": x[None]})[0][0, 0]
    whole[mask] = np.nan
    # The scene's own edge differs by design (reflect padding vs the model's zero padding).
    r = RECEPTIVE_RADIUS
    interior = np.zeros_like(mask)
    interior[r:-r, r:-r] = True
    plan = WindowPlan(*mask.shape, tile, overlap)
    report = edge_disagreement(tiled, whole, plan, valid=interior & ~mask)
    record_property("seam_metric", report)
    scale = np.nanmax(np.abs(whole))
    assert report["edges_max"] <= 1e-4 * scale and report["elsewhere_max"] <= 1e-4 * scale
    assert np.array_equal(np.isnan(tiled), mask)


def test_blending_removes_the_tile_lines_that_plain_tiling_shows(rgb_scene, rgb_regressor, tmp_path):
    ratios = {}
    for overlap in (0, 16):
        summary = predict_scene(rgb_regressor, rgb_scene, tmp_path / str(overlap),
                                PredictOptions(tile=64, overlap=overlap), progress=False)
        image = read_raster(tmp_path / str(overlap) / summary["outputs"]["regression"])[0]
        ratios[overlap] = seam_ratio(image, WindowPlan(*image.shape[1:], 64, overlap))
    assert ratios[0] > 1.5 > 1.1 > ratios[16]


def test_embedding_map_sits_on_the_patch_grid_of_the_scene(landsat_scene, tmp_path):
    from rasterio.transform import Affine

    embedder = conv_artifact(tmp_path / "embed.onnx", LANDSAT8, task="embedding", embed_dim=8, nodata=0.0)
    summary = predict_scene(embedder, landsat_scene, tmp_path / "out", PredictOptions(tile=128, overlap=32, batch=4),
                            progress=False)
    features, meta = read_raster(tmp_path / "out" / summary["outputs"]["embedding"])
    scene, src = read_raster(landsat_scene)
    assert features.shape == (8, 233, 256)                     # ceil(1860 / 8) x ceil(2041 / 8) cells
    assert (meta["crs"], meta["transform"]) == (src["crs"], src["transform"] @ Affine.scale(8))
    with rasterio.open(tmp_path / "out" / summary["outputs"]["embedding"]) as ds:
        assert ds.descriptions == tuple(f"feature_{i}" for i in range(8))
    fill = np.pad((scene == 0).any(axis=0), ((0, 233 * 8 - 1860), (0, 256 * 8 - 2041)), mode="reflect")
    empty = fill.reshape(233, 8, 256, 8).all(axis=(1, 3))    # a cell is nodata when all its pixels are
    assert empty.any() and not empty.all()
    np.testing.assert_array_equal(np.isnan(features).any(axis=0), empty)
    assert np.isfinite(features[:, ~empty]).all()
    assert (summary["output_width"], summary["output_height"]) == (256, 233)
    assert summary["valid_pixels"] == int((~empty).sum())
    assert summary["km2"] == pytest.approx((~empty).sum() * 240 * 240 / 1e6, rel=1e-6)


@pytest.mark.parametrize("tile,overlap", [(64, 32), (128, 64)])
def test_tiled_embedding_matches_whole_image_features(rgb_scene, tmp_path, tile, overlap):
    embedder = conv_artifact(tmp_path / "embed.onnx", DISPLAY_RGB, task="embedding", embed_dim=6)
    summary = predict_scene(embedder, rgb_scene, tmp_path / "out", PredictOptions(tile=tile, overlap=overlap, batch=3),
                            progress=False)
    tiled = read_raster(tmp_path / "out" / summary["outputs"]["embedding"])[0]
    meta = read_onnx_metadata(embedder)
    with rasterio.open(rgb_scene) as ds:   # red, green, blue by colour interpretation; the model takes blue first
        x, _ = normalize(meta, ds.read()[::-1].astype(np.float32), ds.nodata)
    rows, cols = tiled.shape[1:]
    x = np.pad(x, ((0, 0), (0, rows * 8 - x.shape[1]), (0, cols * 8 - x.shape[2])), mode="reflect")
    whole = ort.InferenceSession(str(embedder)).run(None, {"pixels": x[None]})[0][0]
    # Cells on the scene's edge differ by design (reflect padding vs the model's zero padding).
    interior = np.zeros((rows, cols), bool)
    interior[1:-1, 1:-1] = True
    compared = interior & np.isfinite(tiled).all(axis=0)
    assert compared.sum() > 0.5 * compared.size
    scale = np.abs(whole[:, compared]).max()
    assert np.abs(tiled[:, compared] - whole[:, compared]).max() <= 1e-4 * scale


def test_scene_smaller_than_one_tile(landsat_scene, l8_segmenter, tmp_path):
    small = crop_scene(landsat_scene, tmp_path / "small.tif", Window(900, 700, 41, 37))
    out = tmp_path / "out"
    summary = predict_scene(l8_segmenter, small, out, PredictOptions(tile=256, overlap=64), progress=False)
    classes, meta = read_raster(out / summary["outputs"]["class"])
    assert classes.shape == (1, 37, 41) and summary["tiles"] == 1
    assert meta["transform"] == read_raster(small)[1]["transform"]
    assert (classes < 3).all()


def test_bands_are_picked_by_name_from_a_reordered_file(landsat_scene, l8_segmenter, tmp_path):
    """A file in B4, B3, B2 order, mapped by name or by number, gives the same map as the original order."""
    window = Window(600, 500, 300, 260)
    original = crop_scene(landsat_scene, tmp_path / "orig.tif", window)
    data, meta = read_raster(original)
    flipped = tmp_path / "flipped.tif"
    with rasterio.open(original) as ds:
        profile = ds.profile
    with rasterio.open(flipped, "w", **profile) as out:
        out.write(data[::-1])
    maps = []
    for scene, bands in ((original, None), (flipped, ("B4", "B3", "B2")), (flipped, ("3", "2", "1"))):
        out = tmp_path / f"out{len(maps)}"
        summary = predict_scene(l8_segmenter, scene, out, PredictOptions(tile=128, overlap=32, data_bands=bands),
                                progress=False)
        maps.append(read_raster(out / summary["outputs"]["class"])[0])
    np.testing.assert_array_equal(maps[0], maps[1])
    np.testing.assert_array_equal(maps[0], maps[2])


def test_nan_pixels_are_masked_and_written_as_nodata(landsat_scene, l8_segmenter, tmp_path):
    """A float scene with a NaN hole (e.g. a cloud-masked product) and no declared nodata."""
    crop = crop_scene(landsat_scene, tmp_path / "crop.tif", Window(900, 700, 200, 180))
    data, _ = read_raster(crop)
    data = data.astype(np.float32)
    data[1, 40:90, 60:150] = np.nan
    with rasterio.open(crop) as ds:
        profile = ds.profile | {"dtype": "float32", "nodata": None}
    holed = tmp_path / "holed.tif"
    with rasterio.open(holed, "w", **profile) as out:
        out.write(data)
    summary = predict_scene(l8_segmenter, holed, tmp_path / "out", PredictOptions(tile=64, overlap=16),
                            progress=False)
    classes = read_raster(tmp_path / "out" / summary["outputs"]["class"])[0][0]
    expected = np.isnan(data).any(axis=0) | (data == 0).any(axis=0)     # NaN, and the artifact's nodata 0
    np.testing.assert_array_equal(classes == 255, expected)
