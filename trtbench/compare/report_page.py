"""``report.html``: one self-contained page for a comparison, readable with no network at all.

Everything the page shows travels inside it: the plots as ``data:`` PNG URIs, the CSS and the sorting
script inline, no font, script or style from a CDN. A Content-Security-Policy forbids every fetch but
``data:`` images, so a page that ever tried to reach out would fail visibly instead of leaking where it
was opened. Every string that comes from the cells or the environment (model names, reasons, paths) is
HTML-escaped: they are file names and error messages, and any of them may hold ``<`` or ``&``.

The table holds every cell, including the ones that could not run (with their reason); the plots hold
only the cells that measured what they show (:mod:`trtbench.compare.plots`). Cells whose timing spread
was too wide are flagged in the table and in the latency plot.
"""

from __future__ import annotations

import base64
import html
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__
from ..fileio import atomic_output
from .plots import Plot, write_plots

Row = Mapping[str, Any]
REPORT_FILE = "report.html"
PLOTS_FOLDER = "plots"
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


@dataclass(frozen=True)
class Column:
    """One table column: its header, whether it sorts as numbers, and how a row gives its shown text and
    its sort value ("" when the cell has no value: such cells sort last in either direction)."""

    header: str
    numeric: bool
    cell: Callable[[Row], tuple[str, str]]
    css: str = ""                  # an extra class for its cells (the spread column is highlighted when flagged)
    full_in_title: bool = False    # the sort value, shown in full on hover (the shortened hash)


def _number(value: Any, scale: float = 1.0, digits: int = 4) -> tuple[str, str]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return ("–", "")
    shown = value / scale
    text = str(int(shown)) if isinstance(value, int) and scale == 1.0 else f"{shown:.{digits}g}"
    return (text, repr(float(value)))


def _text(value: Any) -> tuple[str, str]:
    text = "" if value is None else str(value)
    return (text, text.lower())


def _field(name: str, **fmt: Any) -> Callable[[Row], tuple[str, str]]:
    return lambda row: _number(row.get(name), **fmt)


def _label(name: str) -> Callable[[Row], tuple[str, str]]:
    return lambda row: _text(row.get(name))


def _backend(row: Row) -> tuple[str, str]:
    providers = row.get("providers")
    if isinstance(providers, (list, tuple)):
        providers = ", ".join(map(str, providers))
    extra = [str(v) for v in (row.get("device"), providers) if v not in (None, "")]
    text = str(row.get("backend") or "")
    return (f"{text} ({'; '.join(extra)})" if extra else text, text.lower())


def _status(row: Row) -> tuple[str, str]:
    status = str(row.get("status") or "")
    return (f"{status}: {row['reason']}" if status != "ok" and row.get("reason") else status, status)


def _spread(row: Row) -> tuple[str, str]:
    text, key = _number(row.get("latency_spread"))
    text = f"{row['latency_spread']:.0%}" if key else text   # relative IQR of the latency samples
    flag = row.get("spread_flag")
    if flag:
        text = f"{text} ⚠ {flag if isinstance(flag, str) else 'too wide'}"
    return (text, key)


def _sha(row: Row) -> tuple[str, str]:
    sha = str(row.get("artifact_sha256") or "")
    return (sha[:12], sha)


COLUMNS = (
    Column("cell", False, _label("cell_id")),
    Column("model", False, _label("model")),
    Column("family", False, _label("family")),
    Column("params (M)", True, _field("params", scale=1e6)),
    Column("GFLOPs", True, _field("gflops")),
    Column("input px", True, _field("input_size")),
    Column("batch", True, _field("batch")),
    Column("backend", False, _backend),
    Column("precision", False, _label("precision")),
    Column("status", False, _status),
    Column("task metric", False, _label("metric_name")),
    Column("metric", True, _field("metric")),
    Column("torch fp32 metric", True, _field("metric_reference")),
    Column("Δ vs torch fp32", True, _field("metric_delta", digits=3)),
    Column("parity max |err|", True, _field("parity_max_abs", digits=3)),
    Column("parity err/scale", True, _field("parity_rel", digits=3)),
    Column("cosine", True, _field("parity_cosine", digits=6)),
    Column("p50 ms", True, _field("latency_p50_ms")),
    Column("p90 ms", True, _field("latency_p90_ms")),
    Column("p99 ms", True, _field("latency_p99_ms")),
    Column("spread", True, _spread, css="spread"),
    Column("img/s", True, _field("throughput_img_s")),
    Column("km²/s", True, _field("throughput_km2_s")),
    Column("peak MiB", True, _field("peak_memory_mb")),
    Column("artifact MB", True, _field("artifact_bytes", scale=1e6, digits=3)),
    Column("sha256", False, _sha, full_in_title=True),
)

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d1d1f; }
h1 { margin-bottom: 0.2em; } .meta { color: #555; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
table.cells td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.cells th { background: #eef; cursor: pointer; user-select: none; position: sticky; top: 0; }
table.cells th[aria-sort=ascending]::after { content: " ▲"; }
table.cells th[aria-sort=descending]::after { content: " ▼"; }
tr.status-skipped { color: #777; } tr.status-error, tr.status-parity-failed { background: #fde8e8; }
tr.spread-flagged td.spread { background: #fff3c4; font-weight: bold; }
.scroll { overflow-x: auto; } .plots { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
figure { margin: 0; } figure img { max-width: 100%; border: 1px solid #ddd; } figcaption { font-size: 13px; }
"""

SCRIPT = """
document.querySelectorAll("table.cells th").forEach(function (th, column) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var numeric = th.dataset.type === "num";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[column].dataset.sort, y = b.cells[column].dataset.sort;
      if (x === "" || y === "") { return (x === "") - (y === ""); }   /* no value: last either way */
      var d = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return ascending ? d : -d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def write_report(rows: Sequence[Row], environment: Mapping[str, Any], out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` (and its figures under ``out_dir/plots/``) and return the page's path.

    Every file is written under a temporary name and renamed when complete, so an interrupted run leaves
    the previous report, never half of one.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = write_plots(rows, out_dir / PLOTS_FOLDER)
    path = out_dir / REPORT_FILE
    with atomic_output(path) as tmp:
        tmp.write_text(render_page(rows, environment, plots), encoding="utf-8")
    return path


def render_page(rows: Sequence[Row], environment: Mapping[str, Any], plots: Sequence[Plot]) -> str:
    """The whole page as one string (plots read from their PNG files and inlined)."""
    esc = html.escape
    counts = Counter(str(row.get("status")) for row in rows)
    summary = ", ".join(f"{n} {esc(status)}" for status, n in sorted(counts.items()))
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>trtbench comparison: {len(rows)} cells</title><style>{STYLE}</style></head><body>",
        "<h1>trtbench comparison</h1>",
        f'<p class="meta">{len(rows)} cells ({summary or "none"}); written {generated} by trtbench '
        f"{esc(__version__)}.</p>",
        "<h2>Environment</h2>", _mapping_table(environment),
        "<h2>Plots</h2>", '<div class="plots">', *(_figure(p) for p in plots), "</div>",
        '<h2>Cells</h2><p class="meta">Click a column header to sort; cells without a value stay last.</p>',
        _cells_table(rows),
        "<h2>Cells that did not run or failed</h2>", _failures(rows),
        f"<script>{SCRIPT}</script></body></html>",
    ]
    return "\n".join(parts)


def _mapping_table(mapping: Mapping[str, Any]) -> str:
    if not mapping:
        return "<p>not recorded</p>"
    lines = ["<table class=\"environment\">"]
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            shown = _mapping_table(value)
        elif isinstance(value, (list, tuple)):
            shown = html.escape(", ".join(map(str, value)))
        else:
            shown = html.escape(str(value))
        lines.append(f"<tr><th>{html.escape(str(key))}</th><td>{shown}</td></tr>")
    return "\n".join([*lines, "</table>"])


def _figure(plot: Plot) -> str:
    title = html.escape(plot.title)
    if plot.path is None:
        return f"<figure><figcaption>{title}: not drawn ({html.escape(plot.missing)})</figcaption></figure>"
    data = base64.b64encode(plot.path.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{title}">'
            f"<figcaption>{title} (<code>{PLOTS_FOLDER}/{html.escape(plot.path.name)}</code>)</figcaption></figure>")


def _cells_table(rows: Sequence[Row]) -> str:
    head = "".join(f'<th data-type="{"num" if c.numeric else "text"}">{html.escape(c.header)}</th>' for c in COLUMNS)
    lines = ['<div class="scroll"><table class="cells">', f"<thead><tr>{head}</tr></thead><tbody>"]
    for row in rows:
        classes = f"status-{html.escape(str(row.get('status')), quote=True)}"
        if row.get("spread_flag"):
            classes += " spread-flagged"
        cells = []
        for column in COLUMNS:
            text, key = column.cell(row)
            css = " ".join(c for c in ("num" if column.numeric else "", column.css) if c)
            css = f' class="{css}"' if css else ""
            title = f' title="{html.escape(key, quote=True)}"' if column.full_in_title else ""
            cells.append(f'<td{css}{title} data-sort="{html.escape(key, quote=True)}">{html.escape(text)}</td>')
        lines.append(f'<tr class="{classes}">{"".join(cells)}</tr>')
    return "\n".join([*lines, "</tbody></table></div>"])


def _failures(rows: Sequence[Row]) -> str:
    failed = [r for r in rows if r.get("status") != "ok"]
    if not failed:
        return "<p>Every cell ran.</p>"
    items = []
    for r in failed:
        what = " ".join(str(r.get(k)) for k in ("model", "backend", "precision") if r.get(k) is not None)
        items.append(f"<li><b>{html.escape(str(r.get('cell_id') or what))}</b> ({html.escape(what)}): "
                     f"{html.escape(str(r.get('status')))}: {html.escape(str(r.get('reason') or 'no reason recorded'))}"
                     "</li>")
    return '<ul class="failures">' + "".join(items) + "</ul>"
