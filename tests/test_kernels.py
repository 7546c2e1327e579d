"""Specification tests for the DynamicPatchEmbed operator (trtbench.kernels).

The CPU reference is checked against torch's conv2d; the Triton kernel runs compiled on a GPU when one is
present and in Triton's CPU interpreter otherwise; the CUDA source is compiled with nvcc where nvcc is
installed; TensorRT plugin tests need a GPU, TensorRT and its headers and say which is missing.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import operator
import os
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from trtbench.kernels import (
    conv_output_size,
    load_plugin_library,
    patch_embed_reference,
    patch_embed_triton,
    plugin_library_path,
    triton_available,
)
from trtbench.kernels.triton_patch_embed import drop_trailing_params, load_triton_kernel

KERNELS_DIR = Path(__file__).resolve().parents[1] / "kernels"
PLUGIN_DIR = KERNELS_DIR / "plugin"
HAS_CUDA = torch.cuda.is_available()

CLAY = dict(kernel_size=8, stride=8, padding=0, weight_scale=0.02, bias_scale=1.0)
DOFA = dict(kernel_size=16, stride=16, padding=1, weight_scale=0.01, bias_scale=0.01)

# fp32: only summation order differs from conv2d. fp16 inputs: products and sums are fp32, so the one
# extra error is rounding the output to fp16 (half an ulp, 2**-11 relative).
TOLERANCES = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float16: dict(rtol=1e-3, atol=1e-5)}


def make_inputs(
    batch: int,
    bands: int,
    height: int,
    width: int,
    dim: int,
    kernel_size: int,
    dtype: torch.dtype,
    weight_dtype: torch.dtype | None = None,
    device: str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random pixels, weight and bias, reproducible per shape."""
    generator = torch.Generator().manual_seed(batch * 1000 + bands * 100 + height + width + kernel_size)
    weight_dtype = weight_dtype or dtype
    pixels = torch.randn(batch, bands, height, width, generator=generator).to(dtype)
    weight = torch.randn(dim, bands, kernel_size, kernel_size, generator=generator).to(weight_dtype)
    bias = torch.randn(dim, generator=generator).to(weight_dtype)
    return pixels.to(device), weight.to(device), bias.to(device)


def assert_matches_conv2d(
    actual: torch.Tensor,
    pixels: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    kernel_size: int,
    stride: int,
    padding: int,
    weight_scale: float,
    bias_scale: float,
) -> None:
    """Compare with fp32 conv2d on exactly the operands the GEMM multiplies (weight in the pixels dtype)."""
    operand_weight = weight.to(pixels.dtype).float().cpu()
    expected = F.conv2d(
        pixels.float().cpu(),
        operand_weight * weight_scale,
        bias.float().cpu() * bias_scale,
        stride=stride,
        padding=padding,
    )
    assert actual.dtype == pixels.dtype
    torch.testing.assert_close(actual.float().cpu(), expected, **TOLERANCES[pixels.dtype])


# --------------------------------------------------------------------------------------------------------
# CPU reference (the specification)


@pytest.mark.parametrize("bands", range(1, 17))
def test_reference_matches_conv2d_for_every_band_count(bands: int) -> None:
    pixels, weight, bias = make_inputs(3, bands, 24, 40, 32, 8, torch.float32)
    out = patch_embed_reference(pixels, weight, bias, **CLAY)
    assert out.shape == (3, 32, 3, 5)
    assert_matches_conv2d(out, pixels, weight, bias, **CLAY)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
@pytest.mark.parametrize("batch", [1, 3, 5])
@pytest.mark.parametrize("padding", [0, 1])
@pytest.mark.parametrize("kernel_size", [8, 16])
def test_reference_matches_conv2d_for_patch_size_padding_batch_and_dtype(
    kernel_size: int, padding: int, batch: int, dtype: torch.dtype
) -> None:
    # Non-square and not a multiple of the patch: the floor in Ho/Wo drops the remainder.
    height, width = 2 * kernel_size + 3, 3 * kernel_size + 5
    pixels, weight, bias = make_inputs(batch, 6, height, width, 24, kernel_size, dtype)
    attrs = dict(
        kernel_size=kernel_size, stride=kernel_size, padding=padding, weight_scale=0.05, bias_scale=0.5
    )
    out = patch_embed_reference(pixels, weight, bias, **attrs)
    assert_matches_conv2d(out, pixels, weight, bias, **attrs)


@pytest.mark.parametrize("attrs", [CLAY, DOFA], ids=["clay", "dofa"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
def test_reference_applies_clay_and_dofa_weight_and_bias_scales(attrs: dict, dtype: torch.dtype) -> None:
    pixels, weight, bias = make_inputs(2, 10, 48, 32, 16, attrs["kernel_size"], dtype)
    out = patch_embed_reference(pixels, weight, bias, **attrs)
    assert_matches_conv2d(out, pixels, weight, bias, **attrs)


def test_reference_with_fp16_pixels_rounds_fp32_weight_to_fp16_and_accumulates_in_fp32() -> None:
    pixels, weight, bias = make_inputs(3, 13, 32, 24, 16, 8, torch.float16, weight_dtype=torch.float32)
    out = patch_embed_reference(pixels, weight, bias, **CLAY)
    assert out.dtype == torch.float16
    assert_matches_conv2d(out, pixels, weight, bias, **CLAY)


def test_reference_output_size_is_torch_conv_output_size() -> None:
    for size in range(16, 70):
        for kernel_size, padding in ((8, 0), (16, 1), (8, 1)):
            expected = F.conv2d(
                torch.zeros(1, 1, size, 1),
                torch.zeros(1, 1, kernel_size, 1),
                stride=kernel_size,
                padding=(padding, 0),
            )
            assert conv_output_size(size, kernel_size, kernel_size, padding) == expected.shape[2]


def test_reference_rejects_weight_with_a_different_band_count() -> None:
    pixels, _, bias = make_inputs(1, 4, 16, 16, 8, 8, torch.float32)
    weight = torch.zeros(8, 5, 8, 8)
    with pytest.raises(ValueError, match="bands"):
        patch_embed_reference(pixels, weight, bias, **CLAY)


def test_reference_rejects_unsupported_dtypes_and_too_small_images() -> None:
    pixels, weight, bias = make_inputs(1, 2, 16, 16, 8, 8, torch.float32)
    with pytest.raises(TypeError, match="pixels"):
        patch_embed_reference(pixels.to(torch.bfloat16), weight, bias, **CLAY)
    with pytest.raises(TypeError, match="weight"):
        patch_embed_reference(pixels, weight.half(), bias, **CLAY)
    with pytest.raises(ValueError, match="smaller"):
        patch_embed_reference(pixels[:, :, :7], weight, bias, **CLAY)


# --------------------------------------------------------------------------------------------------------
# Triton kernel: compiled on a GPU, Triton's interpreter on CPU (small shapes: the interpreter is slow)

TRITON_DEVICE = "cuda" if HAS_CUDA else "cpu"
needs_triton = pytest.mark.skipif(
    not triton_available(), reason="triton is not installed (pip install triton)"
)


@pytest.fixture(scope="module")
def triton_kernel() -> None:
    """Load the kernel for this machine. conftest.py sets TRITON_INTERPRET before anything imports triton,
    so a failure here is a real failure, not a reason to skip."""
    load_triton_kernel(interpret=TRITON_DEVICE == "cpu")


@needs_triton
@pytest.mark.parametrize("bands", [1, 2, 3, 4, 6, 10, 13, 16])
def test_triton_kernel_matches_conv2d_for_band_counts(triton_kernel: None, bands: int) -> None:
    # 5 x 3 x 5 = 75 output positions and D = 80: more than one 64 x 64 tile in both GEMM dimensions.
    pixels, weight, bias = make_inputs(5, bands, 24, 40, 80, 8, torch.float32, device=TRITON_DEVICE)
    out = patch_embed_triton(pixels, weight, bias, **CLAY)
    assert_matches_conv2d(out, pixels, weight, bias, **CLAY)


@needs_triton
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
@pytest.mark.parametrize("padding", [0, 1])
@pytest.mark.parametrize("kernel_size", [8, 16])
def test_triton_kernel_matches_conv2d_for_patch_size_padding_and_dtype(
    triton_kernel: None, kernel_size: int, padding: int, dtype: torch.dtype
) -> None:
    height, width = 2 * kernel_size + 3, 3 * kernel_size + 1
    pixels, weight, bias = make_inputs(3, 5, height, width, 24, kernel_size, dtype, device=TRITON_DEVICE)
    attrs = dict(
        kernel_size=kernel_size, stride=kernel_size, padding=padding, weight_scale=0.01, bias_scale=0.01
    )
    out = patch_embed_triton(pixels, weight, bias, **attrs)
    assert_matches_conv2d(out, pixels, weight, bias, **attrs)


@needs_triton
def test_triton_kernel_takes_fp32_weight_and_bias_with_fp16_pixels(triton_kernel: None) -> None:
    pixels, weight, bias = make_inputs(
        1, 10, 16, 24, 32, 8, torch.float16, torch.float32, device=TRITON_DEVICE
    )
    out = patch_embed_triton(pixels, weight, bias, **CLAY)
    assert_matches_conv2d(out, pixels, weight, bias, **CLAY)


@needs_triton
def test_triton_kernel_compiles_to_ptx_with_the_tensorrt_aot_argument_list(tmp_path: Path) -> None:
    # A fresh process: this one may hold the interpreter, and PTX needs the compiling @triton.jit.
    script = textwrap.dedent(
        """
        import json, re, subprocess, sys
        from pathlib import Path
        import torch, triton
        from trtbench.kernels.triton_patch_embed import compile_triton_ptx
        results = []
        for pixels, weight in ((torch.float32, torch.float32), (torch.float16, torch.float32)):
            kernel = compile_triton_ptx(pixels, weight, weight, 16, 16, 1, 0.01, 0.01, compute_capability=80)
            header = re.search(r"\\.entry\\s+" + kernel.name + r"\\s*\\((.*?)\\)", kernel.ptx, re.S).group(1)
            ptxas = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
            status = None
            if ptxas.exists():
                path = Path(sys.argv[1]) / "kernel.ptx"
                path.write_text(kernel.ptx)
                status = subprocess.run([str(ptxas), "-arch=sm_80", str(path), "-o", str(path.with_suffix(".cubin"))],
                                        capture_output=True, text=True).returncode
            results.append({"params": header.count(".param"), "ptxas": status, "block": kernel.num_warps * 32})
        print(json.dumps(results))
        """
    )
    env = {**os.environ, "TRITON_INTERPRET": "0", "TRITON_DEFAULT_FP_FUSION": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for result in json.loads(done.stdout.strip().splitlines()[-1]):
        # pixels, weight, bias, 7 int32 shapes, out: what TensorRT passes, no hidden scratch pointers
        assert result["params"] == 11
        assert result["ptxas"] in (0, None)
        assert result["block"] > 0


def test_dropping_ptx_parameters_refuses_a_parameter_the_kernel_reads() -> None:
    ptx = ".visible .entry k(\n\t.param .u64 k_param_0,\n\t.param .u64 k_param_1\n)\n{\n\tld.param.b64 %rd1, [k_param_1];\n}\n"
    with pytest.raises(ValueError, match="k_param_1"):
        drop_trailing_params(ptx, "k", keep=1)
    unused = ptx.replace("[k_param_1]", "[k_param_0]")
    assert "k_param_1" not in drop_trailing_params(unused, "k", keep=1).split("{")[0]


# --------------------------------------------------------------------------------------------------------
# Packaging and loading


def test_package_imports_neither_triton_nor_tensorrt_and_reports_missing_triton() -> None:
    script = textwrap.dedent(
        """
        import sys
        import torch
        import trtbench.kernels as kernels
        assert "triton" not in sys.modules and "tensorrt" not in sys.modules  # both imported lazily
        sys.modules["triton"] = None  # as if triton were not installed: find_spec and import fail
        assert not kernels.triton_available()
        pixels = torch.zeros(1, 1, 8, 8)
        try:
            kernels.patch_embed_triton(pixels, torch.zeros(2, 1, 8, 8), torch.zeros(2), 8, 8, 0, 0.02, 1.0)
        except ModuleNotFoundError as error:
            assert "pip install triton" in str(error)
        else:
            raise AssertionError("expected ModuleNotFoundError")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def test_plugin_library_path_explains_how_to_build_when_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="cmake"):
        plugin_library_path(tmp_path)


def test_plugin_library_path_finds_the_built_library(tmp_path: Path) -> None:
    library = tmp_path / ("trtbench_plugins.dll" if sys.platform == "win32" else "libtrtbench_plugins.so")
    library.write_bytes(b"")
    assert plugin_library_path(tmp_path) == library


def test_load_plugin_library_rejects_a_missing_file_before_touching_tensorrt(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_plugin_library(tmp_path / "libtrtbench_plugins.so")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (CUDA toolkit) is not installed")
def test_cuda_kernel_source_compiles_with_nvcc(tmp_path: Path) -> None:
    source = PLUGIN_DIR / "dynamic_patch_embed_kernel.cu"
    command = ["nvcc", "-c", "-std=c++17", "-arch=sm_80", str(source), "-o", str(tmp_path / "kernel.o")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


# --------------------------------------------------------------------------------------------------------
# TensorRT (GPU only)


def _tensorrt_skip_reason() -> str | None:
    if not HAS_CUDA:
        return "needs an NVIDIA GPU (torch.cuda.is_available() is False)"
    if importlib.util.find_spec("tensorrt") is None:
        return "needs the tensorrt Python package"
    return None


needs_tensorrt = pytest.mark.skipif(_tensorrt_skip_reason() is not None, reason=_tensorrt_skip_reason() or "")


def _patch_embed_onnx(dtype: torch.dtype, dim: int, attrs: dict) -> bytes:
    """One-node ONNX model: DynamicPatchEmbed in domain trtbench, dynamic B, C, H, W."""
    from onnx import TensorProto, helper

    elem = TensorProto.FLOAT if dtype == torch.float32 else TensorProto.FLOAT16
    k = attrs["kernel_size"]
    node = helper.make_node(
        "DynamicPatchEmbed",
        ["pixels", "weight", "bias"],
        ["out"],
        domain="trtbench",
        plugin_namespace="trtbench",
        plugin_version="1",
        **attrs,
    )
    graph = helper.make_graph(
        [node],
        "patch_embed",
        [
            helper.make_tensor_value_info("pixels", elem, ["B", "C", "H", "W"]),
            helper.make_tensor_value_info("weight", elem, [dim, "C", k, k]),
            helper.make_tensor_value_info("bias", elem, [dim]),
        ],
        [helper.make_tensor_value_info("out", elem, ["B", dim, "Ho", "Wo"])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("trtbench", 1)]
    )
    return model.SerializeToString()


def _build_engine(dtype: torch.dtype, dim: int, attrs: dict, height: int, width: int):
    """Parse the one-node model and build an engine whose profile takes 1..16 bands and batch 1..4."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)  # TRT 11: always typed
    network = builder.create_network(0 if typed is None else 1 << int(typed))
    parser = trt.OnnxParser(network, logger)
    ok = parser.parse(_patch_embed_onnx(dtype, dim, attrs))
    assert ok, [str(parser.get_error(i)) for i in range(parser.num_errors)]
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    k = attrs["kernel_size"]
    profile.set_shape("pixels", (1, 1, height, width), (2, 10, height, width), (4, 16, height, width))
    profile.set_shape("weight", (dim, 1, k, k), (dim, 10, k, k), (dim, 16, k, k))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    assert plan is not None, "TensorRT engine build failed (see the log above)"
    return trt.Runtime(logger).deserialize_cuda_engine(plan)


def _run_engine(engine, inputs: dict[str, torch.Tensor], out_dtype: torch.dtype) -> torch.Tensor:
    """Run once on CUDA tensors, with input shapes set for this call."""
    context = engine.create_execution_context()
    for name, tensor in inputs.items():
        context.set_input_shape(name, tuple(tensor.shape))
        context.set_tensor_address(name, tensor.data_ptr())
    out = torch.empty(tuple(context.get_tensor_shape("out")), dtype=out_dtype, device="cuda")
    context.set_tensor_address("out", out.data_ptr())
    assert context.execute_async_v3(torch.cuda.current_stream().cuda_stream)
    torch.cuda.synchronize()
    return out


def _check_engine_for_band_counts(dtype: torch.dtype, band_counts: tuple[int, ...]) -> None:
    """One engine, several band counts chosen at run time, each equal to the reference."""
    height, width, dim = 40, 24, 32
    engine = _build_engine(dtype, dim, CLAY, height, width)
    for bands in band_counts:
        pixels, weight, bias = make_inputs(3, bands, height, width, dim, 8, dtype, device="cuda")
        out = _run_engine(engine, {"pixels": pixels, "weight": weight, "bias": bias}, dtype)
        expected = patch_embed_reference(pixels.cpu(), weight.cpu(), bias.cpu(), **CLAY)
        torch.testing.assert_close(out.float().cpu(), expected.float(), **TOLERANCES[dtype])


@pytest.fixture(scope="module")
def cpp_plugin_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build kernels/plugin with CMake against $TensorRT_ROOT. Not loaded here: see ``run_isolated``."""
    if shutil.which("cmake") is None or shutil.which("nvcc") is None:
        pytest.skip("building the plugin needs cmake and nvcc")
    build = tmp_path_factory.mktemp("plugin_build")
    configure = ["cmake", "-S", str(PLUGIN_DIR), "-B", str(build)]
    if os.environ.get("TensorRT_ROOT"):
        configure.append(f"-DTensorRT_ROOT={os.environ['TensorRT_ROOT']}")
    done = subprocess.run(configure, capture_output=True, text=True)
    if done.returncode != 0 and "TensorRT headers not found" in done.stderr:
        pytest.skip("TensorRT headers not found: set TensorRT_ROOT to a TensorRT install with include/")
    assert done.returncode == 0, done.stderr[-3000:]
    done = subprocess.run(["cmake", "--build", str(build), "-j2"], capture_output=True, text=True)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return plugin_library_path(build)


def _engines_match_reference_in_a_fresh_process(register: str, dtypes: tuple[str, ...], bands: tuple[int, ...]):
    """Register one plugin implementation in a new process and check its one-node engines there.

    The one-node model has no function body: without the registered plugin the parser refuses it, so a
    passing run is the plugin's own output.
    """
    from engine_helpers import run_isolated  # here: the kernel tests import nothing of trtbench's ONNX side

    out = run_isolated(f"""
        import os
        os.environ["TRITON_INTERPRET"] = "0"          # the AOT plugin compiles the Triton kernel for the GPU
        import torch
        {register}
        from test_kernels import _check_engine_for_band_counts
        for dtype in {dtypes!r}:
            _check_engine_for_band_counts(getattr(torch, dtype), {bands!r})
        print("engines match the reference")
    """)
    assert "engines match the reference" in out


@pytest.mark.gpu
@needs_tensorrt
def test_cpp_plugin_engine_matches_reference_for_runtime_band_counts(cpp_plugin_library: Path) -> None:
    _engines_match_reference_in_a_fresh_process(
        f"from trtbench.kernels import load_plugin_library; load_plugin_library({str(cpp_plugin_library)!r})",
        ("float32", "float16"), (4, 13))


@pytest.mark.gpu
@needs_tensorrt
@pytest.mark.skipif(
    not triton_available(), reason="the Python AOT plugin compiles the Triton kernel: needs triton"
)
def test_python_aot_plugin_engine_matches_reference() -> None:
    _engines_match_reference_in_a_fresh_process(
        "from trtbench.kernels.trt_python_plugin import register_python_plugin; register_python_plugin()",
        ("float32", "float16"), (3, 10))


class SymbolicDim:
    """A dimension as tensorrt.plugin's shape expressions see it: a value, plus a log of every constant used."""

    def __init__(self, value: int, constants: list[int]):
        self.value, self.constants = value, constants

    def _apply(self, other: int | SymbolicDim, op) -> SymbolicDim:
        if isinstance(other, int):
            self.constants.append(other)
            return SymbolicDim(op(self.value, other), self.constants)
        return SymbolicDim(op(self.value, other.value), self.constants)

    def __add__(self, other):
        return self._apply(other, operator.add)

    def __sub__(self, other):
        return self._apply(other, operator.sub)

    def __floordiv__(self, other):
        return self._apply(other, operator.floordiv)


@pytest.fixture
def python_plugin_shape_function(monkeypatch: pytest.MonkeyPatch):
    """The Python plugin's registered shape function, imported against stand-in tensorrt modules (CPU)."""
    registered: dict[str, object] = {}
    trtp = types.ModuleType("tensorrt.plugin")
    trtp.register = lambda plugin_id: lambda fn: registered.setdefault(plugin_id, fn)
    trtp.aot_impl = lambda plugin_id: lambda fn: fn
    for name in ("TensorDesc", "KernelLaunchParams", "SymExprs"):
        setattr(trtp, name, type(name, (), {}))
    trtp.from_shape_expr = lambda shape, dtype: tuple(shape)
    trt = types.ModuleType("tensorrt")
    trt.plugin, trt.float32, trt.float16 = trtp, "float32", "float16"
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "tensorrt.plugin", trtp)
    name = "trtbench.kernels.trt_python_plugin"
    monkeypatch.delitem(sys.modules, name, raising=False)
    module = importlib.import_module(name)
    module.register_python_plugin()
    yield registered[module.PLUGIN_ID]
    sys.modules.pop(name, None)   # the stand-in-backed module must not outlive the test
    vars(sys.modules["trtbench.kernels"]).pop("trt_python_plugin", None)


@pytest.mark.parametrize("attrs", [CLAY, DOFA], ids=["clay", "dofa"])
@pytest.mark.parametrize("height, width", [(40, 24), (224, 256), (33, 18)])
def test_python_plugin_output_shape_is_conv2ds_without_negative_constants(
    python_plugin_shape_function, attrs: dict, height: int, width: int
) -> None:
    constants: list[int] = []
    k = attrs["kernel_size"]
    pixels = types.SimpleNamespace(dtype="float32", shape_expr=tuple(
        SymbolicDim(v, constants) for v in (3, 10, height, width)))
    weight = types.SimpleNamespace(dtype="float32", shape_expr=tuple(SymbolicDim(v, constants) for v in (32, 10, k, k)))
    bias = types.SimpleNamespace(dtype="float32", shape_expr=(SymbolicDim(32, constants),))
    shape = python_plugin_shape_function(pixels, weight, bias, **attrs)
    expected = F.conv2d(torch.zeros(3, 10, height, width), torch.zeros(32, 10, k, k), stride=attrs["stride"],
                        padding=attrs["padding"]).shape
    assert tuple(d.value for d in shape) == tuple(expected)
    assert constants and min(constants) >= 0, f"negative constant in the output-size expression: {constants}"


def test_python_plugin_aot_impl_signature_is_the_one_tensorrt_validates() -> None:
    """tensorrt.plugin checks ``aot_impl`` against ``(inputs..., attributes..., outputs, tactic)`` at registration.

    The module imports tensorrt, so its source is read instead: the shape function's parameters plus
    ``outputs`` and ``tactic``, in that order, or registration fails on the GPU machine.
    """
    import ast

    source = (Path(__file__).resolve().parents[1] / "kernels" / "trt_python_plugin.py").read_text()
    functions = {node.name: [a.arg for a in node.args.args] for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.FunctionDef)}
    assert functions["_compile"] == [*functions["_describe"], "outputs", "tactic"]
