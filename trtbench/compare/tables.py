"""The comparison's tables (one row per cell: CSV, JSON, Markdown) and its ``environment.json``.

Every file is written atomically. The rows keep :data:`trtbench.compare.cells.ROW_FIELDS` in order; the
Markdown table shows the columns a reader compares (the CSV and JSON hold them all).
"""

from __future__ import annotations

import csv
import io
import json
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..fileio import atomic_output
from .cells import ROW_FIELDS

Row = Mapping[str, Any]
MARKDOWN_COLUMNS = (("model", "model"), ("backend", "backend"), ("precision", "precision"), ("batch", "batch"),
                    ("input_size", "size"), ("status", "status"), ("gflops", "GFLOPs"),
                    ("parity_rel", "max err / scale"), ("metric", "metric"), ("metric_delta", "Δ vs torch fp32"),
                    ("latency_p50_ms", "p50 ms"), ("latency_p99_ms", "p99 ms"), ("latency_spread", "spread"),
                    ("throughput_img_s", "img/s"), ("throughput_km2_s", "km²/s"), ("peak_memory_mb", "peak MiB"),
                    ("ttt", "TTT-MMR"))


def environment(threads: int | None) -> dict[str, Any]:
    """The machine the speed figures belong to: CPU model and ISA, GPU, library versions (``trtbench doctor``)."""
    from .. import __version__
    from ..doctor import report

    return report() | {"trtbench": __version__, "machine": platform.machine(), "threads": threads or "backend default",
                       "written": datetime.now(UTC).isoformat(timespec="seconds")}


def write_tables(rows: Sequence[Row], env: Mapping[str, Any], notes: Sequence[str], out_dir: Path) -> list[Path]:
    """``results.csv``, ``results.json``, ``results.md`` and ``environment.json`` in ``out_dir``."""
    texts = {"results.csv": results_csv(rows), "results.json": json.dumps(list(rows), indent=1),
             "results.md": results_markdown(rows, notes), "environment.json": json.dumps(env, indent=1)}
    written = []
    for name, text in texts.items():
        with atomic_output(out_dir / name) as tmp:
            tmp.write_text(text)
        written.append(out_dir / name)
    return written


def results_csv(rows: Sequence[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ROW_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def results_markdown(rows: Sequence[Row], notes: Sequence[str] = ()) -> str:
    """One line per cell; cells that did not run give their reason below the table."""
    lines = ["| " + " | ".join(h for _, h in MARKDOWN_COLUMNS) + " |", "|" + "---|" * len(MARKDOWN_COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(_shown(key, row.get(key)) for key, _ in MARKDOWN_COLUMNS) + " |")
    reasons = [f"- `{r['cell_id']}` {r['status']}: {r['reason']}" for r in rows if r.get("reason")]
    flagged = [f"- `{r['cell_id']}`: latency spread {r['latency_spread']:.0%}" for r in rows if r.get("spread_flag")]
    out = "\n".join(lines) + "\n"
    for title, items in (("Cells not measured", reasons), ("Latency spread too wide (re-run on a quieter machine)",
                                                          flagged), ("Assumptions", [f"- {n}" for n in notes])):
        if items:
            out += f"\n### {title}\n\n" + "\n".join(items) + "\n"
    return out


def _shown(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key == "latency_spread":
        return f"{value:.0%}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
