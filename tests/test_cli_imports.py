"""Deployment commands start light: `predict` and the ONNX Runtime runner never import PyTorch or Lightning."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
from trtbench.cli import main
sys.argv = ["trtbench", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps({m: m in sys.modules for m in ("torch", "lightning", "fvcore")}), file=sys.stderr)
"""


def _heavy_modules_loaded(*args: str) -> dict[str, bool]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_predict_runs_without_importing_pytorch(landsat_scene, tmp_path):
    from predict_support import LANDSAT8, conv_artifact

    artifact = conv_artifact(tmp_path / "l8.onnx", LANDSAT8)
    loaded = _heavy_modules_loaded("predict", str(artifact), str(landsat_scene), "-o", str(tmp_path / "out"),
                                   "--tile", "256", "--quiet")
    assert list((tmp_path / "out").glob("*.class.tif")), "predict did not run"
    assert loaded == {"torch": False, "lightning": False, "fvcore": False}


def test_commands_that_need_pytorch_still_load_it():
    assert _heavy_modules_loaded("flops", "--help")["torch"]   # the probe does see imports
