"""`trtbench flops` results as readable lines."""

from __future__ import annotations

from ..bench.flops import FlopReport


def flops_text(report: FlopReport) -> str:
    """The FLOP report as a few readable lines."""
    lines = [f"{report.model} at input {report.input_shape}: {report.gmac_per_image:.3f} GMAC per image "
             f"({2 * report.gmac_per_image:.3f} GFLOP), folded band embedding as deployed",
             "  by operator: " + ", ".join(f"{k} {v / 1e9:.3f}" for k, v in report.macs_by_operator.items()),
             "  by module:   " + ", ".join(f"{k} {v / 1e9:.3f}" for k, v in report.macs_by_module.items()),
             f"  other FLOPs (norms, activations, elementwise; not in the MACs): {report.other_flops / 1e9:.3f} G",
             f"  coverage: {report.coverage:.1%} of operator calls counted"
             + (f"; uncounted: {report.uncounted}" if report.uncounted else "")]
    if report.generator_macs is not None:
        lines.append(f"  band-embedding generator: {report.generator_macs / 1e9:.4f} GMAC once per band set "
                     "(NOT included above: folded into a constant Conv at export)")
    if report.cross_check_difference is not None:
        lines.append(f"  cross-check torch.utils.flop_counter: {report.flop_counter_macs / 1e9:.3f} GMAC "
                     f"(difference {report.cross_check_difference:.2%})")
    return "\n".join(lines)
