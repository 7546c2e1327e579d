"""Human-readable renderings of results (plain table for the terminal, Markdown for files)."""

from __future__ import annotations

from .evaluate import EvalResult


def _rows(result: EvalResult) -> list[list[str]]:
    return [[p.output, f"{p.max_abs:.3g}", f"{p.mean_abs:.3g}", f"{p.rel_max:.3g}", f"{p.cosine:.8f}",
             "ok" if p.rel_max <= result.tolerance else "FAIL"] for p in result.parity]


def _task_rows(result: EvalResult) -> list[list[str]]:
    ref, art = result.task.get("reference", {}), result.task.get("artifact", {})
    return [[k, f"{ref[k]:.4f}", f"{art[k]:.4f}", f"{art[k] - ref[k]:+.4f}"] for k in ref if k in art]


PARITY_HEADER = ["output", "max |diff|", "mean |diff|", "max |diff| / scale", "cosine", "check"]
TASK_HEADER = ["metric", "pytorch", "artifact", "delta"]


def _plain(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      *("| " + " | ".join(r) + " |" for r in rows)])


def _summary(result: EvalResult) -> str:
    m = result.metadata
    providers = ", ".join(result.backend.get("providers", [result.backend["backend"]]))
    return (f"{result.artifact}: {m['model']} ({m['task']}, {len(m['bands'])} bands of {m['sensor']}) on {providers}; "
            f"{result.tiles} tile(s) of {result.tile_size}x{result.tile_size}; tolerance {result.tolerance:g}; "
            f"time: artifact {result.seconds['artifact']:.2f}s, pytorch {result.seconds['reference']:.2f}s")


def eval_table(result: EvalResult) -> str:
    parts = [_summary(result), "", _plain(PARITY_HEADER, _rows(result))]
    if result.task:
        parts += ["", _plain(TASK_HEADER, _task_rows(result))]
    parts += ["", "PARITY OK" if result.passed else "PARITY FAILED"]
    return "\n".join(parts)


def eval_markdown(result: EvalResult) -> str:
    parts = ["# trtbench eval", "", _summary(result), "", "## Parity against PyTorch", "",
             _markdown(PARITY_HEADER, _rows(result))]
    if result.task:
        parts += ["", "## Task metrics", "", _markdown(TASK_HEADER, _task_rows(result))]
    parts += ["", f"**{'PARITY OK' if result.passed else 'PARITY FAILED'}**", ""]
    return "\n".join(parts)
