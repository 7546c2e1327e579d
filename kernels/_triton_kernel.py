"""The Triton source of DynamicPatchEmbed: fused patchify + GEMM + scale + bias.

Imported only through :func:`trtbench.kernels.triton_patch_embed.load_triton_kernel`, because importing
this module imports triton, and because ``@triton.jit`` decides here, once, whether the kernel is compiled
for a GPU or run by Triton's CPU interpreter.

Parameter order is fixed by TensorRT's AOT Python plugins, which launch a kernel as
(input pointers..., int32 scalars..., output pointers...): keep it when editing.
"""

from __future__ import annotations

import triton
import triton.language as tl

# Whether @triton.jit below produced an interpreted (CPU) function; read when this module is imported.
INTERPRETED: bool = bool(triton.knobs.runtime.interpret)


@triton.jit
def patch_embed_kernel(
    pixels_ptr,  # [B, C, H, W], fp32 or fp16, contiguous
    weight_ptr,  # [D, C, k, k] == [D, K] row-major, pixels dtype or fp32
    bias_ptr,  # [D], pixels dtype or fp32
    batch,
    channels,
    height,
    width,
    dim,
    out_h,
    out_w,
    out_ptr,  # [B, D, Ho, Wo], pixels dtype
    KERNEL_SIZE: tl.constexpr,
    STRIDE: tl.constexpr,
    PADDING: tl.constexpr,
    WEIGHT_SCALE: tl.constexpr,
    BIAS_SCALE: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    # One program computes a BLOCK_M (output positions) x BLOCK_N (embedding channels) tile of the GEMM
    # [M = B*Ho*Wo, K = C*k*k] x [K, N = D]; the patch matrix is never materialised.
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    num_m = batch * out_h * out_w
    num_k = channels * KERNEL_SIZE * KERNEL_SIZE

    # int64 offsets: B*C*H*W exceeds 2**31 for large batches of large tiles.
    m = pid_m.to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    n = pid_n.to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    m_valid = m < num_m
    n_valid = n < dim

    # Row m = (b*Ho + oh)*Wo + ow, as in reference.patchify_indices.
    b = m // (out_h * out_w)
    oh = (m // out_w) % out_h
    ow = m % out_w
    row_h = oh * STRIDE - PADDING
    row_w = ow * STRIDE - PADDING
    row_base = b * channels * height * width

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, num_k, BLOCK_K):
        # Column kk = (c*k + i)*k + j reads pixel (b, c, oh*s - p + i, ow*s - p + j); padding reads zero.
        kk = k0 + tl.arange(0, BLOCK_K)
        k_valid = kk < num_k
        c = kk // (KERNEL_SIZE * KERNEL_SIZE)
        i = (kk // KERNEL_SIZE) % KERNEL_SIZE
        j = kk % KERNEL_SIZE
        h = row_h[:, None] + i[None, :]
        w = row_w[:, None] + j[None, :]
        a_mask = m_valid[:, None] & k_valid[None, :] & (h >= 0) & (h < height) & (w >= 0) & (w < width)
        a_offsets = row_base[:, None] + (c[None, :] * height + h) * width + w
        a = tl.load(pixels_ptr + a_offsets, mask=a_mask, other=0.0)

        # Weight tile [BLOCK_K, BLOCK_N] of W^T, rounded to the pixels dtype (the GEMM operand dtype).
        w_mask = k_valid[:, None] & n_valid[None, :]
        w_tile = tl.load(weight_ptr + n[None, :] * num_k + kk[:, None], mask=w_mask, other=0.0)
        w_tile = w_tile.to(a.dtype)

        # fp32 inputs use IEEE fp32 products (not TF32) so results match conv2d; fp16 uses fp32 accumulate.
        acc = tl.dot(a, w_tile, acc, input_precision="ieee", out_dtype=tl.float32)

    bias = tl.load(bias_ptr + n, mask=n_valid, other=0.0).to(tl.float32)
    out = acc * WEIGHT_SCALE + bias[None, :] * BIAS_SCALE

    # out[b, n, oh, ow] = ((b*D + n)*Ho + oh)*Wo + ow
    out_offsets = ((b[:, None] * dim + n[None, :]) * out_h + oh[:, None]) * out_w + ow[:, None]
    tl.store(
        out_ptr + out_offsets, out.to(out_ptr.dtype.element_ty), mask=m_valid[:, None] & n_valid[None, :]
    )
