"""One cell of the matrix (model x backend x precision x batch x input size), its stable id and its result row.

Each finished cell is written atomically to ``OUT/cells/<id>.json`` the moment it is known, so a
comparison killed at any point loses at most the cells in flight. The id is a readable prefix plus a
hash of everything that decides the result (the model's identity and weights, the evaluation set, the
backend, precision, batch and size), so a rerun of the same matrix finds its cells and a changed
matrix never picks up a stale one. A rerun reuses cells whose status is ``ok`` and recomputes the
others (errors, parity failures, skips: the machine or the code may have changed since).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..fileio import atomic_output
from .matrix import ModelEntry

OK, SKIPPED, ERROR, PARITY_FAILED = "ok", "skipped", "error", "parity-failed"
CELLS_FOLDER = "cells"
# The row every cell writes; the tables, the plots and report.html read exactly these names.
ROW_FIELDS = ("cell_id", "model", "family", "params", "gflops", "input_size", "batch", "backend", "device",
              "providers", "precision", "artifact", "artifact_bytes", "artifact_sha256", "status", "reason",
              "parity_max_abs", "parity_rel", "parity_cosine", "task", "metric_name", "metric",
              "metric_reference", "metric_delta", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms",
              "latency_spread", "spread_flag", "throughput_img_s", "throughput_km2_s", "peak_memory_mb",
              "ttt")   # TTT-MMR checkpoints: what K adaptation steps cost beside the static model (adapt/compare_column)


@dataclass(frozen=True)
class Cell:
    model: ModelEntry
    backend: str
    precision: str
    batch: int
    size: int

    def cell_id(self, model_key: str, data_key: str) -> str:
        """``<model>-<backend>-<precision>-b<batch>-s<size>-<hash>``: readable, and stable for equal inputs."""
        digest = hashlib.sha256(json.dumps([model_key, data_key, self.backend, self.precision, self.batch,
                                            self.size]).encode()).hexdigest()[:10]
        stem = re.sub(r"[^A-Za-z0-9_.]+", "_", self.model.label)
        return f"{stem}-{self.backend}-{self.precision}-b{self.batch}-s{self.size}-{digest}"


def empty_row(cell: Cell, cell_id: str) -> dict[str, Any]:
    """A row with the cell's coordinates and every measured field empty."""
    return dict.fromkeys(ROW_FIELDS) | {"cell_id": cell_id, "model": cell.model.label, "backend": cell.backend,
                                        "precision": cell.precision, "batch": cell.batch, "input_size": cell.size,
                                        "spread_flag": False}


def cell_path(out_dir: Path, cell_id: str) -> Path:
    return out_dir / CELLS_FOLDER / f"{cell_id}.json"


def read_finished(out_dir: Path, cell_id: str) -> dict[str, Any] | None:
    """The stored row of a cell that finished ``ok``, else None (absent, unreadable, or to be retried)."""
    path = cell_path(out_dir, cell_id)
    try:
        row = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return row if isinstance(row, dict) and row.get("status") == OK and set(ROW_FIELDS) <= set(row) else None


def write_cell(out_dir: Path, row: Mapping[str, Any]) -> Path:
    """Write one row atomically (a kill leaves the previous file or none, never half a row)."""
    path = cell_path(out_dir, row["cell_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps({k: row.get(k) for k in ROW_FIELDS}, indent=1))
    return path
