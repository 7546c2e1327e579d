"""Triton implementation of DynamicPatchEmbed, runnable on a GPU or in Triton's CPU interpreter.

Triton is optional: this module imports without it, and :func:`triton_available` says whether the kernel
can be loaded. The kernel itself lives in ``_triton_kernel.py`` and is imported on first use.

Triton's CPU interpreter is process-wide: TRITON_INTERPRET=1 must be set before triton is first imported
and stay set (triton reads it again while launching). :func:`load_triton_kernel` sets it when it imports
triton itself, and refuses with an explanation when triton was already imported in the other mode.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from types import ModuleType

import torch

from .reference import check_patch_embed_args

_KERNEL_MODULE = f"{__package__}._triton_kernel"

# Tile sizes: tl.dot needs every tile dimension >= 16. These suit both the interpreter (few programs)
# and a GPU (one 64x64 fp32 accumulator per program, 4 warps).
BLOCK_M = 64
BLOCK_N = 64
BLOCK_K = 32

# The kernel's runtime parameters in order: 3 input pointers, 7 int32 shapes, 1 output pointer.
_SCALAR_PARAMS = ("batch", "channels", "height", "width", "dim", "out_h", "out_w")
_NUM_USER_PARAMS = 3 + len(_SCALAR_PARAMS) + 1


def triton_available() -> bool:
    """True when the triton package is installed (the kernel may still need a GPU or the interpreter)."""
    return importlib.util.find_spec("triton") is not None


def load_triton_kernel(interpret: bool) -> ModuleType:
    """Import the kernel module, defined for Triton's CPU interpreter (``interpret=True``) or for a GPU.

    Raises:
        ModuleNotFoundError: triton is not installed.
        RuntimeError: triton (or the kernel) was already imported in the other mode in this process.
    """
    if not triton_available():
        raise ModuleNotFoundError(
            "the Triton patch-embed kernel needs the triton package (pip install triton)"
        )
    wanted = "1" if interpret else "0"
    if "triton" not in sys.modules:
        os.environ["TRITON_INTERPRET"] = wanted
    elif (os.environ.get("TRITON_INTERPRET", "0") == "1") != interpret:
        raise RuntimeError(
            f"triton was imported with TRITON_INTERPRET={os.environ.get('TRITON_INTERPRET', 'unset')}; "
            f"{'CPU' if interpret else 'CUDA'} tensors need TRITON_INTERPRET={wanted} set before triton is "
            "first imported (in the environment, or a fresh process)"
        )
    module = importlib.import_module(_KERNEL_MODULE)
    if module.INTERPRETED != interpret:
        raise RuntimeError(
            f"the Triton patch-embed kernel was loaded {'for the CPU interpreter' if module.INTERPRETED else 'for a GPU'} "
            "in this process; use a fresh process for the other mode"
        )
    return module


def triton_cdiv(a: int, b: int) -> int:
    """Ceiling division, as triton.cdiv, without importing triton."""
    return -(-a // b)


def patch_embed_triton(
    pixels: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    kernel_size: int,
    stride: int,
    padding: int,
    weight_scale: float,
    bias_scale: float,
) -> torch.Tensor:
    """Run the Triton kernel; same contract and numerics as :func:`~.reference.patch_embed_reference`.

    CUDA tensors run the compiled kernel; CPU tensors run it in Triton's interpreter (slow, for tests).
    """
    batch, channels, height, width, dim, out_h, out_w = check_patch_embed_args(
        pixels, weight, bias, kernel_size, stride, padding
    )
    if not (pixels.device == weight.device == bias.device):
        raise ValueError(f"tensors must share a device, got {pixels.device}, {weight.device}, {bias.device}")
    kernel = load_triton_kernel(interpret=pixels.device.type == "cpu").patch_embed_kernel
    out = torch.empty((batch, dim, out_h, out_w), dtype=pixels.dtype, device=pixels.device)
    grid = (triton_cdiv(batch * out_h * out_w, BLOCK_M), triton_cdiv(dim, BLOCK_N))
    kernel[grid](
        pixels.contiguous(),
        weight.contiguous(),
        bias.contiguous(),
        batch,
        channels,
        height,
        width,
        dim,
        out_h,
        out_w,
        out,
        KERNEL_SIZE=kernel_size,
        STRIDE=stride,
        PADDING=padding,
        WEIGHT_SCALE=float(weight_scale),
        BIAS_SCALE=float(bias_scale),
        BLOCK_M=BLOCK_M,
        BLOCK_N=BLOCK_N,
        BLOCK_K=BLOCK_K,
        enable_fp_fusion=True,  # explicit: FMA contraction, as the CUDA kernel's fmaf
    )
    return out


@dataclass(frozen=True)
class CompiledKernel:
    """A kernel compiled ahead of time, as a TensorRT AOT plugin embeds it in the engine."""

    name: str
    ptx: str
    num_warps: int
    shared_mem: int


_TRITON_DTYPES = {torch.float32: "fp32", torch.float16: "fp16"}


def compile_triton_ptx(
    pixels_dtype: torch.dtype,
    weight_dtype: torch.dtype,
    bias_dtype: torch.dtype,
    kernel_size: int,
    stride: int,
    padding: int,
    weight_scale: float,
    bias_scale: float,
    compute_capability: int,
) -> CompiledKernel:
    """Compile the kernel to PTX for one dtype combination and attribute set (no GPU needed).

    The attributes become compile-time constants; the shapes stay int32 runtime arguments, so one PTX
    serves every batch size, band count and image size. ``compute_capability`` is e.g. 89 for sm_89.
    The returned PTX takes exactly (pixels, weight, bias, 7 int32 shapes, out), the order in which a
    TensorRT AOT plugin passes arguments.
    """
    import triton
    from triton.backends.compiler import GPUTarget

    kernel = load_triton_kernel(interpret=False).patch_embed_kernel
    types = {
        "pixels_ptr": f"*{_TRITON_DTYPES[pixels_dtype]}",
        "weight_ptr": f"*{_TRITON_DTYPES[weight_dtype]}",
        "bias_ptr": f"*{_TRITON_DTYPES[bias_dtype]}",
        "out_ptr": f"*{_TRITON_DTYPES[pixels_dtype]}",
        **dict.fromkeys(_SCALAR_PARAMS, "i32"),
    }
    constexprs = {
        "KERNEL_SIZE": kernel_size,
        "STRIDE": stride,
        "PADDING": padding,
        "WEIGHT_SCALE": float(weight_scale),
        "BIAS_SCALE": float(bias_scale),
        "BLOCK_M": BLOCK_M,
        "BLOCK_N": BLOCK_N,
        "BLOCK_K": BLOCK_K,
    }
    # Triton wants the signature in the kernel's parameter order, constexprs marked as such.
    signature = {name: types.get(name, "constexpr") for name in kernel.arg_names}
    source = triton.compiler.ASTSource(fn=kernel, signature=signature, constexprs=constexprs)
    compiled = triton.compile(
        source, target=GPUTarget("cuda", compute_capability, 32), options={"enable_fp_fusion": True}
    )
    metadata = compiled.metadata
    if getattr(metadata, "global_scratch_size", 0) or getattr(metadata, "profile_scratch_size", 0):
        raise RuntimeError(
            "the kernel needs Triton scratch memory, which a TensorRT AOT plugin cannot provide"
        )
    return CompiledKernel(
        name=metadata.name,
        ptx=drop_trailing_params(compiled.asm["ptx"], metadata.name, _NUM_USER_PARAMS),
        num_warps=metadata.num_warps,
        shared_mem=metadata.shared,
    )


def drop_trailing_params(ptx: str, entry: str, keep: int) -> str:
    """Remove the entry's parameters after the first ``keep``, which must be unused in its body.

    Triton >= 3.3 appends hidden global/profile scratch pointers to every kernel. A TensorRT AOT plugin
    launches with exactly (inputs, int32 extras, outputs), so the PTX must declare exactly those; the
    hidden pointers are dropped only after checking that the code never loads them.
    """
    header = re.search(rf"\.entry\s+{re.escape(entry)}\s*\((.*?)\)", ptx, flags=re.S)
    if header is None:
        raise ValueError(f"no .entry {entry} in the PTX")
    params = [p.strip() for p in header.group(1).split(",")]
    dropped = [p.split()[-1] for p in params[keep:]]
    body = ptx[header.end() :]
    used = [name for name in dropped if re.search(rf"\[{re.escape(name)}(\+\d+)?\]", body)]
    if used:
        raise ValueError(f"cannot drop PTX parameters that the kernel reads: {used}")
    kept = ",\n\t".join(params[:keep])
    return ptx[: header.start(1)] + f"\n\t{kept}\n" + ptx[header.end(1) :]
