"""The TensorRT runner: dtype mapping, profile checks and engine refusal on CPU; real inference on a GPU."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import weakref
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from engine_helpers import BUILT, fabricate_engine, gpu

from trtbench.backends import runner_for_artifact
from trtbench.backends.tensorrt_runner import (
    EngineFromPath,
    TensorRTRunner,
    check_feed_shape,
    torch_dtype,
)
from trtbench.errors import BackendUnavailable, InputError, TrtbenchError
from trtbench.export.shapes import ShapeProfile

# tensorrt.DataType's members as TensorRT 10's Python API documents them (FoundationalTypes/DataType), with the
# torch dtype each one's description names; INT4, FP4 (packed sub-byte) and E8M0 (a block-scale type) have no
# torch tensor dtype an engine input or output could be read into.
DOCUMENTED = {
    "FLOAT": torch.float32,          # 32-bit floating point
    "HALF": torch.float16,           # IEEE 16-bit floating point
    "BF16": torch.bfloat16,          # brain float: 8-bit exponent, 8-bit significand
    "INT8": torch.int8,              # signed 8-bit integer
    "INT32": torch.int32,
    "INT64": torch.int64,
    "BOOL": torch.bool,              # 8-bit boolean
    "UINT8": torch.uint8,
    "FP8": torch.float8_e4m3fn,      # 1 sign, 4 exponent, 3 mantissa bits, exponent bias 7
}
NO_TORCH_EQUIVALENT = ["INT4", "FP4", "E8M0"]
FakeDataType = enum.Enum("DataType", [*DOCUMENTED, *NO_TORCH_EQUIVALENT])


@pytest.mark.parametrize("name", list(DOCUMENTED))
def test_each_documented_tensorrt_dtype_maps_to_its_torch_dtype(name):
    assert torch_dtype(FakeDataType[name]) == DOCUMENTED[name]
    assert torch_dtype(name) == DOCUMENTED[name]          # the member name alone, as in a sidecar


@pytest.mark.parametrize("name", NO_TORCH_EQUIVALENT)
def test_tensorrt_dtype_without_a_torch_equivalent_is_a_clear_error(name):
    with pytest.raises(TrtbenchError, match=f"engine tensor type {name} has no torch equivalent"):
        torch_dtype(FakeDataType[name])


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
    """An IExecutionContext that, like TensorRT, answers False to a shape of the wrong rank.

    At ``execute_async_v3`` it records which bound input buffers are still alive (``live``: weak references
    to the runner's device tensors, filled by the ``track_device_inputs`` fixture): TensorRT reads them then.
    """

    def __init__(self, ranks: dict[str, int], outputs: dict[str, tuple[int, ...]]):
        self.ranks, self.outputs = ranks, outputs
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.addresses: dict[str, int] = {}
        self.live: dict[str, weakref.ref] = {}
        self.at_launch: dict[str, bool] = {}

    def execute_async_v3(self, stream_handle):
        for name, ref in self.live.items():
            tensor = ref()
            self.at_launch[name] = tensor is not None and tensor.data_ptr() == self.addresses[name]
        return True

    def set_input_shape(self, name, shape):
        self.shapes[name] = tuple(shape)
        return len(shape) == self.ranks[name]

    def set_tensor_address(self, name, address):
        self.addresses[name] = address
        return True

    def get_tensor_shape(self, name):
        return self.outputs[name]


class FakeEngine:
    """ICudaEngine's I/O description: inputs then outputs, all FLOAT."""

    def __init__(self, inputs: list[str], outputs: list[str]):
        self.inputs, self.names = inputs, [*inputs, *outputs]
        self.num_io_tensors = len(self.names)

    def get_tensor_name(self, index):
        return self.names[index]

    def get_tensor_mode(self, name):
        return "INPUT" if name in self.inputs else "OUTPUT"

    def get_tensor_dtype(self, name):
        return FakeDataType.FLOAT


@pytest.fixture
def cpu_runner(monkeypatch):
    """A TensorRTRunner whose engine, context, stream and device are CPU stand-ins: the binding logic, no GPU."""
    runner = TensorRTRunner(loader=None)
    runner._backend = SimpleNamespace(
        engine=FakeEngine(["pixels", "wavelengths", "gsd"], ["features"]),
        trt=SimpleNamespace(TensorIOMode=SimpleNamespace(INPUT="INPUT")),
        sidecar=SimpleNamespace(shape_profiles=lambda: []))
    runner._context = FakeContext({"pixels": 4, "wavelengths": 1, "gsd": 0}, {"features": (2, 8, 4, 4)})
    runner._stream = SimpleNamespace(cuda_stream=0, synchronize=lambda: None)
    monkeypatch.setattr(TensorRTRunner, "torch_device", property(lambda self: torch.device("cpu")))
    monkeypatch.setattr(torch.cuda, "stream", lambda stream: contextlib.nullcontext())
    return runner


@pytest.fixture
def track_device_inputs(cpu_runner, monkeypatch):
    """Weak references to every device input the runner creates, handed to the fake context."""
    to_device = TensorRTRunner._to_device

    def tracked(self, name, array):
        tensor = to_device(self, name, array)
        self._context.live[name] = weakref.ref(tensor)
        return tensor

    monkeypatch.setattr(TensorRTRunner, "_to_device", tracked)
    return cpu_runner


def test_scalar_inputs_reach_the_engine_as_0d_tensors(cpu_runner):
    feed = {"pixels": np.zeros((2, 3, 32, 32), np.float32), "wavelengths": np.array([0.49, 0.56, 0.66], np.float32),
            "gsd": np.asarray(30.0, np.float32)}
    device_in = {n: cpu_runner._to_device(n, a) for n, a in feed.items()}
    assert device_in["gsd"].shape == () and float(device_in["gsd"]) == 30.0
    outputs = cpu_runner._bind(device_in, ["features"])
    assert cpu_runner._context.shapes == {"pixels": (2, 3, 32, 32), "wavelengths": (3,), "gsd": ()}
    assert outputs["features"].shape == (2, 8, 4, 4)
    assert set(cpu_runner._context.addresses) == {"pixels", "wavelengths", "gsd", "features"}


def test_device_inputs_stay_alive_and_bound_until_the_launch(track_device_inputs):
    runner = track_device_inputs
    feed = {"pixels": np.ones((2, 3, 32, 32), np.float32), "wavelengths": np.array([0.49, 0.56, 0.66], np.float32),
            "gsd": np.asarray(10.0, np.float32)}
    result = runner._infer(runner._backend, feed)
    assert runner._context.at_launch == {"pixels": True, "wavelengths": True, "gsd": True}
    assert result["features"].shape == (2, 8, 4, 4)


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


def test_engine_files_default_to_the_tensorrt_backend(tmp_path, tiny_embedding_onnx, monkeypatch):
    import trtbench.doctor

    engine = fabricate_engine(tmp_path, tiny_embedding_onnx)
    monkeypatch.setattr(trtbench.doctor, "tensorrt_status", lambda: {"available": True, "version": "10.15.1.29"})
    assert isinstance(runner_for_artifact(engine), TensorRTRunner)   # nothing is loaded before activate


def test_engine_file_without_tensorrt_says_why_not_instead_of_trying_onnxruntime(tmp_path, tiny_embedding_onnx,
                                                                                 monkeypatch):
    import trtbench.doctor

    engine = fabricate_engine(tmp_path, tiny_embedding_onnx)
    monkeypatch.setattr(trtbench.doctor, "tensorrt_status",
                        lambda: {"available": False, "reason": "no CUDA GPU visible to PyTorch"})
    with pytest.raises(BackendUnavailable, match="cannot run here: no CUDA GPU visible to PyTorch") as caught:
        runner_for_artifact(engine)
    assert str(engine) in caught.value.problem   # the user is told which file


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
    for name, ref in expected.items():   # an fp32 engine (built without TF32) within fp32's parity tolerance
        assert np.abs(got[name] - ref).max() <= 1e-4 * np.abs(ref).max(), name


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
