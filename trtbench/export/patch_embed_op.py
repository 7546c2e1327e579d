"""The ``trtbench::DynamicPatchEmbed`` operator on the export side: torch op, ONNX schema, ONNX local function.

A band-agnostic graph takes the band count at run time, so the patch embedding cannot be a ``Conv``
(TensorRT needs a convolution's channel count when it builds). It is one custom node instead:

* in PyTorch, the custom op ``torch.ops.trtbench.dynamic_patch_embed`` (eager: the kernels' reference;
  export: a fake implementation giving the output shape), translated by the dynamo exporter into
* one ONNX node ``trtbench::DynamicPatchEmbed(pixels, weight, bias)`` carrying the operator's parameters
  and TensorRT's plugin-lookup attributes, and
* an ONNX local function of the same name whose body is the reference math in standard ops
  (Pad + patchify Reshape/Transpose + MatMul + bias). ONNX Runtime runs the body as is; TensorRT inlines
  it when no plugin is loaded, and swaps in the registered plugin (``kernels/``) when one is.

The body reads the node's attributes by reference (``@kernel_size``...), so the function is the
operator's definition, not a copy specialised to one call. It implements stride == kernel_size (every
patch embedding: Clay 8/8, DOFA 16/16); :func:`check_params` refuses anything else.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx
import onnx.parser
import torch
from onnx.defs import OpSchema

from ..errors import TrtbenchError

DOMAIN = "trtbench"
OP_TYPE = "DynamicPatchEmbed"
DOMAIN_VERSION = 1
PLUGIN_VERSION = "1"
PLUGIN_NAMESPACE = "trtbench"


@dataclass(frozen=True)
class PatchEmbedParams:
    """The operator's attributes: geometry and the scales applied to the generated weight and bias."""

    kernel_size: int
    stride: int
    padding: int
    weight_scale: float
    bias_scale: float

    def attributes(self) -> dict[str, int | float | str]:
        """Node attributes, typed as TensorRT's plugin fallback maps them (INT->INT32, FLOAT, STRING->CHAR)."""
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "weight_scale": float(self.weight_scale), "bias_scale": float(self.bias_scale),
                "plugin_version": PLUGIN_VERSION, "plugin_namespace": PLUGIN_NAMESPACE}


# Clay: µm wavelengths, weight scaled by 0.02, bias unscaled, no padding, patch 8.
CLAY = PatchEmbedParams(kernel_size=8, stride=8, padding=0, weight_scale=0.02, bias_scale=1.0)
# DOFA (torchgeo): ×1000 inside its generator, weight and bias scaled by 0.01, padding 1, patch 16.
DOFA = PatchEmbedParams(kernel_size=16, stride=16, padding=1, weight_scale=0.01, bias_scale=0.01)


def check_params(params: PatchEmbedParams) -> None:
    if params.stride != params.kernel_size:
        raise TrtbenchError(f"DynamicPatchEmbed's ONNX body is a patchify (stride == kernel_size), got stride "
                            f"{params.stride} with kernel {params.kernel_size}", "use stride == kernel_size")
    if params.kernel_size < 1 or params.padding < 0:
        raise TrtbenchError(f"invalid patch geometry: kernel {params.kernel_size}, padding {params.padding}",
                            "use kernel_size >= 1 and padding >= 0")


# --- PyTorch ------------------------------------------------------------------------------------------------

@torch.library.custom_op("trtbench::dynamic_patch_embed", mutates_args=())
def dynamic_patch_embed(pixels: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, kernel_size: int,
                        stride: int, padding: int, weight_scale: float, bias_scale: float) -> torch.Tensor:
    """``conv2d(pixels, weight * weight_scale, bias * bias_scale, stride, padding)`` with runtime weights."""
    from ..kernels import patch_embed_reference

    return patch_embed_reference(pixels, weight, bias, kernel_size, stride, padding, weight_scale, bias_scale)


@dynamic_patch_embed.register_fake
def _(pixels: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, kernel_size: int, stride: int,
      padding: int, weight_scale: float, bias_scale: float) -> torch.Tensor:
    batch, _, height, width = pixels.shape
    out_h = (height + 2 * padding - kernel_size) // stride + 1
    out_w = (width + 2 * padding - kernel_size) // stride + 1
    return pixels.new_empty(batch, weight.shape[0], out_h, out_w)


# --- ONNX ---------------------------------------------------------------------------------------------------

def _schema() -> OpSchema:
    attr = OpSchema.Attribute
    types = OpSchema.AttrType
    return OpSchema(
        OP_TYPE, DOMAIN, DOMAIN_VERSION,
        doc="conv2d(pixels, weight * weight_scale, bias * bias_scale, stride, padding) with runtime weights",
        inputs=[OpSchema.FormalParameter("pixels", "T"), OpSchema.FormalParameter("weight", "T"),
                OpSchema.FormalParameter("bias", "T")],
        outputs=[OpSchema.FormalParameter("out", "T")],
        type_constraints=[("T", ["tensor(float)", "tensor(float16)"], "pixels, weight and bias")],
        attributes=[attr("kernel_size", types.INT, "patch edge"), attr("stride", types.INT, "== kernel_size"),
                    attr("padding", types.INT, "zero padding on each side"),
                    attr("weight_scale", types.FLOAT, "multiplies the accumulator"),
                    attr("bias_scale", types.FLOAT, "multiplies the bias"),
                    attr("plugin_version", types.STRING, "TensorRT plugin version"),
                    attr("plugin_namespace", types.STRING, "TensorRT plugin namespace")],
    )


SCHEMA = _schema()

# The body, in ONNX's text syntax. `@name` reads the calling node's attribute. Shapes come from the
# input at run time, so the band count C, batch and image size are all free.
_FUNCTION_TEXT = f"""
<domain: "{DOMAIN}", opset_import: ["" : 18]>
{OP_TYPE} <kernel_size, stride, padding, weight_scale, bias_scale, plugin_version, plugin_namespace>
    (pixels, weight, bias) => (out)
{{
    k0 = Constant <value_int: int = @kernel_size> ()
    p0 = Constant <value_int: int = @padding> ()
    wscale = Constant <value_float: float = @weight_scale> ()
    bscale = Constant <value_float: float = @bias_scale> ()
    zero = Constant <value_ints = [0]> ()
    one = Constant <value_ints = [1]> ()
    two = Constant <value_ints = [2]> ()
    infer = Constant <value_ints = [-1]> ()
    zeros2 = Constant <value_ints = [0, 0]> ()
    hw_axes = Constant <value_ints = [2, 3]> ()
    k = Unsqueeze (k0, zero)
    p = Unsqueeze (p0, zero)

    pads = Concat <axis = 0> (zeros2, p, p, zeros2, p, p)
    padded = Pad (pixels, pads)
    shape = Shape (padded)
    hw = Gather (shape, hw_axes)
    grid = Div (hw, k)
    gh = Slice (grid, zero, one)
    gw = Slice (grid, one, two)
    covered = Mul (grid, k)
    cropped = Slice (padded, zeros2, covered, hw_axes)

    split_shape = Concat <axis = 0> (zero, zero, gh, k, gw, k)
    split = Reshape (cropped, split_shape)
    moved = Transpose <perm = [0, 2, 4, 1, 3, 5]> (split)
    count = Mul (gh, gw)
    rows = Concat <axis = 0> (zero, count, infer)
    patches = Reshape (moved, rows)

    flat_shape = Concat <axis = 0> (zero, infer)
    flat_weight = Reshape (weight, flat_shape)
    gemm_weight = Transpose <perm = [1, 0]> (flat_weight)
    acc = MatMul (patches, gemm_weight)
    wscale_t = CastLike (wscale, acc)
    scaled = Mul (acc, wscale_t)
    bscale_t = CastLike (bscale, bias)
    bias_t = Mul (bias, bscale_t)
    tokens = Add (scaled, bias_t)

    grid_shape = Concat <axis = 0> (zero, gh, gw, infer)
    token_grid = Reshape (tokens, grid_shape)
    out = Transpose <perm = [0, 3, 1, 2]> (token_grid)
}}
"""


def function_proto() -> onnx.FunctionProto:
    """The operator as an ONNX local function (add it to ``model.functions``)."""
    return onnx.parser.parse_function(_FUNCTION_TEXT)


def attach_function(model: onnx.ModelProto) -> None:
    """Ship the operator's local function and import its domain, so the model is self-contained."""
    if not any(f.domain == DOMAIN and f.name == OP_TYPE for f in model.functions):
        model.functions.append(function_proto())
    if not any(o.domain == DOMAIN for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid(DOMAIN, DOMAIN_VERSION))


def make_node(inputs: list[str], output: str, params: PatchEmbedParams, name: str = "") -> onnx.NodeProto:
    """One ``DynamicPatchEmbed`` node (for graphs built by hand, e.g. tests of the function itself)."""
    check_params(params)
    return onnx.helper.make_node(OP_TYPE, inputs, [output], name=name or OP_TYPE, domain=DOMAIN,
                                 **params.attributes())


def onnx_translation():
    """The dynamo exporter's translation of the torch op: one custom-domain node with the attributes."""
    from onnxscript import values

    op = values.Op(values.Opset(DOMAIN, DOMAIN_VERSION), OP_TYPE, SCHEMA)

    def translate(pixels, weight, bias, kernel_size: int, stride: int, padding: int, weight_scale: float,
                  bias_scale: float):
        params = PatchEmbedParams(kernel_size, stride, padding, weight_scale, bias_scale)
        return op(pixels, weight, bias, **params.attributes())

    return {torch.ops.trtbench.dynamic_patch_embed.default: translate}
