"""FLOP counting with fvcore, a handle for every operator the models use, and a cross-check.

Conventions (stated because "FLOPs" is not a well-defined number):

* **MACs** are multiply-accumulates of the matrix operators (convolution, linear, matmul, einsum and
  attention's two batched products). This is the number papers quote ("Clay-B/8 at 224 = 78 GMAC");
  1 MAC = 2 FLOP.
* **other FLOPs** are everything else with arithmetic (normalisation, activations, elementwise,
  softmax), counted as fvcore does for norms and as one operation per output element otherwise.
  They are approximations and are reported apart, never added to the MACs.
* Counts are taken on the **folded** model (``GeoModel.folded()``), which is what is exported and
  deployed: the band-embedding generator runs once per band set, not per image, so its MACs are
  reported separately (``generator_macs``) and are **not** included in ``macs``.
* ``coverage`` is the share of traced arithmetic operator calls that have a handle; operators that
  only move data have zero-cost handles. Anything uncounted is listed by name.
* The MACs are cross-checked with ``torch.utils.flop_counter.FlopCounterMode`` (dispatch-level,
  independent of fvcore's JIT trace), which reports FLOPs = 2 x MACs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

MAC_OPERATORS = frozenset({"conv", "linear", "matmul", "mm", "bmm", "addmm", "einsum",
                           "scaled_dot_product_attention", "_native_multi_head_attention"})
# One operation per output element (activations, arithmetic, reductions, pooling).
ELEMENTWISE_OPS = (
    "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "neg", "pow", "reciprocal", "sqrt", "rsqrt",
    "exp", "log", "sin", "cos", "tanh", "sigmoid", "relu", "relu_", "gelu", "silu", "silu_", "hardtanh", "hardtanh_",
    "leaky_relu", "softmax", "log_softmax", "mean", "sum", "max_pool2d", "avg_pool2d", "where", "erf",
)
# Operators that only move or reshape data: handled, at zero cost, so they do not lower coverage.
DATA_MOVEMENT_OPS = (
    "pixel_shuffle", "pixel_unshuffle", "meshgrid", "unflatten", "permute", "transpose", "reshape", "view", "select",
    "slice", "unsqueeze", "squeeze", "stack", "repeat", "to", "type_as", "pad", "index", "split", "unbind", "roll",
    "narrow", "expand_as", "full_like", "zeros_like", "ones_like", "masked_fill",
)

Handle = Callable[[list[Any], list[Any]], Any]


@dataclass
class FlopReport:
    """Counted operations of one forward pass of ``input_shape`` (see the module docstring)."""

    model: str
    input_shape: list[int]
    macs: int
    other_flops: int
    macs_by_operator: dict[str, int]
    other_by_operator: dict[str, int]
    macs_by_module: dict[str, int]
    handled_calls: int
    uncounted: dict[str, int] = field(default_factory=dict)   # operator -> calls without a handle
    generator_macs: int | None = None                          # once per band set; not in ``macs``
    flop_counter_macs: int | None = None                       # torch.utils.flop_counter / 2

    @property
    def gmac(self) -> float:
        return self.macs / 1e9

    @property
    def gmac_per_image(self) -> float:
        return self.gmac / self.input_shape[0]

    @property
    def coverage(self) -> float:
        missing = sum(self.uncounted.values())
        return self.handled_calls / (self.handled_calls + missing) if self.handled_calls + missing else 1.0

    @property
    def cross_check_difference(self) -> float | None:
        """Relative difference between fvcore's MACs and torch's flop counter (None if not run)."""
        if self.flop_counter_macs is None:
            return None
        return abs(self.macs - self.flop_counter_macs) / max(self.macs, 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"gmac": self.gmac, "gmac_per_image": self.gmac_per_image, "coverage": self.coverage,
                               "cross_check_difference": self.cross_check_difference,
                               "generator_included": False}


def _shape(value: Any) -> list[int]:
    from fvcore.nn.jit_handles import get_shape

    return get_shape(value)


def sdpa_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """Attention's Q·Kᵀ and A·V: batch x L x S x (E + Ev) MACs (softmax counted elsewhere)."""
    q, k, v = (_shape(x) for x in inputs[:3])
    return math.prod(q[:-2]) * q[-2] * k[-2] * (q[-1] + v[-1])


def native_mha_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """``nn.MultiheadAttention``'s fused inference path: QKV projection, attention, output projection."""
    q, k = _shape(inputs[0]), _shape(inputs[1])
    tokens, embed = math.prod(q[:-1]), q[-1]
    batch = math.prod(q[:-2])
    return 3 * tokens * embed * embed + 2 * batch * q[-2] * k[-2] * embed + tokens * embed * embed


def _per_output_element(inputs: list[Any], outputs: list[Any]) -> int:
    shape = _shape(outputs[0])
    return math.prod(shape) if shape is not None else 0


def _free(inputs: list[Any], outputs: list[Any]) -> int:
    return 0


def _counting(handle: Handle, calls: Counter, name: str) -> Handle:
    def counted(inputs: list[Any], outputs: list[Any]) -> Any:
        calls[name] += 1
        return handle(inputs, outputs)

    return counted


def _handles() -> dict[str, Handle]:
    """Every operator the models use -> its fvcore handle (fvcore's own formulas where it has one)."""
    from fvcore.nn import jit_handles as jh

    handles: dict[str, Handle] = {
        "aten::addmm": jh.addmm_flop_jit, "aten::bmm": jh.bmm_flop_jit, "aten::_convolution": jh.conv_flop_jit,
        "aten::einsum": jh.einsum_flop_jit, "aten::matmul": jh.matmul_flop_jit, "aten::mm": jh.matmul_flop_jit,
        "aten::linear": jh.linear_flop_jit, "aten::scaled_dot_product_attention": sdpa_macs,
        "aten::_native_multi_head_attention": native_mha_macs,
        "aten::batch_norm": jh.batchnorm_flop_jit, "aten::group_norm": jh.norm_flop_counter(2),
        "aten::layer_norm": jh.norm_flop_counter(2), "aten::instance_norm": jh.norm_flop_counter(1),
        "aten::upsample_nearest2d": jh.elementwise_flop_counter(0, 1),
        "aten::upsample_bilinear2d": jh.elementwise_flop_counter(0, 4),
        "aten::adaptive_avg_pool2d": jh.elementwise_flop_counter(1, 0),
    }
    handles.update({f"aten::{op}": _per_output_element for op in ELEMENTWISE_OPS})
    handles.update({f"aten::{op}": _free for op in DATA_MOVEMENT_OPS})
    return handles


def _fvcore_analysis(module: nn.Module, inputs: tuple[torch.Tensor, ...], calls: Counter):
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(module, inputs)
    for name, handle in _handles().items():
        analysis.set_op_handle(name, _counting(handle, calls, name))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    return analysis


def deployed_module(model: nn.Module) -> nn.Module:
    """The module that is exported: the folded twin of a GeoModel, else the model itself."""
    folded = getattr(model, "folded", None)
    return folded().eval() if callable(folded) else model.eval()


def count_flops(model: nn.Module, input_shape: tuple[int, ...] | list[int], *, cross_check: bool = True,
                name: str | None = None) -> FlopReport:
    """MACs and other FLOPs of one forward of zeros shaped ``input_shape`` through the deployed module."""
    module = deployed_module(model)
    x = torch.zeros(*input_shape)
    calls: Counter = Counter()
    with torch.no_grad():
        analysis = _fvcore_analysis(module, (x,), calls)
        by_op = {k: int(v) for k, v in analysis.by_operator().items() if v}
        by_module = analysis.by_module_and_operator()
    macs_by_module = {mod: sum(v for op, v in ops.items() if op in MAC_OPERATORS)
                      for mod, ops in by_module.items() if mod and mod.count(".") <= 1}
    report = FlopReport(
        model=name or getattr(getattr(model, "metadata", None), "model", type(model).__name__),
        input_shape=list(input_shape),
        macs=sum(v for k, v in by_op.items() if k in MAC_OPERATORS),
        other_flops=sum(v for k, v in by_op.items() if k not in MAC_OPERATORS),
        macs_by_operator={k: v for k, v in by_op.items() if k in MAC_OPERATORS},
        other_by_operator={k: v for k, v in by_op.items() if k not in MAC_OPERATORS},
        macs_by_module={k: v for k, v in macs_by_module.items() if v},
        handled_calls=sum(calls.values()),
        uncounted=dict(analysis.unsupported_ops()),
    )
    generator = _generator_analysis(model)
    if generator is not None:
        report.generator_macs = _macs(generator)
        report.uncounted.update({f"generator {op}": n for op, n in generator.unsupported_ops().items()})
    if cross_check:
        report.flop_counter_macs = flop_counter_macs(module, x)
    return report


def flop_counter_macs(module: nn.Module, x: torch.Tensor) -> int:
    """MACs by ``torch.utils.flop_counter`` (its FLOPs / 2), for cross-checking fvcore.

    The counter has no formula for the CPU flash-attention kernel that ``scaled_dot_product_attention``
    dispatches to on the CPU; it is mapped to torch's own SDPA formula.
    """
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    def cpu_sdpa_flops(query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return sdpa_flop_count(query, key, value)

    mapping = {}
    cpu_sdpa = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if cpu_sdpa is not None:
        mapping[cpu_sdpa] = cpu_sdpa_flops
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter, torch.no_grad():
        module(x)
    return counter.get_total_flops() // 2


class _KernelGenerator(nn.Module):
    """Wraps the band-embedding generator (wavelengths -> conv kernel) so fvcore can trace it."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder.patch_kernel(waves)


def _macs(analysis: Any) -> int:
    return int(sum(v for k, v in analysis.by_operator().items() if k in MAC_OPERATORS))


def _generator_analysis(model: nn.Module) -> Any | None:
    encoder = getattr(model, "encoder", None)
    waves = getattr(model, "waves", None)
    if encoder is None or waves is None or not hasattr(encoder, "patch_kernel"):
        return None
    with torch.no_grad():
        analysis = _fvcore_analysis(_KernelGenerator(encoder), (waves,), Counter())
        analysis.total()  # trace now, under no_grad, as the export does
    return analysis


def generator_macs(model: nn.Module) -> int | None:
    """MACs of one run of the band-embedding generator, for models that have one (else None)."""
    analysis = _generator_analysis(model)
    return None if analysis is None else _macs(analysis)
