"""`scripts/gpu_check.sh` on a machine without a GPU: it runs, says what it could not run and why, exits 0.

On a GPU machine the script itself is the check (it runs the GPU tests and the benchmark); this test covers
the honest "not run" report that a CPU machine must get instead of a silent pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.sh"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU report; on a GPU machine run the script")
def test_gpu_check_on_a_cpu_machine_reports_every_part_as_not_run(tmp_path):
    done = subprocess.run(["bash", str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout
    assert "GPU: no CUDA GPU visible to PyTorch" in summary
    for part in ("GPU tests (pytest -m gpu)", "benchmark: Clay base in PyTorch CUDA fp32/fp16",
                 "benchmark: TensorRT engines of Clay base"):
        [line] = [line for line in summary.splitlines() if part in line]
        assert line.startswith("NOT RUN") and "no CUDA GPU" in line, line
    assert "passed" not in summary and "RESULT: OK (0 failed)" in summary
    assert (tmp_path / "summary.txt").read_text() == summary
    assert json.loads((tmp_path / "env.json").read_text())["cuda"] is False


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.test_engine" name="test_engine_build_writes_engine_sidecar_and_timing_cache"/>
<testcase classname="tests.test_tensorrt_runner" name="test_cuda_graph_replay_equals_plain_execution">
  <failure message="AssertionError: arrays differ">trace</failure></testcase>
<testcase classname="tests.test_kernels" name="test_cpp_plugin_engine_matches_reference_for_runtime_band_counts">
  <skipped type="pytest.skip" message="TensorRT headers not found: set TensorRT_ROOT">skip</skipped></testcase>
<testcase classname="" name="tests.test_dynamic_bands">
  <error message="collection failure">ModuleNotFoundError: No module named 'rasterio'</error></testcase>
</testsuite></testsuites>"""


def test_summary_counts_failures_and_names_why_tests_did_not_run(tmp_path):
    (tmp_path / "env.json").write_text(json.dumps({"cuda": True, "gpu": "NVIDIA H200", "capability": "9.0",
                                                   "torch": "2.9", "tensorrt": "10.15.1.29"}))
    (tmp_path / "gpu_tests.xml").write_text(JUNIT)
    (tmp_path / "bench.jsonl").write_text(json.dumps({"what": "TensorRT Clay base fp16 engine", "ms": 4.25}) + "\n")
    (tmp_path / "notes.txt").write_text("NOT RUN\tbenchmark: band-agnostic Clay base with the plugin\tno triton\n")
    done = subprocess.run([sys.executable, str(SCRIPT.with_name("gpu_check_summary.py")), str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr          # one test failed
    lines = done.stdout.splitlines()
    assert "GPU tests (pytest -m gpu): 1 passed, 1 failed, 2 not run" in lines
    assert "    FAILED  test_tensorrt_runner::test_cuda_graph_replay_equals_plain_execution: AssertionError: " \
           "arrays differ" in lines
    assert "    NOT RUN 1 x: needs package rasterio" in lines
    assert "    NOT RUN 1 x: TensorRT headers not found: set TensorRT_ROOT" in lines
    assert "NOT RUN benchmark: band-agnostic Clay base with the plugin: no triton" in lines
    assert any("4.250 ms  TensorRT Clay base fp16 engine" in line for line in lines)
    assert lines[-1].startswith("RESULT: FAILED (1 failed)")
