"""DynamicPatchEmbed as a TensorRT Python plugin (``tensorrt.plugin``) backed by the Triton kernel, AOT.

An alternative to the C++ plugin in ``plugin/`` that needs no C++ toolchain: :func:`register_python_plugin`
registers ``trtbench::DynamicPatchEmbed`` (plugin name ``DynamicPatchEmbed``, namespace ``trtbench``,
version "1", the same identity as the C++ plugin, so register only one of the two in a process). Its
``aot_impl`` compiles the Triton kernel to PTX while the engine is built; the PTX is stored in the engine
and launched by TensorRT directly, with no Python at inference time.

GPU machines only: importing this module imports tensorrt and triton (TensorRT >= 10.9 for ``aot_impl``).
The ONNX parser finds the plugin for a node with op_type ``DynamicPatchEmbed`` and the string attribute
``plugin_namespace="trtbench"``. If an ``impl`` is also registered for the same id elsewhere, the network
needs ``NetworkDefinitionCreationFlag.PREFER_AOT_PYTHON_PLUGINS`` to pick this one.
"""

# No ``from __future__ import annotations``: tensorrt.plugin reads these annotations at registration and
# compares them with its own types, so they must stay real objects, spelled as in NVIDIA's documentation.
import functools
from typing import Tuple, Union  # noqa: UP035

import tensorrt as trt
import tensorrt.plugin as trtp
import torch

from .reference import conv_output_size
from .triton_patch_embed import BLOCK_M, BLOCK_N, compile_triton_ptx

PLUGIN_ID = "trtbench::DynamicPatchEmbed"

_TORCH_DTYPES = {trt.float32: torch.float32, trt.float16: torch.float16}


@functools.cache
def register_python_plugin() -> None:
    """Register the shape function and AOT implementation with TensorRT (once per process)."""

    @trtp.register(PLUGIN_ID)
    def _describe(
        pixels: trtp.TensorDesc,
        weight: trtp.TensorDesc,
        bias: trtp.TensorDesc,
        kernel_size: int,
        stride: int,
        padding: int,
        weight_scale: float,
        bias_scale: float,
    ) -> trtp.TensorDesc:
        # [B, C, H, W] x [D, C, k, k] -> [B, D, Ho, Wo] with Ho = (H + 2p - k) // stride + 1; B, C, H, W dynamic.
        # conv_output_size subtracts a positive constant rather than adding a negative one, as the C++ plugin.
        batch, _, height, width = pixels.shape_expr
        out_h = conv_output_size(height, kernel_size, stride, padding)
        out_w = conv_output_size(width, kernel_size, stride, padding)
        return trtp.from_shape_expr((batch, weight.shape_expr[0], out_h, out_w), dtype=pixels.dtype)

    @trtp.aot_impl(PLUGIN_ID)
    def _compile(
        pixels: trtp.TensorDesc,
        weight: trtp.TensorDesc,
        bias: trtp.TensorDesc,
        kernel_size: int,
        stride: int,
        padding: int,
        weight_scale: float,
        bias_scale: float,
        outputs: Tuple[trtp.TensorDesc],  # noqa: UP006
        tactic: int,  # required by the aot_impl signature check even without autotune; unused
    ) -> Tuple[Union[str, bytes], Union[str, bytes], trtp.KernelLaunchParams, trtp.SymExprs]:  # noqa: UP006, UP007
        dtypes = [_TORCH_DTYPES.get(t.dtype) for t in (pixels, weight, bias)]
        if dtypes[0] is None or any(d not in (dtypes[0], torch.float32) for d in dtypes[1:]):
            raise TypeError(f"{PLUGIN_ID}: unsupported dtypes {[t.dtype for t in (pixels, weight, bias)]}")
        major, minor = torch.cuda.get_device_capability()
        kernel = compile_triton_ptx(
            *dtypes,
            kernel_size,
            stride,
            padding,
            weight_scale,
            bias_scale,
            compute_capability=10 * major + minor,
        )

        batch, channels, height, width = pixels.shape_expr
        _, dim, out_h, out_w = outputs[0].shape_expr
        launch = trtp.KernelLaunchParams()
        launch.grid_x = trtp.cdiv(batch * out_h * out_w, BLOCK_M)
        launch.grid_y = trtp.cdiv(dim, BLOCK_N)
        launch.block_x = kernel.num_warps * 32
        launch.shared_mem = kernel.shared_mem
        # The kernel's int32 arguments, in its parameter order, resolved by TensorRT per input shape.
        shapes = trtp.SymIntExprs.from_tuple(
            [trtp.SymInt32(e) for e in (batch, channels, height, width, dim, out_h, out_w)]
        )
        return kernel.name.encode(), kernel.ptx.encode(), launch, shapes
