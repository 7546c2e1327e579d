"""The same scene mapped through every runner available here gives the same map (Clay tiny artifact)."""

from __future__ import annotations

import numpy as np
import pytest
from predict_support import crop_scene, read_raster
from rasterio.windows import Window

from trtbench.backends import backend_unavailable_reason
from trtbench.predict.scene import PredictOptions, predict_scene


@pytest.fixture(scope="module")
def clay_landsat(tmp_path_factory):
    """clay_tiny + FCN head, 3 classes, Landsat C2 L1 bands B2, B3, B4 (the real scene's order), seeded."""
    from trtbench.export import export_onnx
    from trtbench.models import create_model

    model = create_model("clay_tiny", sensor="landsat-c2l1", bands=["B2", "B3", "B4"], task="segmentation",
                         head="fcn", num_classes=3, seed=0, input_size=64)
    return export_onnx(model, tmp_path_factory.mktemp("a") / "clay_l8.onnx")


@pytest.fixture(scope="module")
def scene(landsat_scene, tmp_path_factory):
    return crop_scene(landsat_scene, tmp_path_factory.mktemp("s") / "crop.tif", Window(700, 600, 150, 130))


@pytest.fixture(scope="module")
def onnxruntime_map(clay_landsat, scene, tmp_path_factory):
    out = tmp_path_factory.mktemp("ort")
    summary = predict_scene(clay_landsat, scene, out, PredictOptions(tile=64, overlap=16, batch=4,
                                                                     probabilities=True), progress=False)
    return read_raster(out / summary["outputs"]["probabilities"])[0]


@pytest.mark.parametrize("backend", [
    pytest.param(name, marks=pytest.mark.skipif(bool(backend_unavailable_reason(name)),
                                                reason=str(backend_unavailable_reason(name))))
    for name in ("torch", "openvino", "tensorrt")])
def test_runners_agree_with_onnxruntime(backend, clay_landsat, scene, onnxruntime_map, tmp_path):
    summary = predict_scene(clay_landsat, scene, tmp_path, PredictOptions(tile=64, overlap=16, batch=4, backend=backend,
                                                                          probabilities=True), progress=False)
    probs = read_raster(tmp_path / summary["outputs"]["probabilities"])[0]
    assert summary["backend"]["backend"].startswith(backend.split("-")[0])
    assert probs.shape == onnxruntime_map.shape == (3, 130, 150)
    assert np.abs(probs - onnxruntime_map).max() <= 1e-3
    classes = read_raster(tmp_path / summary["outputs"]["class"])[0][0]
    assert (classes == onnxruntime_map.argmax(axis=0)).mean() > 0.99


def test_band_agnostic_artifact_maps_the_scene_like_the_fixed_band_export(clay_landsat, scene, onnxruntime_map,
                                                                         tmp_path):
    from trtbench.export.dynamic_bands import export_band_agnostic
    from trtbench.models import create_model

    # Same seed and head as clay_landsat, exported band-agnostic; the bands are chosen at run time.
    model = create_model("clay_tiny", sensor="landsat-c2l1", bands=["B2", "B3", "B4"], task="segmentation",
                         head="fcn", num_classes=3, seed=0, input_size=64)
    any_bands = export_band_agnostic(model, tmp_path / "clay_any.onnx")
    options = PredictOptions(tile=64, overlap=16, batch=4, probabilities=True, sensor="landsat-c2l1",
                             bands=("B2", "B3", "B4"))
    summary = predict_scene(any_bands, scene, tmp_path / "out", options, progress=False)
    probabilities = read_raster(tmp_path / "out" / summary["outputs"]["probabilities"])[0]
    valid = ~np.isnan(onnxruntime_map)
    assert np.array_equal(valid, ~np.isnan(probabilities))
    assert np.abs(probabilities[valid] - onnxruntime_map[valid]).max() <= 1e-4


def test_clay_embedding_artifact_maps_its_features_on_the_patch_grid(scene, tmp_path):
    from trtbench.export import export_onnx
    from trtbench.models import create_model

    model = create_model("clay_tiny", sensor="landsat-c2l1", bands=["B2", "B3", "B4"], seed=0, input_size=64)
    artifact = export_onnx(model, tmp_path / "clay_embed.onnx")
    maps = {}
    for backend in ("onnxruntime", "torch"):
        summary = predict_scene(artifact, scene, tmp_path / backend, PredictOptions(tile=64, overlap=32, batch=4,
                                                                                    backend=backend), progress=False)
        maps[backend] = read_raster(tmp_path / backend / summary["outputs"]["embedding"])[0]
    assert maps["onnxruntime"].shape == (192, 17, 19)      # Clay tiny's width; ceil(130 / 8) x ceil(150 / 8) cells
    assert np.isfinite(maps["onnxruntime"]).all()
    scale = np.abs(maps["torch"]).max()
    assert np.abs(maps["onnxruntime"] - maps["torch"]).max() <= 1e-4 * scale
