"""The comparison's figures: accuracy vs GFLOPs, accuracy vs throughput with its Pareto front, latency percentiles.

matplotlib with the Agg backend (no display needed), in the style of :mod:`trtbench.report.plots`. Each
figure is drawn from the cells that measured what it shows (``status == "ok"`` and the plotted numbers
present); cells that could not run stay in the report's table with their reason and never in a figure. A
figure with nothing to show is not drawn: :func:`write_plots` says why instead, so the page can print it.

The accuracy-vs-GFLOPs figure is Cryo-Bench's (mIoU against forward-pass GFLOPs, one point per model): here
one point per (model, input size), at the PyTorch fp32 reference accuracy each cell carries
(``metric_reference``), since GFLOPs belong to the model and the input size, not to a backend or precision.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TrtbenchError
from ..fileio import atomic_output

Row = Mapping[str, Any]
# Error metrics fall as a model improves; every other task metric (mIoU, F1, accuracy) rises.
LOWER_IS_BETTER = frozenset({"mae", "rmse", "mse", "loss"})


@dataclass(frozen=True)
class Plot:
    """One figure of the report: its title, the PNG written (None when not drawn) and why it was not."""

    title: str
    path: Path | None
    missing: str = ""


def higher_is_better(metric_name: str | None) -> bool:
    """Whether a larger value of this task metric is the better one (False for error metrics such as RMSE)."""
    return (metric_name or "").strip().lower() not in LOWER_IS_BETTER


def pareto_front(points: Sequence[tuple[float, float]], *, maximise_y: bool = True) -> list[int]:
    """Indices of the points no other point beats: ``x`` (throughput) is always maximised, ``y`` (accuracy)
    maximised or, for error metrics, minimised. A point is dominated when another is at least as good on both
    axes and strictly better on one; equal points are all kept. Returned in increasing ``x``."""
    sign = 1.0 if maximise_y else -1.0
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(ox >= x and sign * oy >= sign * y and (ox > x or sign * oy > sign * y)
                        for j, (ox, oy) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], sign * points[i][1]))


def write_plots(rows: Sequence[Row], folder: Path) -> list[Plot]:
    """Every figure of the report as a PNG in ``folder`` (created if missing); each written atomically."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TrtbenchError("the comparison's plots need matplotlib", "pip install 'trtbench[plot]'") from None
    folder.mkdir(parents=True, exist_ok=True)
    drawers: list[tuple[str, str, Callable[[Sequence[Row]], Any]]] = [
        ("Accuracy vs GFLOPs (PyTorch fp32, one point per model and input size)", "accuracy_vs_gflops.png",
         _accuracy_vs_gflops),
        ("Accuracy vs throughput per backend and precision (Pareto front marked)", "accuracy_vs_throughput.png",
         _accuracy_vs_throughput),
        ("Latency percentiles p50 / p90 / p99 per batch size", "latency_percentiles.png", _latency_percentiles),
    ]
    plots = []
    for title, name, draw in drawers:
        figure = draw(rows)
        path = folder / name
        if isinstance(figure, str):
            path.unlink(missing_ok=True)   # an earlier run's figure would no longer match the table
            plots.append(Plot(title, None, figure))
            continue
        with atomic_output(path) as tmp:
            figure.savefig(tmp, format="png", dpi=110)
        plt.close(figure)
        plots.append(Plot(title, path))
    return plots


def _measured(rows: Sequence[Row], *fields: str) -> list[Row]:
    """The cells that ran and carry every one of ``fields`` as a finite number."""
    return [r for r in rows if r.get("status") == "ok"
            and all(isinstance(r.get(f), (int, float)) and math.isfinite(r[f]) for f in fields)]


def _by_metric(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """Cells grouped by task metric (mIoU and RMSE cannot share an axis), in first-seen order."""
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        groups[str(r.get("metric_name") or "metric")].append(r)
    return dict(groups)


def _axes(count: int, width: float = 6.0, height: float = 4.2) -> tuple[Any, list[Any]]:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, count, figsize=(width * count, height), layout="constrained", squeeze=False)
    return fig, list(axes[0])


def _plain_log_x(ax: Any) -> None:
    """A log x axis labelled 60, 100, 200 rather than 6x10^1: readers compare these numbers with the table."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.set_xscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))   # 2, 5, 20, 50...: labelled, not crowded
    ax.xaxis.set_minor_formatter(plain)
    ax.tick_params(axis="x", which="both", labelsize=8)


def _accuracy_vs_gflops(rows: Sequence[Row]) -> Any:
    cells = _measured(rows, "gflops", "metric_reference")
    cells = [r for r in cells if r.get("precision") == "fp32"]
    if not cells:
        return "no fp32 cell with GFLOPs and a reference accuracy"
    groups = _by_metric(cells)
    fig, axes = _axes(len(groups))
    for ax, (metric, group) in zip(axes, groups.items()):
        points: dict[tuple[str, Any], tuple[float, float]] = {}
        for r in group:
            points.setdefault((str(r["model"]), r.get("input_size")), (r["gflops"], r["metric_reference"]))
        for (model, size), (x, y) in points.items():
            ax.scatter([x], [y], s=40, zorder=3)
            ax.annotate(f"{model} @ {size}px" if size else model, (x, y), textcoords="offset points",
                        xytext=(5, 4), fontsize=8)
        _plain_log_x(ax)
        ax.set_xlabel("GFLOPs per image (forward pass, 2 x fvcore MACs)")
        ax.set_ylabel(f"{metric} (PyTorch fp32)")
        ax.grid(True, alpha=0.3)
    return fig


def _accuracy_vs_throughput(rows: Sequence[Row]) -> Any:
    cells = _measured(rows, "throughput_img_s", "metric")
    if not cells:
        return "no cell measured both throughput and accuracy"
    groups = _by_metric(cells)
    fig, axes = _axes(len(groups))
    for ax, (metric, group) in zip(axes, groups.items()):
        series: dict[str, list[Row]] = defaultdict(list)
        for r in group:
            series[f"{r.get('backend')} {r.get('precision')}"].append(r)
        for label, members in series.items():
            ax.scatter([r["throughput_img_s"] for r in members], [r["metric"] for r in members], s=36,
                       label=label, zorder=3)
        points = [(r["throughput_img_s"], r["metric"]) for r in group]
        front = pareto_front(points, maximise_y=higher_is_better(metric))
        ax.plot([points[i][0] for i in front], [points[i][1] for i in front], color="black", linewidth=1.2,
                linestyle="--", marker="o", markerfacecolor="none", markersize=11, label="Pareto front", zorder=4)
        for i in front:
            r = group[i]
            ax.annotate(f"{r['model']} b{r.get('batch')}", points[i], textcoords="offset points", xytext=(6, -10),
                        fontsize=7)
        _plain_log_x(ax)
        ax.set_xlabel("images / s (median latency)")
        ax.set_ylabel(f"{metric} ({'higher' if higher_is_better(metric) else 'lower'} is better)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def _latency_percentiles(rows: Sequence[Row]) -> Any:
    import numpy as np

    cells = _measured(rows, "latency_p50_ms", "latency_p90_ms", "latency_p99_ms")
    if not cells:
        return "no cell has latency percentiles"
    batches = sorted({r.get("batch") for r in cells}, key=lambda b: (b is None, b))
    fig, axes = _axes(len(batches), width=5.5, height=max(3.0, 0.32 * len(cells) / len(batches) + 1.6))
    for ax, batch in zip(axes, batches):
        group = sorted((r for r in cells if r.get("batch") == batch), key=lambda r: r["latency_p50_ms"])
        labels = [f"{r['model']} {r.get('backend')} {r.get('precision')} {r.get('input_size')}px"
                  + (" (wide spread)" if r.get("spread_flag") else "") for r in group]
        y = np.arange(len(group))
        for k, (field, name) in enumerate((("latency_p50_ms", "p50"), ("latency_p90_ms", "p90"),
                                            ("latency_p99_ms", "p99"))):
            ax.barh(y + (k - 1) * 0.27, [r[field] for r in group], height=0.27, label=name)
        ax.set_yticks(y, labels, fontsize=7)
        ax.invert_yaxis()
        _plain_log_x(ax)
        ax.set_xlabel("latency of one batch (ms)")
        ax.set_title(f"batch {batch}", fontsize=10)
        ax.grid(True, axis="x", alpha=0.3)
        ax.legend(fontsize=7)
    return fig
