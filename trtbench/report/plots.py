"""Figures for bench results (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

from ..bench.run import BenchResult
from ..errors import TrtbenchError
from ..fileio import atomic_output


def plot_throughput(result: BenchResult, path: str | Path) -> Path:
    """Images/s against batch size, one line per backend with valid timings (parity-failed ones are absent)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TrtbenchError("plots need matplotlib", "pip install 'trtbench[plot]'") from None
    valid = [b for b in result.backends if b.valid and b.timings]
    if not valid:
        raise TrtbenchError("no backend has valid timings to plot", "fix the failing backends or drop --plot")
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    for b in valid:
        batches = [t.batch for t in b.timings]
        ax.plot(batches, [t.images_per_s for t in b.timings], marker="o", label=b.backend)
    ax.set_xscale("log", base=2)
    ax.set_xticks(result.batches, [str(x) for x in result.batches])
    ax.set_xlabel("batch size")
    ax.set_ylabel("images / s (median latency)")
    ax.set_title(f"{result.metadata['model']} at {result.image_size}x{result.image_size} px, "
                 f"{result.machine['threads']} threads")
    ax.grid(True, alpha=0.3)
    ax.legend()
    path = Path(path)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)
    return path
