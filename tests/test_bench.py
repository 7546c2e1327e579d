"""Benchmarking: every backend is parity-gated before it is timed; timing, memory and reports are sound."""

from __future__ import annotations

import csv
import io
import json
import time

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from trtbench.backends import OnnxRuntimeRunner, SessionFromOnnx
from trtbench.bench import (
    PeakMemory,
    TimingConfig,
    km2_per_image,
    make_feeds,
    measure,
    open_target,
    run_bench,
)
from trtbench.bench.compare import ERROR, OK, PARITY_FAILED, SKIPPED
from trtbench.cli import cli
from trtbench.errors import InputError, TrtbenchError
from trtbench.report import bench_csv, bench_markdown, bench_table

FAST = TimingConfig(warmup=1, min_iters=3, min_time=0.0)
CPU_BACKENDS = ("torch", "onnxruntime", "openvino")


class PerturbingRunner(OnnxRuntimeRunner):
    """A backend that is fast and wrong: it shifts every output by 1% of its scale."""

    name = "perturbed"

    def _infer(self, session, feed):
        outputs = super()._infer(session, feed)
        return {k: v + 0.01 * np.abs(v).max() for k, v in outputs.items()}


class NaNRunner(OnnxRuntimeRunner):
    """A backend that loses one value to NaN (a classic fp16 overflow symptom)."""

    name = "nan"

    def _infer(self, session, feed):
        outputs = super()._infer(session, feed)
        first = next(iter(outputs))
        outputs[first].flat[0] = np.nan
        return outputs


class BrokenRunner(OnnxRuntimeRunner):
    name = "broken"

    def _infer(self, session, feed):
        raise RuntimeError("kernel launch failed")


@pytest.fixture(scope="module")
def tiny_target(tiny_embedding_onnx):
    with open_target(str(tiny_embedding_onnx)) as target:
        yield target


@pytest.fixture(scope="module")
def cpu_result(tiny_target):
    """clay_tiny on torch, onnxruntime and openvino at 64x64, batches 1 and 2."""
    feeds = make_feeds(tiny_target.metadata, [1, 2], 64)
    return run_bench(tiny_target, backends=CPU_BACKENDS, size=64, config=FAST, feeds=feeds, threads=1)


def test_every_cpu_backend_matches_the_reference_and_is_timed_per_batch(cpu_result):
    assert [b.backend for b in cpu_result.backends] == list(CPU_BACKENDS)
    for b in cpu_result.backends:
        assert b.status == OK, (b.backend, b.reason)
        assert [t.batch for t in b.timings] == [1, 2]
        assert all(p.rel_max <= cpu_result.tolerance for p in b.parity)
        assert b.memory is not None and b.memory.peak_mib >= b.memory.baseline_mib
    assert cpu_result.passed


def test_timings_have_ordered_percentiles_and_consistent_throughput(cpu_result):
    meta = cpu_result.metadata
    for b in cpu_result.backends:
        for t in b.timings:
            s = t.summary()
            assert s["iterations"] >= FAST.min_iters
            assert s["min_ms"] <= s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"] <= s["max_ms"]
            assert s["images_per_s"] == pytest.approx(t.batch / (s["p50_ms"] / 1e3))
            assert s["km2_per_s"] == pytest.approx(s["images_per_s"] * 64 * 64 * meta["gsd"] ** 2 / 1e6)


def test_speedups_are_relative_to_torch_eager(cpu_result):
    assert cpu_result.speedup("torch", 1) == pytest.approx(1.0)
    ort, eager = cpu_result.backend("onnxruntime").timing(2), cpu_result.backend("torch").timing(2)
    assert cpu_result.speedup("onnxruntime", 2) == pytest.approx(ort.images_per_s / eager.images_per_s)


def test_flops_are_counted_and_turned_into_an_achieved_rate(cpu_result):
    flops = cpu_result.flops
    assert flops is not None and flops.coverage == 1.0 and flops.input_shape == [1, 10, 64, 64]
    t = cpu_result.backend("onnxruntime").timing(1)
    assert cpu_result.achieved_gflops(t) == pytest.approx(2 * flops.gmac_per_image * t.images_per_s)


def test_threads_setting_reaches_every_backend_and_torch_is_restored(cpu_result):
    before = torch.get_num_threads()
    assert cpu_result.machine["threads"] == 1
    assert cpu_result.backend("openvino").info["inference_num_threads"] == "1"
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("runner_cls,why", [(PerturbingRunner, "max |diff| / scale"), (NaNRunner, "NaN")])
def test_a_wrong_backend_is_flagged_and_its_timing_is_not_reported(tiny_target, runner_cls, why):
    feeds = make_feeds(tiny_target.metadata, [1], 64)
    wrong = runner_cls(SessionFromOnnx(tiny_target.onnx))
    result = run_bench(tiny_target, size=64, config=FAST, feeds=feeds, count=False,
                       candidates={"onnxruntime": OnnxRuntimeRunner(SessionFromOnnx(tiny_target.onnx)), "wrong": wrong})
    good, bad = result.backends
    assert good.status == OK and good.timings
    assert bad.status == PARITY_FAILED and why in bad.reason
    assert bad.timings == [] and not bad.valid
    assert not result.passed
    assert result.speedup("wrong", 1, baseline="onnxruntime") is None
    table = bench_table(result)
    wrong_rows = [line for line in table.splitlines() if line.strip().startswith("wrong")]
    assert wrong_rows and "PARITY-FAILED" in wrong_rows[0] and "INVALID (not timed): wrong" in table
    rows = list(csv.DictReader(io.StringIO(bench_csv(result))))
    assert [r["p50_ms"] for r in rows if r["backend"] == "wrong"] == [""]


def test_a_backend_that_raises_is_an_error_and_the_others_still_run(tiny_target):
    feeds = make_feeds(tiny_target.metadata, [1], 64)
    result = run_bench(tiny_target, size=64, config=FAST, feeds=feeds, count=False,
                       candidates={"broken": BrokenRunner(SessionFromOnnx(tiny_target.onnx)),
                                   "onnxruntime": OnnxRuntimeRunner(SessionFromOnnx(tiny_target.onnx))})
    broken, ok = result.backends
    assert broken.status == ERROR and "kernel launch failed" in broken.reason and broken.timings == []
    assert ok.status == OK
    assert not result.passed


@pytest.mark.skipif(torch.cuda.is_available(), reason="TensorRT may run on this GPU machine")
def test_tensorrt_is_skipped_with_its_reason_on_a_machine_without_gpu(tiny_target):
    feeds = make_feeds(tiny_target.metadata, [1], 64)
    result = run_bench(tiny_target, backends=("onnxruntime", "tensorrt"), size=64, config=FAST, feeds=feeds,
                       count=False)
    trt = result.backend("tensorrt")
    assert trt.status == SKIPPED and "TensorRT cannot run here" in trt.reason
    assert result.passed  # a backend that cannot run here is not a failure
    assert "tensorrt skipped" in bench_markdown(result)


def test_real_sentinel2_tiles_feed_the_bench(tiny_water_onnx, s2_chip):
    with open_target(str(tiny_water_onnx)) as target:
        feeds = make_feeds(target.metadata, [1, 3], 128, data=s2_chip)
        assert [f["pixels"].shape for f in feeds] == [(1, 13, 128, 128), (3, 13, 128, 128)]
        batch = feeds[1]["pixels"]
        assert np.isfinite(batch).all() and not np.array_equal(batch[0], batch[1])
        result = run_bench(target, backends=("onnxruntime",), size=128, config=FAST, feeds=feeds, count=False)
    assert result.backend("onnxruntime").status == OK


def test_a_chip_smaller_than_the_bench_size_is_refused(tiny_water_onnx, s2_chip):
    with open_target(str(tiny_water_onnx)) as target, pytest.raises(InputError, match="smaller"):
        make_feeds(target.metadata, [1], 1024, data=s2_chip)


def test_measure_warms_up_then_meets_both_minimums():
    calls = []
    samples = measure(lambda: (calls.append(1), time.sleep(0.01)), TimingConfig(warmup=2, min_iters=3, min_time=0.08))
    assert len(samples) >= 3 and sum(samples) >= 80 * 0.9
    assert len(calls) == len(samples) + 2
    assert min(samples) >= 10


@pytest.mark.parametrize("bad", [dict(min_iters=0), dict(warmup=-1), dict(min_time=-1.0)])
def test_nonsense_timing_settings_are_refused(bad):
    with pytest.raises(InputError):
        TimingConfig(**bad)


def test_ground_area_per_image_follows_size_and_gsd():
    assert km2_per_image(256, 256, 10.0) == pytest.approx(256 * 256 * 100 / 1e6)
    assert km2_per_image(100, 200, 30.0) == pytest.approx(2 * km2_per_image(100, 100, 30.0))


def test_peak_memory_sees_a_transient_allocation():
    size = 300 * 2**20
    with PeakMemory(interval_s=0.001) as peak:
        block = np.ones(size, np.uint8)
        time.sleep(0.05)
        del block
    assert peak.result().delta_mib >= 200


def test_bench_command_writes_json_markdown_csv_and_plot(tiny_embedding_onnx, tmp_path):
    out = {k: tmp_path / f"bench.{k}" for k in ("json", "md", "csv", "png")}
    args = ["bench", str(tiny_embedding_onnx), "--size", "64", "--batch", "1,2", "--backends", "onnxruntime,openvino",
            "--min-time", "0", "--min-iters", "2", "--warmup", "1", "--json", str(out["json"]), "--markdown",
            str(out["md"]), "--csv", str(out["csv"]), "--plot", str(out["png"])]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out["json"].read_text())
    assert data["passed"] and [b["backend"] for b in data["backends"]] == ["onnxruntime", "openvino"]
    assert len(data["backends"][0]["timings"]) == 2
    assert "| onnxruntime | ok | 1 |" in out["md"].read_text()
    assert len(list(csv.DictReader(out["csv"].open()))) == 4
    assert out["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ALL BACKENDS MATCH THE REFERENCE" in result.output


def test_bench_command_exports_a_named_model_on_the_fly():
    result = CliRunner().invoke(cli, ["bench", "clay", "--variant", "tiny", "--random-init", "--size", "64",
                                      "--batch", "1", "--backends", "onnxruntime", "--min-time", "0",
                                      "--min-iters", "2"])
    assert result.exit_code == 0, result.output
    assert "clay_tiny: clay_tiny (embedding" in result.output


def test_bench_command_fails_with_exit_1_when_parity_fails(tiny_embedding_onnx):
    result = CliRunner().invoke(cli, ["bench", str(tiny_embedding_onnx), "--size", "64", "--batch", "1",
                                      "--backends", "onnxruntime", "--tolerance", "0", "--min-iters", "1"])
    assert result.exit_code == 1
    assert "INVALID (not timed): onnxruntime" in result.output


def test_bench_command_needs_to_know_where_weights_come_from():
    result = CliRunner().invoke(cli, ["bench", "clay", "--variant", "tiny"])
    assert isinstance(result.exception, TrtbenchError) and "--random-init" in result.exception.fix


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU for CUDA-event timing")
def test_torch_cuda_backend_reports_copy_and_compute_split(tiny_target):
    feeds = make_feeds(tiny_target.metadata, [2], 64)
    result = run_bench(tiny_target, backends=("torch-cuda",), size=64, config=FAST, feeds=feeds, count=False)
    timing = result.backend("torch-cuda").timing(2)
    assert {"h2d_ms", "compute_ms", "d2h_ms"} <= set(timing.extra)
    assert all(timing.extra[k] > 0 for k in ("h2d_ms", "compute_ms", "d2h_ms"))
