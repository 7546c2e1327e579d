"""`trtbench bench` results: terminal table, Markdown, CSV (one row per backend and batch) and JSON.

Only backends whose outputs matched the reference show timings; the others show their status and
the reason, so an invalid latency can never be read off a report.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ..bench.compare import BackendResult
from ..bench.run import BenchResult
from .tables import markdown_table, plain_table

HEADER = ["backend", "status", "batch", "p50 ms", "p90 ms", "p99 ms", "images/s", "km²/s", "vs torch",
          "GFLOP/s", "peak RSS MiB (+added)", "parity max|d|/scale"]
CSV_FIELDS = ["model", "backend", "status", "reason", "batch", "image_size", "threads", "iterations", "mean_ms",
              "std_ms", "min_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms", "images_per_s", "km2_per_s",
              "speedup_vs_torch", "gmac_per_image", "achieved_gflops", "peak_rss_mib", "added_rss_mib",
              "parity_rel_max", "parity_min_cosine"]


def _fmt(value: float | None, spec: str = ".3g") -> str:
    return "—" if value is None else format(value, spec)


def _worst_parity(b: BackendResult) -> tuple[float | None, float | None]:
    if not b.parity:
        return None, None
    return max(p.rel_max for p in b.parity), min(p.cosine for p in b.parity)


def _rows(result: BenchResult) -> list[list[str]]:
    rows = []
    for b in result.backends:
        memory = "—" if b.memory is None else f"{b.memory.peak_mib:.0f} (+{b.memory.delta_mib:.0f})"
        parity = _fmt(_worst_parity(b)[0])
        if not b.valid:
            rows.append([b.backend, b.status.upper(), *["—"] * 8, memory, parity])
            continue
        for t in b.timings:
            rows.append([b.backend, b.status, str(t.batch), _fmt(t.median_ms, ".2f"), _fmt(t.percentile(90), ".2f"),
                         _fmt(t.percentile(99), ".2f"), _fmt(t.images_per_s, ".2f"), _fmt(t.km2_per_s, ".1f"),
                         _fmt(result.speedup(b.backend, t.batch), ".2f"), _fmt(result.achieved_gflops(t), ".1f"),
                         memory, parity])
    return rows


def _summary(result: BenchResult) -> list[str]:
    m, mc = result.metadata, result.machine
    lines = [f"{result.target}: {m['model']} ({m['task']}, {len(m['bands'])} bands of {m['sensor']}, "
             f"gsd {m['gsd']:g} m), {result.image_size}x{result.image_size} px, batches {result.batches}, "
             f"input: {result.input_source}",
             f"machine: {mc['cpu']} ({mc['cpu_cores']} cores), GPU: {mc['gpu'] or 'none'}; threads {mc['threads']}; "
             f"timing: {result.config.warmup} warm-up, >= {result.config.min_iters} runs and "
             f">= {result.config.min_time:g} s per batch; parity tolerance {result.tolerance:g}"]
    if result.flops is not None:
        f = result.flops
        generator = "" if f.generator_macs is None else (
            f"; band-embedding generator {f.generator_macs / 1e9:.3f} GMAC once per band set, not included")
        lines.append(f"compute: {f.gmac_per_image:.2f} GMAC per image (folded model as deployed; "
                     f"{f.coverage:.0%} of operator calls counted){generator}")
    return lines


def _notes(result: BenchResult) -> list[str]:
    """Why each backend without timings has none."""
    return [f"{b.backend} {b.status}: {b.reason}" for b in result.backends if not b.valid]


def _verdict(result: BenchResult) -> str:
    bad = [b.backend for b in result.backends if b.status not in ("ok", "skipped")]
    if bad:
        return f"INVALID (not timed): {', '.join(bad)}"
    return "ALL BACKENDS MATCH THE REFERENCE" if result.measured else "NOTHING MEASURED: every backend was skipped"


def bench_table(result: BenchResult) -> str:
    return "\n".join([*_summary(result), "", plain_table(HEADER, _rows(result)), *_notes(result), "",
                      _verdict(result)])


def bench_markdown(result: BenchResult) -> str:
    return "\n".join(["# trtbench bench", "", *(f"- {line}" for line in _summary(result)), "",
                      markdown_table(HEADER, _rows(result)), "", *(f"- {n}" for n in _notes(result)), "",
                      f"**{_verdict(result)}**", ""])


def bench_json(result: BenchResult) -> str:
    return json.dumps(result.to_dict(), indent=2, default=str)


def _csv_rows(result: BenchResult) -> list[dict[str, Any]]:
    rows = []
    for b in result.backends:
        rel_max, cosine = _worst_parity(b)
        base = {"model": result.metadata["model"], "backend": b.backend, "status": b.status, "reason": b.reason,
                "image_size": result.image_size, "threads": result.machine["threads"],
                "gmac_per_image": result.flops.gmac_per_image if result.flops else None,
                "peak_rss_mib": b.memory.peak_mib if b.memory else None,
                "added_rss_mib": b.memory.delta_mib if b.memory else None,
                "parity_rel_max": rel_max, "parity_min_cosine": cosine}
        if not b.timings:
            rows.append(base)
        for t in b.timings:
            stats = {k: v for k, v in t.summary().items() if k in CSV_FIELDS}
            rows.append(base | stats | {"speedup_vs_torch": result.speedup(b.backend, t.batch),
                                        "achieved_gflops": result.achieved_gflops(t)})
    return rows


def bench_csv(result: BenchResult) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(_csv_rows(result))
    return out.getvalue()
