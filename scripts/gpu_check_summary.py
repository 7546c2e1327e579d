"""One-page summary of `scripts/gpu_check.sh`: what ran, passed, failed, and what was not run and why.

Reads OUT_DIR/env.json (the machine), the pytest JUnit reports (gpu_tests.xml, kernel_tests.xml),
bench.jsonl (one JSON object per benchmark row) and notes.txt (one "STATUS<TAB>what<TAB>why" line per
stage note). A test that could not be collected because a package is missing is "not run (needs package
X)", not a failure; any other error or failure is a failure. Benchmark figures are printed, never judged.
Exit status: 1 if anything that ran failed, else 0.

    python scripts/gpu_check_summary.py OUT_DIR
"""

from __future__ import annotations

import collections
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPORTS = (("gpu_tests.xml", "GPU tests (pytest -m gpu)"), ("kernel_tests.xml", "kernel tests on the GPU"))
MISSING_PACKAGE = re.compile(r"No module named '([\w.]+)'")


def machine_lines(env: dict) -> list[str]:
    gpu = f"{env['gpu']} (compute {env['capability']})" if env.get("cuda") else "no CUDA GPU visible to PyTorch"
    trt = env.get("tensorrt") or f"not available ({env.get('tensorrt_error')})"
    if env.get("tensorrt") and env.get("tensorrt_supported") is False:
        trt += f" -- NOT SUPPORTED: {env.get('tensorrt_error')}"
    return ["trtbench GPU check", f"  GPU: {gpu}",
            f"  torch {env.get('torch')}, triton {env.get('triton') or 'not installed'}, TensorRT {trt}",
            f"  nvcc: {env.get('nvcc') or 'no'}, cmake: {env.get('cmake') or 'no'}, "
            f"TensorRT headers: {env.get('tensorrt_headers') or 'not found'}", ""]


def junit_lines(path: Path, label: str) -> tuple[list[str], int]:
    """Counts per test module, each failure by name, not-run tests grouped by reason; and the failure count."""
    passed, not_run, failures = collections.Counter(), collections.Counter(), []
    for case in ET.parse(path).iter("testcase"):
        module = case.get("classname", "").split(".")[-1]
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        if problem is not None:
            message = problem.get("message") or ""
            missing = MISSING_PACKAGE.search(message + (problem.text or ""))
            if missing:
                not_run[f"needs package {missing.group(1)}"] += 1
            else:
                first = message.splitlines()[0][:110] if message else "(no message)"
                failures.append(f"    FAILED  {module}::{case.get('name')}: {first}")
        elif skipped is not None:
            not_run[re.sub(r"^Skipped: ", "", skipped.get("message") or "skipped")[:150]] += 1
        else:
            passed[module] += 1
    lines = [f"{label}: {sum(passed.values())} passed, {len(failures)} failed, {sum(not_run.values())} not run"]
    lines += [f"    passed  {module}: {n}" for module, n in sorted(passed.items())]
    lines += failures
    lines += [f"    NOT RUN {n} x: {why}" for why, n in not_run.most_common()]
    return [*lines, ""], len(failures)


def bench_lines(path: Path) -> list[str]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    if not rows:
        return []
    lines = ["Benchmark (mean ms per batch after warm-up; figures are reported, not asserted):"]
    for row in rows:
        extra = ", ".join(f"{k}={v:.1e}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                          if k not in ("what", "ms"))
        lines.append(f"    {row['ms']:9.3f} ms  {row['what']}" + (f"  [{extra}]" if extra else ""))
    return [*lines, ""]


def summarize(out: Path) -> tuple[str, int]:
    """The summary text and the number of failures."""
    lines, failed = machine_lines(json.loads((out / "env.json").read_text())), 0
    for report, label in REPORTS:
        if (out / report).is_file():
            more, count = junit_lines(out / report, label)
            lines, failed = lines + more, failed + count
    lines += bench_lines(out / "bench.jsonl")
    notes_file = out / "notes.txt"
    notes = [line.split("\t") for line in notes_file.read_text().splitlines() if line.strip()] \
        if notes_file.is_file() else []
    failed += sum(1 for status, *_ in notes if status == "FAILED")
    for status in ("RAN", "FAILED", "NOT RUN", "NOTE"):
        lines += [f"{status:8s}{what}: {why}" for kind, what, why in notes if kind == status]
    lines += ["", f"RESULT: {'FAILED' if failed else 'OK'} ({failed} failed); logs and artifacts in {out}"]
    return "\n".join(lines), failed


if __name__ == "__main__":
    text, failures = summarize(Path(sys.argv[1]))
    print(text)
    sys.exit(1 if failures else 0)
