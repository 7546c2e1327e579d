"""`trtbench eval` results as a terminal table and as Markdown."""

from __future__ import annotations

from ..evaluate import EvalResult
from .tables import markdown_table, plain_table


def _rows(result: EvalResult) -> list[list[str]]:
    return [[p.output, f"{p.max_abs:.3g}", f"{p.mean_abs:.3g}", f"{p.rel_max:.3g}", f"{p.cosine:.8f}",
             "ok" if p.rel_max <= result.tolerance else "FAIL"] for p in result.parity]


def _task_rows(result: EvalResult) -> list[list[str]]:
    ref, art = result.task.get("reference", {}), result.task.get("artifact", {})
    return [[k, f"{ref[k]:.4f}", f"{art[k]:.4f}", f"{art[k] - ref[k]:+.4f}"] for k in ref if k in art]


PARITY_HEADER = ["output", "max abs diff", "mean abs diff", "max abs diff / scale", "cosine", "check"]  # no "|" (Markdown)
TASK_HEADER = ["metric", "pytorch", "artifact", "delta"]


def _summary(result: EvalResult) -> str:
    m = result.metadata
    providers = ", ".join(result.backend.get("providers", [result.backend["backend"]]))
    c = result.coverage
    covered = (f"{c.labelled_evaluated:,} of {c.labelled:,} labelled pixels ({c.fraction:.1%})" if c.labelled
               else f"{c.evaluated:,} of {c.pixels:,} pixels ({c.fraction:.1%})")
    return (f"{result.artifact}: {m['model']} ({m['task']}, {len(m['bands'])} bands of {m['sensor']}) on {providers}; "
            f"bands by {result.band_match}; {result.tiles} tile(s) of {result.tile_size}x{result.tile_size} "
            f"covering {covered}; tolerance {result.tolerance:g}; "
            f"time: artifact {result.seconds['artifact']:.2f}s, pytorch {result.seconds['reference']:.2f}s")


def eval_table(result: EvalResult) -> str:
    parts = [_summary(result), "", plain_table(PARITY_HEADER, _rows(result))]
    if result.task:
        parts += ["", plain_table(TASK_HEADER, _task_rows(result))]
    parts += ["", "PARITY OK" if result.passed else "PARITY FAILED"]
    return "\n".join(parts)


def eval_markdown(result: EvalResult) -> str:
    warnings = [*(f"- warning: {w}" for w in result.warnings), ""] if result.warnings else []
    parts = ["# trtbench eval", "", _summary(result), "", *warnings, "## Parity against PyTorch", "",
             markdown_table(PARITY_HEADER, _rows(result))]
    if result.task:
        parts += ["", "## Task metrics", "", markdown_table(TASK_HEADER, _task_rows(result))]
    parts += ["", f"**{'PARITY OK' if result.passed else 'PARITY FAILED'}**", ""]
    return "\n".join(parts)
