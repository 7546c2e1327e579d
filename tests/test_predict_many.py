"""Many scenes on a local Dask cluster: a corrupt scene is reported on one clean line, the others complete."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import run_cli
from predict_support import LANDSAT8, conv_artifact, crop_scene, read_raster
from rasterio.windows import Window

from trtbench.cli_options import EXIT_PARTIAL, EXIT_USER_MISTAKE
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


def test_corrupt_scene_among_three_is_reported_and_the_others_complete(scenes, tmp_path, capfd):
    artifact = conv_artifact(tmp_path / "m.onnx", LANDSAT8)
    out = tmp_path / "out"
    # capfd, not capsys: the Dask workers are other processes writing to the same stderr.
    result = run_cli(capfd, "predict", artifact, scenes / "*.tif", "-o", out, "--tile", "128", "--overlap", "32",
                     "--workers", "2", "--quiet", "--data-bands", "B2,B3,B4", "--json", tmp_path / "run.json")
    assert result.code == EXIT_PARTIAL, result.err
    failed = [line for line in result.err.splitlines() if "c_corrupt.tif" in line]
    assert len(failed) == 1 and failed[0].startswith(f"FAILED {scenes / 'c_corrupt.tif'}: ")
    assert "(fix: " in failed[0] and "InputError" not in failed[0] and "\\n" not in failed[0]
    assert "Traceback" not in result.err and "distributed." not in result.err   # no worker logs
    assert "2 of 3 scenes done, 1 failed" in result.err
    record = json.loads((tmp_path / "run.json").read_text())
    assert sorted(Path(s).name for s in record["done"]) == ["a.tif", "b.tif"]
    assert [Path(s).name for s in record["failed"]] == ["c_corrupt.tif"]
    assert record["failed"][str(scenes / "c_corrupt.tif")]["fix"]
    for name, window in (("a", (300, 400)), ("b", (350, 300))):
        classes, meta = read_raster(out / f"{name}.class.tif")
        assert (meta["height"], meta["width"]) == window
        assert (out / f"{name}.json").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["a.class.tif", "a.json", "b.class.tif", "b.json"]


def test_every_scene_failing_is_a_user_mistake_and_leaves_no_folder(scenes, tmp_path, capfd):
    artifact = conv_artifact(tmp_path / "m.onnx", LANDSAT8)
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"<html>not a raster</html>")
    out = tmp_path / "out"
    result = run_cli(capfd, "predict", artifact, scenes / "c_corrupt.tif", junk, "-o", out, "--tile", "128",
                     "--overlap", "32", "--workers", "2", "--quiet", "--data-bands", "B2,B3,B4")
    assert result.code == EXIT_USER_MISTAKE, result.err
    failed = sorted(line.split(": ")[0] for line in result.err.splitlines() if line.startswith("FAILED"))
    assert failed == sorted([f"FAILED {scenes / 'c_corrupt.tif'}", f"FAILED {junk}"])
    assert "error: all 2 scenes failed" in result.err and "fix:" in result.err
    assert "Traceback" not in result.err and "distributed." not in result.err
    assert not out.exists()   # the run created it and wrote nothing


def test_globs_expand_in_order_and_clashing_names_are_refused(scenes, tmp_path):
    assert [p.name for p in expand_scenes([str(scenes / "*.tif")])] == ["a.tif", "b.tif", "c_corrupt.tif"]
    (tmp_path / "other").mkdir()
    shutil.copy(scenes / "a.tif", tmp_path / "other" / "a.tif")
    with pytest.raises(InputError, match="named a"):
        expand_scenes([str(scenes / "a.tif"), str(tmp_path / "other" / "a.tif")])
    with pytest.raises(InputError, match="no file matches"):
        expand_scenes([str(tmp_path / "nothing*.tif")])
