"""The TensorRT runner: dtype mapping, profile checks and engine refusal on CPU; real inference on a GPU."""

from __future__ import annotations

import dataclasses
import enum
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from engine_helpers import BUILT, fabricate_engine, gpu

from trtbench.backends import runner_for_artifact
from trtbench.backends.tensorrt_runner import (
    TRT_TO_TORCH,
    EngineFromPath,
    TensorRTRunner,
    check_feed_shape,
    torch_dtype,
)
from trtbench.errors import BackendUnavailable, InputError, TrtbenchError
from trtbench.export.shapes import ShapeProfile

FakeDataType = enum.Enum("DataType", [*TRT_TO_TORCH, "FP4"])  # member names as in tensorrt.DataType


@pytest.mark.parametrize("name", list(TRT_TO_TORCH))
def test_every_tensorrt_dtype_maps_to_a_torch_dtype_of_the_same_width(name):
    dtype = torch_dtype(FakeDataType[name])
    assert isinstance(dtype, torch.dtype)
    bits = {"FLOAT": 32, "HALF": 16, "BF16": 16, "INT8": 8, "INT32": 32, "INT64": 64, "BOOL": 8, "UINT8": 8, "FP8": 8}
    assert torch.empty((), dtype=dtype).element_size() * 8 == bits[name]


def test_unmapped_tensorrt_dtype_is_a_clear_error():
    with pytest.raises(TrtbenchError, match="FP4"):
        torch_dtype(FakeDataType.FP4)


def test_input_outside_the_profile_names_the_allowed_range():
    profile = ShapeProfile("pixels", (1, 10, 64, 64), (4, 10, 128, 128), (8, 10, 256, 256))
    check_feed_shape("pixels", (8, 10, 256, 128), profile)
    with pytest.raises(InputError, match=r"outside the engine's profile \(pixels: min=1x10x64x64"):
        check_feed_shape("pixels", (1, 10, 512, 512), profile)


def _fake_tensorrt(monkeypatch, here):
    """Make the loader see a TensorRT/GPU described by ``here``; deserialization must not be reached."""
    import trtbench.export.engine as engine_mod

    trt = SimpleNamespace(__version__=here.tensorrt_version)
    monkeypatch.setattr(engine_mod, "import_tensorrt", lambda: trt)
    monkeypatch.setattr(engine_mod, "runtime_info", lambda _trt: here)


class FakeContext:
    """An IExecutionContext that, like TensorRT, answers False to a shape of the wrong rank."""

    def __init__(self, ranks: dict[str, int], outputs: dict[str, tuple[int, ...]]):
        self.ranks, self.outputs = ranks, outputs
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.addresses: dict[str, int] = {}

    def set_input_shape(self, name, shape):
        self.shapes[name] = tuple(shape)
        return len(shape) == self.ranks[name]

    def set_tensor_address(self, name, address):
        self.addresses[name] = address
        return True

    def get_tensor_shape(self, name):
        return self.outputs[name]


@pytest.fixture
def cpu_runner(monkeypatch):
    """A TensorRTRunner whose engine, context and device are CPU stand-ins: the binding logic, no GPU."""
    runner = TensorRTRunner(loader=None)
    engine = SimpleNamespace(get_tensor_dtype=lambda name: FakeDataType.FLOAT)
    runner._backend = SimpleNamespace(engine=engine)
    runner._context = FakeContext({"pixels": 4, "wavelengths": 1, "gsd": 0}, {"features": (2, 8, 4, 4)})
    monkeypatch.setattr(TensorRTRunner, "torch_device", property(lambda self: torch.device("cpu")))
    return runner


def test_scalar_inputs_reach_the_engine_as_0d_tensors(cpu_runner):
    feed = {"pixels": np.zeros((2, 3, 32, 32), np.float32), "wavelengths": np.array([0.49, 0.56, 0.66], np.float32),
            "gsd": np.asarray(30.0, np.float32)}
    device_in = {n: cpu_runner._to_device(n, a) for n, a in feed.items()}
    assert device_in["gsd"].shape == () and float(device_in["gsd"]) == 30.0
    outputs = cpu_runner._bind(device_in, ["features"])
    assert cpu_runner._context.shapes == {"pixels": (2, 3, 32, 32), "wavelengths": (3,), "gsd": ()}
    assert outputs["features"].shape == (2, 8, 4, 4)
    assert set(cpu_runner._context.addresses) == {"pixels", "wavelengths", "gsd", "features"}


def test_a_shape_the_engine_refuses_is_a_clear_error(cpu_runner):
    device_in = {"gsd": torch.tensor([30.0])}   # rank 1 where the engine takes a scalar
    with pytest.raises(InputError, match="refused input 'gsd' of shape \\(1,\\)"):
        cpu_runner._bind(device_in, ["features"])


def test_loader_refuses_an_engine_from_another_tensorrt(tmp_path, tiny_embedding_onnx, monkeypatch):
    engine = fabricate_engine(tmp_path, tiny_embedding_onnx)
    _fake_tensorrt(monkeypatch, dataclasses.replace(BUILT, tensorrt_version="10.8.0.43"))
    with pytest.raises(TrtbenchError, match="built with TensorRT 10.15.1.29; this machine has TensorRT 10.8.0.43"):
        EngineFromPath(engine)()


def test_loader_refuses_a_truncated_engine_before_touching_tensorrt(tmp_path, tiny_embedding_onnx, monkeypatch):
    import trtbench.export.engine as engine_mod

    engine = fabricate_engine(tmp_path, tiny_embedding_onnx)
    engine.write_bytes(engine.read_bytes()[:10])
    monkeypatch.setattr(engine_mod, "import_tensorrt", lambda: pytest.fail("TensorRT reached for a truncated engine"))
    with pytest.raises(TrtbenchError, match="truncated"):
        EngineFromPath(engine)()


def test_engine_files_default_to_the_tensorrt_backend(tmp_path, tiny_embedding_onnx):
    engine = fabricate_engine(tmp_path, tiny_embedding_onnx)
    try:
        runner = runner_for_artifact(engine)
    except BackendUnavailable as exc:   # CPU machines: the reason, not an ONNX Runtime parse error
        assert "TensorRT" in exc.problem
    else:
        assert isinstance(runner, TensorRTRunner)


# --- GPU: real engines ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_engine(tmp_path_factory, tiny_embedding_onnx):
    from trtbench.export.engine import build_engine
    from trtbench.export.shapes import parse_shapes

    path = tmp_path_factory.mktemp("engine") / "tiny.engine"
    return build_engine(tiny_embedding_onnx, path, opt_level=0,
                        profiles=parse_shapes("min=1x10x64x64,opt=2x10x128x128,max=4x10x256x256", ["pixels"]))


def _tiles(s2_chip, meta, size, count):
    from trtbench.evaluate import normalised_tiles

    return np.stack(list(normalised_tiles(meta, [s2_chip], size, ["sentinel-2-l1c"]))[:count])


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("size, batch", [(64, 1), (128, 2), (256, 4)])
def test_engine_matches_onnxruntime_on_real_chips_across_the_profile(tiny_engine, tiny_embedding_onnx, s2_chip,
                                                                     size, batch):
    from trtbench.metadata import read_onnx_metadata

    feed = {"pixels": _tiles(s2_chip, read_onnx_metadata(tiny_embedding_onnx), size, batch)}
    with runner_for_artifact(tiny_embedding_onnx, "onnxruntime-cpu") as ort, runner_for_artifact(tiny_engine) as trt:
        expected, got = ort.infer(feed), trt.infer(feed)
    for name, ref in expected.items():
        np.testing.assert_allclose(got[name], ref, atol=1e-3 * np.abs(ref).max())


@pytest.mark.gpu
@gpu
def test_cuda_graph_replay_equals_plain_execution(tiny_engine, tiny_embedding_onnx, s2_chip):
    from trtbench.metadata import read_onnx_metadata

    feed = {"pixels": _tiles(s2_chip, read_onnx_metadata(tiny_embedding_onnx), 128, 2)}
    with TensorRTRunner(EngineFromPath(tiny_engine)) as plain, TensorRTRunner(EngineFromPath(tiny_engine), cuda_graph=True) as graph:
        expected = plain.infer(feed)
        first, again = graph.infer(feed), graph.infer({"pixels": feed["pixels"][::-1].copy()})
    np.testing.assert_array_equal(first["features"], expected["features"])
    np.testing.assert_array_equal(again["features"][0], expected["features"][1])


@pytest.mark.gpu
@gpu
def test_engine_refuses_a_tile_outside_its_profile(tiny_engine):
    with TensorRTRunner(EngineFromPath(tiny_engine)) as runner, pytest.raises(InputError, match="profile"):
        runner.infer({"pixels": np.zeros((1, 10, 512, 512), np.float32)})
