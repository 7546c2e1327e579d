"""An interrupted run (kill -9) continues with --resume and writes the same bytes as an uninterrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
from predict_support import LANDSAT8, conv_artifact, crop_scene
from rasterio.windows import Window

from trtbench.errors import InputError
from trtbench.predict.resume import PROGRESS, work_dir_for
from trtbench.predict.scene import PredictOptions, predict_scene

ARGS = ["--tile", "64", "--overlap", "16", "--batch", "8", "--probabilities", "--quiet"]
OPTIONS = PredictOptions(tile=64, overlap=16, batch=8, probabilities=True)     # the same, in-process


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return conv_artifact(tmp_path_factory.mktemp("a") / "l8.onnx", LANDSAT8, width=32, nodata=0.0)


@pytest.fixture(scope="module")
def scene(landsat_scene, tmp_path_factory):
    """The real scene's top-left 768 x 720 (a fifth of it fill): ~240 tiles of 64 in 15 tile rows."""
    return crop_scene(landsat_scene, tmp_path_factory.mktemp("s") / "l8_corner.tif", Window(0, 0, 768, 720))


def _predict(artifact, scene, out, *extra) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "trtbench.cli", "predict", str(artifact), str(scene), "-o", str(out), *ARGS, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _rows_done(work_dir) -> int:
    try:
        return int(np.load(work_dir / PROGRESS)["rows_done"])
    except (OSError, ValueError, KeyError):
        return 0


def test_kill_and_resume_gives_byte_identical_outputs(artifact, scene, tmp_path):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    predict_scene(artifact, scene, reference, OPTIONS, progress=False)

    proc = _predict(artifact, scene, resumed)
    work = work_dir_for(resumed, scene.stem)
    deadline = time.monotonic() + 120
    while _rows_done(work) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # Nothing that looks finished: only the hidden work folder.
    assert [p.name for p in resumed.iterdir()] == [work.name]

    summary = predict_scene(artifact, scene, resumed, replace(OPTIONS, resume=True), progress=False)
    assert summary["resumed_from_tile_row"] >= 3
    names = sorted(p.name for p in reference.iterdir() if p.suffix == ".tif")
    assert names == sorted(p.name for p in resumed.iterdir() if p.suffix == ".tif") and len(names) == 2
    for name in names:
        assert (reference / name).read_bytes() == (resumed / name).read_bytes(), name
    assert not work.exists()


def test_resume_with_other_options_is_refused(artifact, landsat_scene, tmp_path):
    work = work_dir_for(tmp_path, landsat_scene.stem)
    work.mkdir()
    from trtbench.predict.resume import RunState
    RunState(work, {"tile": 32}).save(1, {})
    with pytest.raises(InputError, match="different artifact, scene or options") as info:
        predict_scene(artifact, landsat_scene, tmp_path, PredictOptions(tile=64, resume=True), progress=False)
    assert "--resume" in info.value.fix


def test_resume_skips_a_scene_that_already_finished(artifact, scene, tmp_path):
    opts = PredictOptions(tile=128, overlap=32)
    first = predict_scene(artifact, scene, tmp_path, opts, progress=False)
    output = tmp_path / first["outputs"]["class"]
    stamp = output.stat().st_mtime_ns
    again = predict_scene(artifact, scene, tmp_path, PredictOptions(tile=128, overlap=32, resume=True),
                          progress=False)
    assert again == first and output.stat().st_mtime_ns == stamp
    # Other options are a different result: computed anew, not skipped.
    other = predict_scene(artifact, scene, tmp_path, PredictOptions(tile=128, overlap=16, resume=True),
                          progress=False)
    assert other["overlap"] == 16 and output.stat().st_mtime_ns != stamp
