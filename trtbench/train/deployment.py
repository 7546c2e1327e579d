"""Deployment facts for the leaderboard: on which backend, at which precision and from which artifact each
trained model was measured by ``trtbench compare``, and what it scored and cost there.

``trtbench report RUNS --compare CMP/`` attributes the comparison's cells to the experiments by content,
never by name or path (a runs folder may have moved, a label may be anything): a cell belongs to an
experiment when the artifact it measured is that experiment's ``best.ckpt`` (its ``artifact_sha256``), or
was exported from it (the artifact's own metadata, ONNX header or engine sidecar, records the sha256 of
the checkpoint it came from).

The GEO-Bench CSV keeps exactly the reference's columns: the leaderboard defines them and its schema check
refuses any other. The backend, precision and artifact hash therefore go into a CSV of their own beside it,
``<name>_deployment.csv``: per (experiment, cell), the reference's identity columns of the best seed (whose
``best.ckpt`` was exported) followed by :data:`DEPLOYMENT_COLUMNS`; and into ``trtbench_details.json``
under each experiment's ``"deployment"``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..artifact import read_artifact_metadata
from ..compare.cells import ROW_FIELDS
from ..engine_meta import is_engine_path
from ..errors import TrtbenchError
from ..fileio import atomic_output, file_sha256

IDENTITY_COLUMNS = ("dataset", "Metric", "experiment_name", "partition name", "backbone", "decoder", "Seed",
                    "test metric")
DEPLOYMENT_COLUMNS = ("backend", "device", "precision", "batch", "input_size", "artifact", "artifact_sha256",
                      "status", "reason", "metric_name", "metric", "metric_delta", "parity_rel", "latency_p50_ms",
                      "latency_p99_ms", "latency_spread", "spread_flag", "throughput_img_s", "peak_memory_mb",
                      "cell_id")
RESULTS_FILE = "results.json"   # the table `trtbench compare` writes last (trtbench.compare.tables)


def load_cells(compare: str | Path) -> list[dict[str, Any]]:
    """The rows of a finished ``trtbench compare`` output folder: its ``results.json`` table, one row per cell
    (``cells/`` also holds rows of earlier, different matrices; the table holds exactly the last one's)."""
    table = Path(compare) / RESULTS_FILE
    if not table.is_file():
        raise TrtbenchError(f"--compare {compare}: no {RESULTS_FILE} (not the folder of a finished comparison)",
                            "pass the -o folder of `trtbench compare`, after it has finished")
    try:
        rows = json.loads(table.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrtbenchError(f"{table} is not a readable comparison table ({exc})",
                            "re-run `trtbench compare` into that folder to rewrite it") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and set(ROW_FIELDS) <= set(r) for r in rows):
        raise TrtbenchError(f"{table} is not a comparison table (a list of rows with the cell fields)",
                            "re-run `trtbench compare` into that folder to rewrite it")
    return rows


def source_checkpoint(row: Mapping[str, Any], base: Path) -> str | None:
    """The sha256 of the checkpoint a cell's artifact was exported from, read from the artifact's metadata;
    None when the cell has no artifact file (or it has gone, or records no checkpoint). A relative artifact
    path is tried as given, then against the comparison folder ``base``."""
    if not row.get("artifact"):
        return None
    path = next((p for p in (Path(row["artifact"]), base / row["artifact"]) if p.is_file()), None)
    if path is None or not (path.suffix.lower() == ".onnx" or is_engine_path(path)):
        return None   # e.g. the checkpoint itself (torch cells), matched by its own hash instead
    try:
        return read_artifact_metadata(path).checkpoint_sha256
    except TrtbenchError:
        return None   # a file without trtbench metadata was exported from no checkpoint of ours


def attribute_cells(folders: Sequence[str], rows: Sequence[Mapping[str, Any]], base: Path) -> dict[str, list[dict]]:
    """The cells measured on each experiment folder's ``best.ckpt`` (by content, see the module docstring)."""
    by_hash = {file_sha256(Path(folder) / "best.ckpt"): folder for folder in folders}
    found: dict[str, list[dict]] = {folder: [] for folder in folders}
    for row in rows:
        folder = by_hash.get(row.get("artifact_sha256")) or by_hash.get(source_checkpoint(row, base))
        if folder is not None:
            found[folder].append(dict(row))
    for cells in found.values():
        cells.sort(key=lambda r: [str(r.get(k)) for k in ("backend", "precision", "batch", "input_size")])
    return found


def deployment_rows(identity: Mapping[str, Mapping[str, Any]], cells: Mapping[str, Sequence[Mapping[str, Any]]]
                    ) -> list[dict[str, Any]]:
    """One row per (experiment, cell): ``identity[folder]`` (the best seed's GEO-Bench columns), then the cell."""
    return [{**{c: identity[folder][c] for c in IDENTITY_COLUMNS}, **{c: cell.get(c) for c in DEPLOYMENT_COLUMNS}}
            for folder, found in cells.items() for cell in found]


def write_deployment_csv(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=(*IDENTITY_COLUMNS, *DEPLOYMENT_COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    with atomic_output(path) as tmp:
        tmp.write_text(buffer.getvalue())
    return Path(path)
