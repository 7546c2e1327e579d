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
print(json.dumps({m: m in sys.modules for m in HEAVY}), file=sys.stderr)
"""
# Each takes from a few tenths of a second (onnxruntime, rasterio) to seconds (torch, onnx, lightning) to import.
HEAVY = ("torch", "lightning", "fvcore", "onnx", "onnxruntime", "openvino", "rasterio", "tensorrt")


def _heavy_modules_loaded(*args: str) -> dict[str, bool]:
    done = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}", *args], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_predict_runs_without_importing_pytorch(landsat_scene, tmp_path):
    from predict_support import LANDSAT8, conv_artifact

    artifact = conv_artifact(tmp_path / "l8.onnx", LANDSAT8)
    loaded = _heavy_modules_loaded("predict", str(artifact), str(landsat_scene), "-o", str(tmp_path / "out"),
                                   "--tile", "256", "--quiet")
    assert list((tmp_path / "out").glob("*.class.tif")), "predict did not run"
    assert not any(loaded[m] for m in ("torch", "lightning", "fvcore")), loaded


def test_help_and_doctor_import_no_heavy_package():
    # `trtbench --help` and `doctor` answer in well under a second only if they import none of these
    # (benchmarks are not run in tests; this is the structural cause of the speed).
    for args in (["--help"], ["doctor"], ["doctor", "--json", "-"]):
        loaded = _heavy_modules_loaded(*args)
        assert not any(loaded.values()), (args, loaded)


def test_help_lists_every_command_with_its_own_summary():
    import click

    from trtbench.cli import cli

    ctx = click.Context(cli)
    assert set(cli.summaries) == set(cli.lazy)
    for name in cli.lazy:  # the summary --help prints without importing is the command's own first sentence
        assert cli.summaries[name] == cli.get_command(ctx, name).get_short_help_str(limit=1000), name


def test_commands_that_need_pytorch_still_load_it():
    assert _heavy_modules_loaded("flops", "--help")["torch"]   # the probe does see imports
