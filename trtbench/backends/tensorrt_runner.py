"""TensorRT engines in the common runner interface, with torch as the CUDA memory and stream manager.

Uses only the name-based tensor API of TensorRT >= 10 (``set_input_shape``, ``set_tensor_address``,
``execute_async_v3``); buffers are torch CUDA tensors, kept referenced until the launch has finished,
and torch is the stream manager, so no pycuda or cuda-python is needed. Before
TensorRT sees an engine file, :class:`EngineFromPath` checks it against its sidecar: not truncated,
same TensorRT version, same compute capability. Input shapes are checked against the engine's
optimization profile so an out-of-range tile fails with the profile named, not a TensorRT error code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..engine_meta import EngineSidecar, check_runtime, read_sidecar, verify_engine_file
from ..errors import InputError, TrtbenchError
from ..export.shapes import ShapeProfile
from .base import Runner

# TensorRT DataType member name -> torch dtype name. Own table: bf16 and fp8 have no numpy dtype, so
# trt.nptype() cannot describe them; torch can hold all of them.
TRT_TO_TORCH = {
    "FLOAT": "float32", "HALF": "float16", "BF16": "bfloat16", "INT8": "int8", "INT32": "int32",
    "INT64": "int64", "BOOL": "bool", "UINT8": "uint8", "FP8": "float8_e4m3fn",
}


def torch_dtype(trt_dtype: Any) -> Any:
    """torch dtype for a TensorRT ``DataType`` (or its member name)."""
    import torch

    name = getattr(trt_dtype, "name", str(trt_dtype).rsplit(".", 1)[-1])
    if name not in TRT_TO_TORCH:
        raise TrtbenchError(f"engine tensor type {name} has no torch equivalent here",
                            "export the model with float32/float16 inputs and outputs")
    return getattr(torch, TRT_TO_TORCH[name])


def check_feed_shape(name: str, shape: Sequence[int], profile: ShapeProfile | None) -> None:
    """Refuse an input shape outside the engine's optimization profile, naming the allowed range."""
    if profile is not None and not profile.contains(shape):
        raise InputError(f"input '{name}' of shape {'x'.join(map(str, shape))} is outside the engine's profile "
                         f"({profile})", "tile or batch within the profile, or rebuild the engine with wider --shapes")


@dataclass
class LoadedEngine:
    engine: Any
    sidecar: EngineSidecar
    trt: Any
    keepalive: list[Any] = field(default_factory=list)  # runtime must outlive the engine


class EngineFromPath:
    """Loader: verify an engine file against its sidecar and this machine, then deserialize it."""

    def __init__(self, path: str | Path, plugins: Sequence[str | Path] | None = None):
        self.path = Path(path)
        self.plugins = plugins

    def __call__(self) -> LoadedEngine:
        from ..export.engine import import_tensorrt, load_plugins, runtime_info

        sidecar = read_sidecar(self.path)
        verify_engine_file(self.path, sidecar)
        trt = import_tensorrt()
        check_runtime(sidecar, runtime_info(trt), self.path)
        load_plugins(trt, sidecar.plugins if self.plugins is None else self.plugins)
        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger)
        engine = runtime.deserialize_cuda_engine(self.path.read_bytes())
        if engine is None:
            raise TrtbenchError(f"TensorRT could not deserialize {self.path} although its sidecar matches",
                                "rebuild the engine here with `trtbench export --format engine`")
        return LoadedEngine(engine, sidecar, trt, [runtime, logger])


class TensorRTRunner(Runner[LoadedEngine]):
    """Runs a deserialized engine; ``cuda_graph=True`` replays a captured CUDA graph while shapes repeat."""

    name = "tensorrt"

    def __init__(self, loader: EngineFromPath, cuda_graph: bool = False, device: int = 0):
        super().__init__(loader)
        self.cuda_graph = cuda_graph
        self.device = device
        self._context: Any = None
        self._stream: Any = None
        self._graph: _CapturedGraph | None = None

    def activate(self) -> None:
        import torch

        if self.is_active:
            return
        torch.cuda.set_device(self.device)
        super().activate()
        self._context = self._backend.engine.create_execution_context()
        self._stream = torch.cuda.Stream()

    def deactivate(self) -> None:
        self._graph = self._context = self._stream = None
        super().deactivate()

    @property
    def io_names(self) -> tuple[list[str], list[str]]:
        engine, trt = self._backend.engine, self._backend.trt
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        return inputs, [n for n in names if n not in inputs]

    def _infer(self, loaded: LoadedEngine, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        inputs, outputs = self.io_names
        missing = [n for n in inputs if n not in feed]
        if missing:
            raise InputError(f"the engine needs input(s) {', '.join(missing)}", f"feed {', '.join(inputs)}")
        profiles = {p.name: p for p in loaded.sidecar.shape_profiles()}
        for name in inputs:
            check_feed_shape(name, feed[name].shape, profiles.get(name))
        shapes = {n: tuple(feed[n].shape) for n in inputs}
        with torch.cuda.stream(self._stream):
            if self.cuda_graph:
                if self._graph is None or self._graph.shapes != shapes:
                    self._graph = _CapturedGraph(self, shapes)
                result = self._graph.run(feed)
            else:
                # Held in a local until the stream has synchronized: TensorRT reads these buffers while the
                # launch runs, and a temporary freed after binding could be reused by the allocator meanwhile.
                device_in = {n: self._to_device(n, feed[n]) for n in inputs}
                result = self._bind(device_in, outputs)
                self._launch()
            self._stream.synchronize()
        return {n: t.float().cpu().numpy() if t.dtype == torch.bfloat16 else t.cpu().numpy()
                for n, t in result.items()}

    @property
    def torch_device(self) -> Any:
        import torch

        return torch.device(f"cuda:{self.device}")

    def _to_device(self, name: str, array: np.ndarray) -> Any:
        import torch

        dtype = torch_dtype(self._backend.engine.get_tensor_dtype(name))
        # np.require keeps 0-d arrays 0-d (ascontiguousarray would make the scalar `gsd` input shape (1,)).
        host = torch.from_numpy(np.require(array, requirements="C"))
        return host.to(self.torch_device, dtype, non_blocking=True)

    def _bind(self, device_in: Mapping[str, Any], outputs: Sequence[str]) -> dict[str, Any]:
        """Set the input shapes, allocate the outputs at their resolved shapes, bind every buffer."""
        import torch

        engine, ctx = self._backend.engine, self._context
        for name, tensor in device_in.items():
            if not ctx.set_input_shape(name, tuple(tensor.shape)):
                raise InputError(f"the engine refused input '{name}' of shape {tuple(tensor.shape)}",
                                 "feed the rank and a shape within the profile the engine was built with "
                                 "(see its sidecar)")
            self._set_address(name, tensor)
        result = {}
        for name in outputs:
            result[name] = torch.empty(tuple(ctx.get_tensor_shape(name)), device=self.torch_device,
                                       dtype=torch_dtype(engine.get_tensor_dtype(name)))
            self._set_address(name, result[name])
        return result

    def _set_address(self, name: str, tensor: Any) -> None:
        if not self._context.set_tensor_address(name, tensor.data_ptr()):
            raise TrtbenchError(f"TensorRT refused the buffer of tensor '{name}'",
                                "run `trtbench doctor` and check the engine against its sidecar")

    def _launch(self) -> None:
        if not self._context.execute_async_v3(self._stream.cuda_stream):
            raise TrtbenchError("TensorRT failed to run the engine (see its log)", "check the inputs' shapes")

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"backend": self.name, "cuda_graph": self.cuda_graph}
        if self._backend is not None:
            runtime = self._backend.sidecar.runtime
            info |= {"tensorrt": runtime.tensorrt_version, "gpu": runtime.gpu_name,
                     "compute_capability": runtime.compute_capability, "precision": self._backend.sidecar.precision}
        return info


class _CapturedGraph:
    """One CUDA graph of the engine at fixed shapes: static input/output buffers, replayed per call.

    Every buffer is allocated and bound before capture, and TensorRT gets one plain launch first (it
    defers some work to the first launch), so the graph holds exactly one ``execute_async_v3``.
    """

    def __init__(self, runner: TensorRTRunner, shapes: Mapping[str, tuple[int, ...]]):
        import torch

        self.shapes = dict(shapes)
        inputs, outputs = runner.io_names
        self.inputs = {n: runner._to_device(n, np.zeros(shapes[n], np.float32)) for n in inputs}
        self.outputs = runner._bind(self.inputs, outputs)
        runner._launch()
        runner._stream.synchronize()
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, stream=runner._stream):
            runner._launch()

    def run(self, feed: Mapping[str, np.ndarray]) -> dict[str, Any]:
        import torch

        for name, buffer in self.inputs.items():
            buffer.copy_(torch.from_numpy(np.require(feed[name], requirements="C")), non_blocking=True)
        self.graph.replay()
        return {n: t.clone() for n, t in self.outputs.items()}
