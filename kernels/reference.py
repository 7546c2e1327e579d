"""CPU reference for the ``trtbench::DynamicPatchEmbed`` operator: the executable specification.

Clay's and DOFA's patch embedding is a convolution with stride == kernel whose weights are generated at run
time from the band wavelengths, so the band count C is not known when a TensorRT engine is built (a TensorRT
convolution needs a build-time channel count). The operator is therefore written as

    zero-pad -> patchify to [B*Ho*Wo, C*k*k] -> GEMM with weight viewed as [D, C*k*k] -> scale -> + bias

and every implementation (this reference, the Triton kernel, the CUDA kernel behind the TensorRT plugin)
uses the same index arithmetic, spelled out in :func:`patch_embed_reference`. Numerics, identical in all
three:

* GEMM operands are in the pixels dtype: an fp32 weight is rounded to fp16 when the pixels are fp16, as
  a half-precision tensor-core GEMM would do. Products and sums are fp32 (fp16*fp16 is exact in fp32).
* ``weight_scale`` multiplies the fp32 accumulator instead of the weight, so a small scale (0.01) cannot
  push fp16 weights into subnormals; mathematically this equals ``conv2d(x, weight * weight_scale, ...)``.
* The bias is added in fp32 (``bias * bias_scale``), then the result is cast to the pixels dtype.

This module is the specification, not a fast path: it materialises the [B*Ho*Wo, C*k*k] patch matrix.
"""

from __future__ import annotations

from typing import Any

import torch

SUPPORTED_DTYPES = (torch.float32, torch.float16)


def conv_output_size(size: Any, kernel_size: int, stride: int, padding: int) -> Any:
    """Spatial output size of the convolution: floor((size + 2p - k) / stride) + 1 (torch's formula).

    ``size`` may also be a symbolic dimension (TensorRT's plugin shape expressions): the offset is added when
    positive and subtracted as a positive constant otherwise, so no expression ever holds a negative constant
    (the C++ plugin's ``getOutputShapes`` does the same).
    """
    offset = 2 * padding - kernel_size
    padded = size + offset if offset >= 0 else size - (-offset)
    return padded // stride + 1


def check_patch_embed_args(
    pixels: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    kernel_size: int,
    stride: int,
    padding: int,
) -> tuple[int, int, int, int, int, int, int]:
    """Validate the operator's inputs and return (B, C, H, W, D, Ho, Wo).

    Shared by every Python entry point so that a bad call fails the same way, with a message naming the
    offending tensor, instead of as an out-of-bounds read inside a kernel.
    """
    if kernel_size < 1 or stride < 1 or padding < 0:
        raise ValueError(
            f"need kernel_size >= 1, stride >= 1, padding >= 0; got {kernel_size}, {stride}, {padding}"
        )
    if pixels.ndim != 4 or weight.ndim != 4 or bias.ndim != 1:
        raise ValueError(
            f"expected pixels [B,C,H,W], weight [D,C,k,k], bias [D]; got shapes "
            f"{tuple(pixels.shape)}, {tuple(weight.shape)}, {tuple(bias.shape)}"
        )
    if pixels.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"pixels must be float32 or float16, got {pixels.dtype}")
    for name, tensor in (("weight", weight), ("bias", bias)):
        if tensor.dtype not in (pixels.dtype, torch.float32):
            raise TypeError(f"{name} must be {pixels.dtype} or float32, got {tensor.dtype}")
    batch, channels, height, width = pixels.shape
    dim = weight.shape[0]
    if tuple(weight.shape[1:]) != (channels, kernel_size, kernel_size):
        raise ValueError(
            f"weight must be [D, {channels}, {kernel_size}, {kernel_size}] for {channels} bands, "
            f"got {tuple(weight.shape)}"
        )
    if bias.shape[0] != dim:
        raise ValueError(f"bias must have {dim} elements (weight's D), got {bias.shape[0]}")
    out_h = conv_output_size(height, kernel_size, stride, padding)
    out_w = conv_output_size(width, kernel_size, stride, padding)
    if out_h < 1 or out_w < 1:
        raise ValueError(
            f"image {height}x{width} with padding {padding} is smaller than the {kernel_size}px patch"
        )
    return batch, channels, height, width, dim, out_h, out_w


def patchify_indices(
    shape: tuple[int, int, int, int], kernel_size: int, stride: int, padding: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat pixel offsets and in-bounds mask of the [B*Ho*Wo, C*k*k] patch matrix.

    Row m = (b*Ho + oh)*Wo + ow is one output position, column kk = (c*k + i)*k + j one input tap; the tap
    reads pixel (b, c, oh*stride - padding + i, ow*stride - padding + j), or zero where that lies in the
    padding. This is the index arithmetic every kernel implements.
    """
    batch, channels, height, width = shape
    k = kernel_size
    out_h = conv_output_size(height, k, stride, padding)
    out_w = conv_output_size(width, k, stride, padding)
    m = torch.arange(batch * out_h * out_w).unsqueeze(1)
    kk = torch.arange(channels * k * k).unsqueeze(0)
    b, ow = m // (out_h * out_w), m % out_w
    oh = (m // out_w) % out_h
    c, i, j = kk // (k * k), (kk // k) % k, kk % k
    h = oh * stride - padding + i
    w = ow * stride - padding + j
    inside = (h >= 0) & (h < height) & (w >= 0) & (w < width)
    offsets = ((b * channels + c) * height + h) * width + w
    return torch.where(inside, offsets, 0), inside


def patch_embed_reference(
    pixels: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    kernel_size: int,
    stride: int,
    padding: int,
    weight_scale: float,
    bias_scale: float,
) -> torch.Tensor:
    """``conv2d(pixels, weight * weight_scale, bias * bias_scale, stride, padding)`` as explicit patchify + GEMM.

    Args:
        pixels: [B, C, H, W], float32 or float16.
        weight: [D, C, k, k], the pixels dtype or float32 (generated at run time from wavelengths).
        bias: [D], the pixels dtype or float32.
        kernel_size, stride, padding: convolution geometry (Clay 8/8/0, DOFA 16/16/1).
        weight_scale, bias_scale: Clay 0.02/1.0, DOFA 0.01/0.01.

    Returns:
        [B, D, Ho, Wo] in the pixels dtype, computed with fp32 accumulation (see the module docstring).
    """
    batch, channels, height, width, dim, out_h, out_w = check_patch_embed_args(
        pixels, weight, bias, kernel_size, stride, padding
    )
    offsets, inside = patchify_indices((batch, channels, height, width), kernel_size, stride, padding)
    flat = pixels.contiguous().reshape(-1)
    patches = torch.where(inside, flat[offsets], torch.zeros((), dtype=pixels.dtype))
    # Round the weight to the GEMM operand dtype first, then compute in fp32: the products of two fp16
    # values are exact in fp32, so this is an fp16-input, fp32-accumulate GEMM.
    gemm_weight = weight.reshape(dim, -1).to(pixels.dtype).float()
    acc = patches.float() @ gemm_weight.T
    out = acc * weight_scale + bias.float() * bias_scale
    return out.reshape(batch, out_h, out_w, dim).permute(0, 3, 1, 2).contiguous().to(pixels.dtype)
