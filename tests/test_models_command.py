"""``trtbench models``: the GFLOPs column is bench's own count, read from a cache that a recount must match."""

from __future__ import annotations

import json

import pytest
from cli_helpers import run_cli

TINY = "vit_tiny"   # the cheapest to count (0.2 GFLOPs)


def bench_gflops(capsys, name: str, sensor: str) -> float:
    """What `trtbench flops NAME --json -` reports for one image at the model's input size, as GFLOPs."""
    from trtbench.models.registry import get_spec

    size = get_spec(name).facts.input_size
    result = run_cli(capsys, "flops", name, "--sensor", sensor, "--size", str(size), "--no-cross-check",
                     "--json", "-")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    return 2 * report["macs"] / report["input_shape"][0] / 1e9


def test_the_gflops_column_is_the_bench_count(capsys):
    """The cached count of a tiny model equals a fresh `trtbench flops` count (a stale cache fails here)."""
    from trtbench.models.command import GFLOPS_FILE, cached_gflops, gflops_key

    cached = cached_gflops()[gflops_key(TINY)]
    assert cached["sensor"] == "sentinel-2-l1c"   # the ViT takes any bands: counted on the default table
    counted = bench_gflops(capsys, TINY, cached["sensor"])
    assert cached["gflops"] == pytest.approx(counted, rel=1e-9), f"{GFLOPS_FILE} is stale: run scripts/count_model_gflops.py"
    result = run_cli(capsys, "models", "--json", "-")
    record = next(r for r in json.loads(result.out) if r["name"] == TINY)
    assert record["gflops"] == pytest.approx(counted, rel=1e-9) and record["gflops_sensor"] == "sentinel-2-l1c"
    table = run_cli(capsys, "models").out.splitlines()
    header = table[0].split()
    row = next(line.split() for line in table if line.startswith(TINY + " "))
    assert row[header.index("GFLOPs")] == f"{counted:.1f}"


def test_a_model_not_counted_yet_shows_a_dash_and_is_named(capsys, monkeypatch, tmp_path):
    import trtbench.models.command as command

    monkeypatch.setattr(command, "GFLOPS_FILE", tmp_path / "gflops.json")
    result = run_cli(capsys, "models")
    assert result.code == 0
    row = next(line.split() for line in result.out.splitlines() if line.startswith(TINY + " "))
    assert row[4] == "-"
    assert "GFLOPs not counted yet for" in result.out and TINY in result.out.splitlines()[-1]
