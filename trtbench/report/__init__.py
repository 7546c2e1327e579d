"""Reports: terminal tables, Markdown, CSV, JSON and plots for `eval` and `bench` results."""

from .bench import bench_csv, bench_json, bench_markdown, bench_table
from .eval import eval_markdown, eval_table
from .flops import flops_text
from .plots import plot_throughput

__all__ = ["bench_csv", "bench_json", "bench_markdown", "bench_table", "eval_markdown", "eval_table", "flops_text",
           "plot_throughput"]
