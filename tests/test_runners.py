"""Runners share one interface; inputs are validated against the artifact before any runtime sees them."""

from __future__ import annotations

import numpy as np
import pytest

from trtbench.backends import OnnxRuntimeRunner, SessionFromOnnx, TorchRunner, runner_for_artifact
from trtbench.backends.onnxruntime_runner import choose_providers
from trtbench.errors import BackendUnavailable, InputError, TrtbenchError
from trtbench.metadata import read_onnx_metadata
from trtbench.models import rebuild_reference
from trtbench.preprocess import check_batch


def test_onnxruntime_and_torch_runners_agree_through_the_same_interface(tiny_embedding_onnx):
    meta = read_onnx_metadata(tiny_embedding_onnx)
    feed = {"pixels": np.random.default_rng(0).standard_normal((2, 10, 32, 48)).astype(np.float32)}
    with runner_for_artifact(tiny_embedding_onnx) as ort_runner, \
            TorchRunner(lambda: rebuild_reference(meta), meta.inputs, meta.outputs) as torch_runner:
        a, b = ort_runner.infer(feed), torch_runner.infer(feed)
        assert ort_runner.describe()["providers"] == ["CPUExecutionProvider"]
    assert a.keys() == b.keys() == {"features", "cls"}
    np.testing.assert_allclose(a["features"], b["features"], atol=1e-4 * np.abs(b["features"]).max())


@pytest.mark.parametrize("available, expected", [
    (["CPUExecutionProvider", "OpenVINOExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"],
     ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]),
    (["CUDAExecutionProvider", "CPUExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"]),
    (["CPUExecutionProvider", "TensorrtExecutionProvider"], ["TensorrtExecutionProvider", "CPUExecutionProvider"]),
    (["CPUExecutionProvider"], ["CPUExecutionProvider"]),
])
def test_provider_choice_prefers_tensorrt_then_cuda_then_cpu(monkeypatch, available, expected):
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers", lambda: list(available))
    assert choose_providers() == expected


def test_requesting_an_absent_provider_says_which_are_available():
    with pytest.raises(BackendUnavailable, match="available: .*CPUExecutionProvider"):
        choose_providers(["NoSuchExecutionProvider"])


def test_runner_used_before_activation_says_how_to_use_it(tiny_embedding_onnx):
    runner = OnnxRuntimeRunner(SessionFromOnnx(tiny_embedding_onnx))
    with pytest.raises(TrtbenchError, match="before activate"):
        runner.infer({"pixels": np.zeros((1, 10, 8, 8), np.float32)})


@pytest.mark.parametrize("shape, message", [
    ((1, 13, 64, 64), "expected 10 bands"),
    ((1, 10, 60, 64), "not a multiple of the patch size 8"),
    ((10, 64, 64), "expected a batch"),
])
def test_bad_arrays_are_rejected_naming_what_was_expected(tiny_embedding_onnx, shape, message):
    with pytest.raises(InputError, match=message):
        check_batch(read_onnx_metadata(tiny_embedding_onnx), np.zeros(shape, np.float32))


def test_nan_in_a_batch_is_rejected(tiny_embedding_onnx):
    batch = np.zeros((1, 10, 16, 16), np.float32)
    batch[0, 3, 2, 2] = np.nan
    with pytest.raises(InputError, match="1 NaN values"):
        check_batch(read_onnx_metadata(tiny_embedding_onnx), batch)
