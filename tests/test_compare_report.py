"""The comparison's ``report.html``: one self-contained page, checked in a real headless browser.

The browser is Debian's ``chromium`` driven by Playwright (no browser download, no network). The page must
show every cell, every plot, sort by a clicked column, raise no console error, fetch nothing from outside
the file, and render hostile strings (model names, reasons) as text. The rows are a FIXTURE with the cell
schema (numbers invented, not measured); the Pareto front and the escaping also have unit tests.
"""

from __future__ import annotations

import html
import itertools
from pathlib import Path
from typing import Any

from browser_helpers import assert_report_sound, chromium, load_report  # noqa: F401  (chromium: fixture)

from trtbench.compare.plots import higher_is_better, pareto_front, write_plots
from trtbench.compare.report_page import render_page, write_report

HOSTILE = '<img src=x onerror="document.title=\'pwned\'">&amp; "quoted" <script>alert(1)</script>'


def fixture_rows() -> list[dict[str, Any]]:
    """FIXTURE, not measurements: 2 models x 3 backends x 3 precisions x batch 1,2 with invented numbers,
    plus a skipped, an erroring and a parity-failed cell, a hostile model name and a wide-spread flag."""
    rows = []
    models = {"unet": (7.8e6, 1.2, "unet"), "clay_tiny": (5.1e6, 0.9, "clay")}
    for k, ((model, (params, gflops, family)), backend, precision, batch) in enumerate(itertools.product(
            models.items(), ("torch", "onnxruntime", "openvino"), ("fp32", "fp16", "int8"), (1, 2))):
        if backend == "torch" and precision == "int8":
            continue
        p50 = 3.0 + (k * 7 % 17) * 0.37   # not in table order, so that sorting has to move rows
        rows.append({
            "cell_id": f"c{k:02d}", "model": model, "family": family, "params": int(params), "gflops": gflops,
            "input_size": 64, "batch": batch, "backend": backend, "device": "cpu",
            "providers": ["CPUExecutionProvider"] if backend == "onnxruntime" else None, "precision": precision,
            "artifact": f"artifacts/{model}_{precision}.onnx", "artifact_bytes": int(params * 4),
            "artifact_sha256": f"{k:02d}" * 32, "status": "ok", "reason": None,
            "parity_max_abs": 1e-5 * (k + 1), "parity_rel": 1e-6 * (k + 1), "parity_cosine": 1 - 1e-7 * k,
            "task": "segmentation", "metric_name": "miou", "metric": 0.5 + 0.01 * (k % 7),
            "metric_reference": 0.55 if model == "unet" else 0.6, "metric_delta": 0.01 * (k % 7) - 0.05,
            "latency_p50_ms": p50, "latency_p90_ms": p50 * 1.1, "latency_p99_ms": p50 * 1.3,
            "latency_spread": 0.05 + 0.01 * (k % 4), "spread_flag": k == 6,
            "throughput_img_s": batch * 1000 / p50, "throughput_km2_s": batch * 1000 / p50 * 0.41,
            "peak_memory_mb": 100 + k,
        })
    empty = {key: None for key in rows[0]}
    rows += [
        {**empty, "cell_id": "s1", "model": "unet", "backend": "tensorrt", "precision": "fp16", "batch": 1,
         "input_size": 64, "status": "skipped", "reason": "no NVIDIA GPU on this machine"},
        {**empty, "cell_id": "e1", "model": HOSTILE, "backend": "openvino", "precision": "int8", "batch": 2,
         "input_size": 64, "status": "error", "reason": f"op unsupported: {HOSTILE}"},
        {**rows[0], "cell_id": "p1", "backend": "openvino", "precision": "int8", "status": "parity-failed",
         "reason": "max error 0.31 of the output scale > 0.1", "metric": None, "metric_delta": None,
         "latency_p50_ms": None, "latency_p90_ms": None, "latency_p99_ms": None, "throughput_img_s": None},
    ]
    return rows


ENVIRONMENT = {"cpu": "Fixture CPU <model>", "isa": ["avx2", "avx512f"], "gpu": None,
               "versions": {"torch": "2.x", "onnxruntime": "1.x"}}


# --- units -------------------------------------------------------------------------------------------------

def test_pareto_front_keeps_exactly_the_points_nothing_beats() -> None:
    #            0: slow+best  1: dominated by 0 and 2  2: fast+good  3: fastest+worst  4: tie of 2
    points = [(10.0, 0.9), (9.0, 0.7), (50.0, 0.8), (100.0, 0.5), (50.0, 0.8)]
    assert pareto_front(points) == [0, 2, 4, 3]
    # For an error metric (RMSE) lower is better: 1 loses to 2 (faster and lower), the others each win somewhere.
    errors = [(10.0, 0.2), (50.0, 0.4), (100.0, 0.3), (5.0, 0.1)]
    assert pareto_front(errors, maximise_y=False) == [3, 0, 2]
    assert pareto_front(errors) == [1, 2]          # the same points read as accuracy (higher is better)
    assert pareto_front([]) == []
    assert higher_is_better("miou") and higher_is_better("F1") and not higher_is_better("RMSE")


def test_every_string_from_the_cells_is_escaped() -> None:
    page = render_page(fixture_rows(), {"cpu <b>": HOSTILE}, [])
    assert HOSTILE not in page and "<script>alert(1)" not in page and "<img src=x" not in page
    assert html.escape(HOSTILE) in page            # shown as text in the table, the failures and the environment
    assert page.count("<script>") == 1             # the page's own sorting script, nothing injected
    assert "cpu &lt;b&gt;" in page


def test_plots_draw_only_cells_that_ran(tmp_path: Path) -> None:
    rows = fixture_rows()
    not_ok = [{**r, "status": "parity-failed"} for r in rows]   # numbers present, but nothing was valid
    missing = write_plots(not_ok, tmp_path / "none")
    assert [p.path for p in missing] == [None, None, None] and all(p.missing for p in missing)
    drawn = write_plots(rows, tmp_path / "all")
    assert sorted(p.path.name for p in drawn if p.path) == ["accuracy_vs_gflops.png", "accuracy_vs_throughput.png",
                                                            "latency_percentiles.png"]
    assert all(p.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in drawn if p.path)
    # A rerun with nothing to draw removes the earlier figures rather than leave ones the table contradicts.
    write_plots(not_ok, tmp_path / "all")
    assert list((tmp_path / "all").iterdir()) == []


# --- the page in a real browser ----------------------------------------------------------------------------

def column_values(page: Any, header: str) -> list[str]:
    """The sort values of one column, top to bottom, as the browser shows them now."""
    return page.evaluate("""(header) => {
        const table = document.querySelector("table.cells");
        const index = Array.from(table.tHead.rows[0].cells).findIndex(th => th.textContent.trim() === header);
        return Array.from(table.tBodies[0].rows, r => r.cells[index].dataset.sort);
    }""", header)


def test_report_page_renders_sorts_and_stays_offline_in_chromium(chromium: Any,  # noqa: F811  (the fixture)
                                                                  tmp_path: Path) -> None:
    rows = fixture_rows()
    path = write_report(rows, ENVIRONMENT, tmp_path / "cmp")
    assert path == tmp_path / "cmp" / "report.html"
    assert sorted(p.name for p in (tmp_path / "cmp" / "plots").iterdir()) == [
        "accuracy_vs_gflops.png", "accuracy_vs_throughput.png", "latency_percentiles.png"]
    view = load_report(chromium, path)
    page = view.page
    assert page.locator("img").count() == 3     # every plot (each then checked decoded by assert_report_sound)

    # Hostile strings are text, not markup: nothing ran, the name reads back literally.
    assert page.title().startswith("trtbench comparison") and page.locator("script").count() == 1
    assert page.locator("tr.status-error td").nth(1).inner_text() == HOSTILE
    # Failed and skipped cells are listed with their reasons; the wide-spread cell is flagged.
    failures = page.locator("ul.failures").inner_text()
    assert "no NVIDIA GPU on this machine" in failures and "max error 0.31" in failures
    assert "⚠" in page.locator("tr.spread-flagged td.spread").inner_text()

    before = [float(v) for v in column_values(page, "p50 ms") if v]
    assert before != sorted(before) and before != sorted(before, reverse=True)
    page.locator("table.cells th", has_text="p50 ms").click()
    values = column_values(page, "p50 ms")
    measured = [float(v) for v in values if v]
    assert measured == sorted(measured) and len(measured) == sum(r["latency_p50_ms"] is not None for r in rows)
    assert values[len(measured):] == [""] * (len(rows) - len(measured))    # cells without a value stay last
    page.locator("table.cells th", has_text="p50 ms").click()
    descending = [float(v) for v in column_values(page, "p50 ms") if v]
    assert descending == sorted(measured, reverse=True)
    page.locator("table.cells th", has_text="model").first.click()
    models = [v for v in column_values(page, "model") if v]
    assert models == sorted(models, key=str.lower)

    assert_report_sound(view, rows=len(rows), screenshot=tmp_path / "report.png")
    page.close()
