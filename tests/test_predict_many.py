"""Many scenes on a local Dask cluster: a corrupt scene is reported, the others complete."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner
from predict_support import LANDSAT8, conv_artifact, crop_scene, read_raster
from rasterio.windows import Window

from trtbench.cli import cli
from trtbench.errors import InputError
from trtbench.predict.many import expand_scenes


@pytest.fixture(scope="module")
def scenes(landsat_scene, tmp_path_factory):
    """Two real sub-scenes and a third whose pixel data is cut off (its header still reads)."""
    folder = tmp_path_factory.mktemp("scenes")
    crop_scene(landsat_scene, folder / "a.tif", Window(0, 0, 400, 300))
    crop_scene(landsat_scene, folder / "b.tif", Window(1200, 900, 300, 350))
    data = (folder / "b.tif").read_bytes()
    (folder / "c_corrupt.tif").write_bytes(data[: len(data) // 3])
    return folder


def test_corrupt_scene_among_three_is_reported_and_the_others_complete(scenes, tmp_path):
    artifact = conv_artifact(tmp_path / "m.onnx", LANDSAT8)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["predict", str(artifact), str(scenes / "*.tif"), "-o", str(out),
                                      "--tile", "128", "--overlap", "32", "--workers", "2", "--quiet"])
    assert result.exit_code == 1, result.output
    assert "c_corrupt.tif" in result.output and "FAILED" in result.output
    for name, window in (("a", (300, 400)), ("b", (350, 300))):
        classes, meta = read_raster(out / f"{name}.class.tif")
        assert (meta["height"], meta["width"]) == window
        assert (out / f"{name}.json").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["a.class.tif", "a.json", "b.class.tif", "b.json"]


def test_globs_expand_in_order_and_clashing_names_are_refused(scenes, tmp_path):
    assert [p.name for p in expand_scenes([str(scenes / "*.tif")])] == ["a.tif", "b.tif", "c_corrupt.tif"]
    (tmp_path / "other").mkdir()
    shutil.copy(scenes / "a.tif", tmp_path / "other" / "a.tif")
    with pytest.raises(InputError, match="named a"):
        expand_scenes([str(scenes / "a.tif"), str(tmp_path / "other" / "a.tif")])
    with pytest.raises(InputError, match="no file matches"):
        expand_scenes([str(tmp_path / "nothing*.tif")])
