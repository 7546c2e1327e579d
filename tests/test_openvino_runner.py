"""OpenVINO runner and the backend registry: same interface, same answers as PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trtbench.backends import (
    BACKENDS,
    OnnxRuntimeRunner,
    OpenVinoRunner,
    backend_unavailable_reason,
    runner_for_artifact,
)
from trtbench.errors import TrtbenchError
from trtbench.evaluate import make_reference_runner, normalised_tiles
from trtbench.metadata import read_onnx_metadata
from trtbench.parity import ParityAccumulator


@pytest.fixture(scope="module")
def water_feed(tiny_water_onnx, s2_chip):
    """Two real 128x128 Sentinel-2 L1C tiles of the Sen1Floods11 chip, normalised as eval does."""
    meta = read_onnx_metadata(tiny_water_onnx)
    tiles = list(normalised_tiles(meta, [s2_chip], 128))
    return {meta.inputs[0]: np.stack(tiles[:2])}


def test_openvino_matches_the_pytorch_reference_on_a_real_sentinel2_chip(tiny_water_onnx, water_feed):
    meta = read_onnx_metadata(tiny_water_onnx)
    with make_reference_runner(meta) as reference:
        expected = reference.infer(water_feed)
    with runner_for_artifact(tiny_water_onnx, "openvino") as runner:
        actual = runner.infer(water_feed)
    assert set(actual) == set(meta.outputs)
    for name in meta.outputs:
        acc = ParityAccumulator(name)
        acc.update(expected[name], actual[name])
        assert acc.result().rel_max < 1e-4, name


def test_openvino_pins_fp32_even_where_the_cpu_would_default_to_bf16(tiny_embedding_onnx):
    feed = {"pixels": np.zeros((1, 10, 64, 64), np.float32)}
    with runner_for_artifact(tiny_embedding_onnx, "openvino", threads=1) as runner:
        runner.infer(feed)
        info = runner.describe()
    assert info["inference_precision_hint"] == "f32"
    assert info["inference_num_threads"] == "1"


def test_openvino_compiles_each_new_input_shape(tiny_embedding_onnx):
    rng = np.random.default_rng(0)
    with runner_for_artifact(tiny_embedding_onnx, "openvino") as runner:
        small = runner.infer({"pixels": rng.standard_normal((1, 10, 64, 64), np.float32)})
        large = runner.infer({"pixels": rng.standard_normal((2, 10, 96, 64), np.float32)})
    assert small["features"].shape[0] == 1 and small["features"].shape[-2:] == (8, 8)
    assert large["features"].shape[0] == 2 and large["features"].shape[-2:] == (12, 8)


def test_openvino_outputs_are_not_overwritten_by_the_next_inference(tiny_embedding_onnx):
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((1, 10, 64, 64), np.float32) for _ in range(2))
    with runner_for_artifact(tiny_embedding_onnx, "openvino") as runner:
        first = runner.infer({"pixels": a})["cls"]
        kept = first.copy()
        runner.infer({"pixels": b})
    np.testing.assert_array_equal(first, kept)


def test_missing_onnx_file_is_a_trtbench_error(tmp_path):
    with pytest.raises(TrtbenchError, match="not found"):
        with runner_for_artifact(tmp_path / "absent.onnx", "openvino"):
            pass


def test_registry_builds_each_cpu_backend_by_name(tiny_embedding_onnx):
    assert isinstance(runner_for_artifact(tiny_embedding_onnx, "openvino"), OpenVinoRunner)
    pinned = runner_for_artifact(tiny_embedding_onnx, "onnxruntime-cpu")
    assert isinstance(pinned, OnnxRuntimeRunner) and pinned.name == "onnxruntime-cpu"
    with pinned:
        assert pinned.describe()["providers"] == ["CPUExecutionProvider"]
    assert {"torch", "onnxruntime", "openvino", "tensorrt"} <= set(BACKENDS)


def test_torch_backend_runs_the_folded_reference_of_an_artifact(tiny_embedding_onnx):
    feed = {"pixels": np.random.default_rng(2).standard_normal((1, 10, 64, 64), np.float32)}
    meta = read_onnx_metadata(tiny_embedding_onnx)
    with make_reference_runner(meta) as reference:
        expected = reference.infer(feed)["cls"]
    with runner_for_artifact(tiny_embedding_onnx, "torch") as runner:
        actual = runner.infer(feed)["cls"]
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_unknown_backend_names_the_known_ones(tiny_embedding_onnx):
    with pytest.raises(TrtbenchError, match="openvino"):
        runner_for_artifact(tiny_embedding_onnx, "coreml")
    assert "unknown backend" in backend_unavailable_reason("coreml")


def test_tensorrt_backend_refuses_an_onnx_file_and_asks_for_an_engine(tiny_embedding_onnx):
    with pytest.raises(TrtbenchError, match="engine"):
        runner_for_artifact(tiny_embedding_onnx, "tensorrt")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU; the no-GPU reason cannot be shown")
def test_tensorrt_reports_why_it_cannot_run_without_a_gpu():
    reason = backend_unavailable_reason("tensorrt")
    assert reason is not None and "TensorRT cannot run here" in reason
    assert backend_unavailable_reason("openvino") is None
    assert backend_unavailable_reason("onnxruntime-cpu") is None
