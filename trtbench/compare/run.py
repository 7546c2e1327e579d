"""Run a comparison matrix: accuracy and parity per (model, backend, precision, size), then timing per cell.

Two phases, because they need different things from the machine:

1. **Exports, parity and task accuracy** (:func:`run_accuracy_job`) do not depend on the machine being
   quiet, so they may run anywhere: in this process, or spread over a Dask cluster given with
   ``scheduler`` (an existing scheduler only: a local cluster is never started by default, since on a
   small machine its workers would only compete with each other). Each job evaluates the artifact with
   :func:`trtbench.evaluate.evaluate` (the same tiles, parity rule and torchmetrics as ``trtbench eval``)
   on the whole evaluation set, once per batch-independent combination; its result is cached in
   ``OUT/accuracy/``.
2. **Timing** runs here, strictly one runner at a time: never two timed cells at once. For each
   artifact, the backends that passed parity are timed in interleaved rounds (backend A, B, C, A, B,
   C, ...) as ``benchmarks/compare_backends.py`` does, so drift in the machine's load hits every
   backend alike; the samples of all rounds are pooled, and each latency carries its spread (relative
   interquartile range) and a flag when that spread is wider than the matrix's ``spread_limit``.
   Peak memory is sampled while a backend is activated and runs each batch once, and never while timing.

A cell that cannot run is ``skipped`` (the backend cannot run here, the precision does not apply) or an
``error`` with the reason; a cell whose outputs differ from PyTorch beyond the precision's tolerance is
``parity-failed`` and never timed. Whatever happens to one cell, the others go on.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..errors import InputError, TrtbenchError
from ..fileio import atomic_output
from .cells import ERROR, OK, PARITY_FAILED, SKIPPED, Cell, empty_row, read_finished, write_cell
from .exports import ARTIFACTS_FOLDER, artifact_unavailable_reason, ensure_artifact, ensure_engine, model_key
from .matrix import DataSpec, Matrix, ModelEntry

ACCURACY_FOLDER = "accuracy"
TORCH_FP32_ONLY = ("the torch backend runs the PyTorch model itself, at fp32; {precision} is an ONNX artifact "
                   "(run it on onnxruntime, openvino or tensorrt)")
METRIC_OF_TASK = {"segmentation": "miou", "regression": "rmse"}
RUNTIME_ONLY = ("bf16",)   # precisions set on the runner, not baked into an artifact


@dataclass(frozen=True)
class AccuracyJob:
    """Export + parity + task accuracy of one (model, backend, precision, size): shared by its batch cells."""

    job_id: str
    model: ModelEntry
    model_key: str
    data: DataSpec
    backend: str
    precision: str
    size: int
    batch: int          # the largest batch of the matrix: the engine profile's and the evaluation's batch
    out_dir: str


def run_matrix(matrix: Matrix, out_dir: Path, *, scheduler: str | None = None,
               progress: bool = True, echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Every cell of ``matrix`` as a row, reusing finished cells in ``out_dir``; returns the rows in matrix order."""
    data_key = matrix.data_key()
    keys = {m.label: model_key(m, matrix.data) for m in matrix.models}
    cells = [Cell(m, backend, precision, batch, size) for m in matrix.models for size in matrix.input_sizes
             for precision in matrix.precisions for backend in matrix.backends for batch in matrix.batches]
    ids = {cell: cell.cell_id(keys[cell.model.label], data_key) for cell in cells}
    rows: dict[Cell, dict[str, Any]] = {}
    for cell in cells:
        if (row := read_finished(out_dir, ids[cell])) is not None:
            rows[cell] = row
    bar = tqdm(total=len(cells), desc="compare", unit="cell", disable=not progress, initial=len(rows))
    if rows:
        echo(f"reused {len(rows)} finished cell(s) of {len(cells)} from {out_dir / 'cells'}")

    def finish(cell: Cell, row: dict[str, Any]) -> None:
        write_cell(out_dir, row)
        rows[cell] = row
        bar.update()
        if progress:
            bar.write(cell_line(row), file=sys.stderr)   # above the bar, which stays at the bottom
        else:
            echo(cell_line(row))

    jobs: dict[tuple, AccuracyJob] = {}
    waiting: dict[tuple, list[Cell]] = defaultdict(list)
    for cell in [c for c in cells if c not in rows]:
        reason = skip_reason(cell)
        if reason:
            finish(cell, empty_row(cell, ids[cell]) | {"status": SKIPPED, "reason": reason})
            continue
        key = (cell.model.label, cell.backend, cell.precision, cell.size)
        waiting[key].append(cell)
        if key not in jobs:
            jobs[key] = AccuracyJob(_job_id(keys[cell.model.label], data_key, *key), cell.model,
                                    keys[cell.model.label], matrix.data, cell.backend, cell.precision, cell.size,
                                    max(matrix.batches), str(out_dir))
    accuracy: dict[tuple, dict[str, Any]] = {}
    timed: dict[tuple, list[Cell]] = defaultdict(list)
    for job, result in run_jobs(list(jobs.values()), scheduler):
        key = (job.model.label, job.backend, job.precision, job.size)
        accuracy[key] = result
        for cell in waiting[key]:
            row = empty_row(cell, ids[cell]) | result["row"]
            if row["status"] != OK:
                finish(cell, row)
                continue
            timed[cell.model.label, cell.precision, cell.size].append(cell)
            rows[cell] = row    # completed by timing below, written then
    for group in timed.values():
        time_group(group, {c: rows[c] for c in group}, accuracy, matrix, finish)
    bar.close()
    return [rows[c] for c in cells]


def skip_reason(cell: Cell) -> str | None:
    """Why a cell cannot run on this machine or does not apply, without loading anything heavy."""
    from ..backends import backend_unavailable_reason, check_runtime_precision

    if cell.backend.startswith("torch") and artifact_precision(cell.precision) != "fp32":
        return TORCH_FP32_ONLY.format(precision=cell.precision)
    try:
        check_runtime_precision(cell.backend, runtime_precision(cell.precision))
    except TrtbenchError as exc:
        return _reason(exc)
    return backend_unavailable_reason(cell.backend) or artifact_unavailable_reason(
        cell.model, artifact_precision(cell.precision))


def artifact_precision(precision: str) -> str:
    """The artifact a precision runs: fp16 and int8 are ONNX files of their own; bf16 runs the fp32 one."""
    return "fp32" if precision in RUNTIME_ONLY else precision


def runtime_precision(precision: str) -> str:
    """The precision the runner computes in (bf16: OpenVINO's inference-precision hint, torch autocast)."""
    return precision if precision in RUNTIME_ONLY else "fp32"


DASK_SCHEDULER_PORT = 8786
SCHEDULER_CONNECT_S = 5.0


def check_scheduler(address: str, timeout: float = SCHEDULER_CONNECT_S) -> None:
    """Refuse a Dask scheduler address that nothing answers on, before any work: a TCP connection to its
    host and port (``tcp://host:port``, ``host:port`` or ``host``, Dask's default port 8786). An ``inproc://``
    address is a scheduler in this very process (a test's LocalCluster): there is no socket to probe."""
    import socket
    from urllib.parse import urlsplit

    fix = "start the scheduler (`dask scheduler`) or check the address (tcp://host:8786), or drop --scheduler"
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme == "inproc":
        return
    try:
        host, port = parts.hostname, parts.port or DASK_SCHEDULER_PORT
    except ValueError:
        raise InputError(f"--scheduler {address} is not an address (bad port)", fix) from None
    if parts.scheme not in ("tcp", "tls", "ws", "wss") or not host:
        raise InputError(f"--scheduler {address} is not a Dask scheduler address (tcp://host:port)", fix)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address} ({host}:{port}: "
                         f"{exc.strerror or exc})", fix) from None


def run_jobs(jobs: list[AccuracyJob], scheduler: str | None) -> Iterator[tuple[AccuracyJob, dict[str, Any]]]:
    """(job, result) as each accuracy job finishes: here, one after the other, or on the Dask cluster at
    ``scheduler``."""
    if scheduler is None or not jobs:
        for job in jobs:
            yield job, run_accuracy_job(job)
        return
    from distributed import Client, as_completed

    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {exc}",
                         "check the address (tcp://host:8786), or drop --scheduler to run here") from None
    with client:
        # Exports first, one per artifact, so two jobs of one artifact do not both export it.
        firsts = list({(j.model.label, artifact_precision(j.precision), j.size): j for j in jobs}.values())
        client.gather(client.map(prepare_artifact, firsts, pure=False))
        futures = {client.submit(run_accuracy_job, job, pure=False): job for job in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()


def prepare_artifact(job: AccuracyJob) -> str | None:
    """Export the job's artifact into the cache; the problem in words if it cannot be (the job reports it)."""
    try:
        ensure_artifact(Path(job.out_dir), job.model, job.data, artifact_precision(job.precision), job.size,
                        job.model_key)
    except Exception as exc:  # noqa: BLE001 - reported by the job's cells, never fatal to the others
        return _reason(exc)
    return None


def run_accuracy_job(job: AccuracyJob) -> dict[str, Any]:
    """``{"row": fields, "artifact": path}`` of one job: export (cached), parity and task metrics.

    Never raises for a problem of its own: the problem becomes the cells' ``error`` reason.
    """
    cache = Path(job.out_dir) / ACCURACY_FOLDER / f"{job.job_id}.json"
    try:
        stored = json.loads(cache.read_text())
        if stored["row"]["status"] == OK and Path(stored["artifact"]).is_file():
            return stored
    except (OSError, ValueError, KeyError, TypeError):
        pass
    artifact = None
    try:
        onnx = ensure_artifact(Path(job.out_dir), job.model, job.data, artifact_precision(job.precision),
                               job.size, job.model_key)
        if job.backend == "tensorrt":   # built from the fp32 ONNX at the cell's precision (calibrated for int8)
            fp32 = ensure_artifact(Path(job.out_dir), job.model, job.data, "fp32", job.size, job.model_key)
            artifact = ensure_engine(fp32, job.precision, job.batch, job.size, job.data)
        else:
            artifact = onnx
        row = model_facts(onnx, job) | _artifact_fields(artifact) | evaluation_fields(artifact, job)
    except Exception as exc:  # noqa: BLE001 - one cell's failure must not stop the others
        row = {"status": ERROR, "reason": _reason(exc)}
    result = {"row": row, "artifact": str(artifact) if artifact else None}
    if row["status"] == OK:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(cache) as tmp:
            tmp.write_text(json.dumps(result))
    return result


def evaluation_fields(artifact: Path, job: AccuracyJob) -> dict[str, Any]:
    """Parity and task metric of ``artifact`` on ``job.backend`` over the whole evaluation set."""
    from ..evaluate import evaluate

    result = evaluate(artifact, job.data.images, labels=[job.data.masks], backend=job.backend, tile=job.size,
                      batch_size=job.batch, ignore_index=job.data.ignore_index, progress=False,
                      precision=runtime_precision(job.precision))
    task = result.metadata["task"]
    metric = METRIC_OF_TASK.get(task)
    reference, measured = result.task.get("reference", {}), result.task.get("artifact", {})
    worst = max(result.parity, key=lambda p: p.rel_max)
    fields = {"device": _device(result.backend), "providers": ",".join(result.backend.get("providers", [])) or None,
              "parity_max_abs": max(p.max_abs for p in result.parity), "parity_rel": worst.rel_max,
              "parity_cosine": min(p.cosine for p in result.parity), "task": task, "metric_name": metric,
              "metric": measured.get(metric), "metric_reference": reference.get(metric),
              "metric_delta": result.task_delta().get(metric), "status": OK, "reason": None}
    if not result.passed:
        fields |= {"status": PARITY_FAILED, "reason": f"{worst.output}: max |diff| / scale = {worst.rel_max:.3g} > "
                                                      f"{result.tolerance:g} ({job.precision} tolerance); not timed"}
    return fields


def model_facts(artifact: Path, job: AccuracyJob) -> dict[str, Any]:
    """Family, parameters and GFLOPs (fvcore, at the cell's input size) of the artifact's PyTorch model,
    cached in ``OUT/artifacts/`` per model and size (they do not depend on the backend or precision)."""
    cache = Path(job.out_dir) / ARTIFACTS_FOLDER / f"facts-{job.model_key}-s{job.size}.json"
    try:
        return json.loads(cache.read_text())
    except (OSError, ValueError):
        pass
    from ..artifact import read_artifact_metadata
    from ..bench.flops import count_flops
    from ..models import rebuild_reference

    meta = read_artifact_metadata(artifact)
    model = rebuild_reference(meta)
    flops = count_flops(model, (1, meta.channels, job.size, job.size), cross_check=False)   # T*C
    facts = {"family": meta.family, "params": sum(p.numel() for p in model.parameters()),
             "gflops": 2 * flops.gmac_per_image}
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(cache) as tmp:
        tmp.write_text(json.dumps(facts))
    return facts


def time_group(cells: list[Cell], rows: dict[Cell, dict[str, Any]], accuracy: dict[tuple, dict[str, Any]],
               matrix: Matrix, finish: Callable[[Cell, dict[str, Any]], None]) -> None:
    """Time the cells of one model, precision and size (its backends x batches) in interleaved rounds, each
    backend on the artifact its accuracy job ran (the ONNX file, or the TensorRT engine); finish each cell."""
    from ..adapt.compare_column import ttt_column
    from ..artifact import read_artifact_metadata
    from ..bench.target import make_feeds
    from ..bench.timing import TimingConfig, km2_per_image

    first = cells[0]
    artifacts = {c.backend: Path(accuracy[c.model.label, c.backend, c.precision, c.size]["artifact"]) for c in cells}
    meta = read_artifact_metadata(artifacts[first.backend])
    batches = sorted({c.batch for c in cells})
    feeds = dict(zip(batches, make_feeds(meta, batches, first.size, matrix.data.images[0])))
    spec = matrix.timing
    config = TimingConfig(warmup=spec.warmup, min_iters=spec.min_iters, min_time=spec.min_time)
    backends = list(dict.fromkeys(c.backend for c in cells))
    samples: dict[tuple[str, int], list[float]] = defaultdict(list)
    memory: dict[tuple[str, int], float] = {}
    failed: dict[str, str] = {}
    for _ in range(spec.rounds):
        for backend in backends:
            if backend in failed:
                continue
            try:
                for batch, measured, peak in timed_runs(artifacts[backend], backend, runtime_precision(first.precision),
                                                        [feeds[b] for b in batches], config, spec.threads or None):
                    samples[backend, batch] += measured
                    memory.setdefault((backend, batch), peak)
            except Exception as exc:  # noqa: BLE001 - a backend failing while timed fails its cells only
                failed[backend] = _reason(exc)
    km2 = km2_per_image(first.size, first.size, meta.gsd)
    for cell in cells:
        row = rows[cell]
        if cell.backend in failed:
            finish(cell, row | {"status": ERROR, "reason": f"while timing: {failed[cell.backend]}"})
            continue
        finish(cell, row | latency_fields(samples[cell.backend, cell.batch], cell.batch, km2, spec.spread_limit)
               | {"peak_memory_mb": memory[cell.backend, cell.batch],
                  "ttt": ttt_column(cell.model.checkpoint, cell.backend, cell.batch, cell.size, config)})


def timed_runs(artifact: Path, backend: str, precision: str, feeds: list[dict[str, np.ndarray]], config: Any,
               threads: int | None) -> Iterator[tuple[int, list[float], float]]:
    """(batch, latencies in ms, peak memory in MiB) per feed for one activation of ``backend``.

    Memory is what the process grew by while the runner was activated and ran each batch once (engine
    compilation and arenas: the peak), sampled before any timing so the sampler cannot perturb it.
    """
    from ..backends import runner_for_artifact
    from ..bench.memory import PeakMemory
    from ..bench.timing import time_runner

    runner = runner_for_artifact(artifact, backend, threads=threads, precision=precision)
    gc.collect()
    peaks = []
    try:
        with PeakMemory() as peak:
            runner.activate()
            for feed in feeds:
                runner.infer(feed)
                peaks.append(peak.result().delta_mib)
        for feed, mib in zip(feeds, peaks):
            yield next(iter(feed.values())).shape[0], time_runner(runner, feed, config).samples_ms, mib
    finally:
        runner.deactivate()


def latency_fields(samples_ms: list[float], batch: int, km2_per_image: float, spread_limit: float) -> dict[str, Any]:
    """Percentiles, spread (relative IQR) and throughput of pooled latency samples."""
    s = np.asarray(samples_ms)
    p25, p50, p75, p90, p99 = np.percentile(s, [25, 50, 75, 90, 99])
    spread = float((p75 - p25) / p50)
    return {"latency_p50_ms": float(p50), "latency_p90_ms": float(p90), "latency_p99_ms": float(p99),
            "latency_spread": spread, "spread_flag": spread > spread_limit, "throughput_img_s": batch / (p50 / 1e3),
            "throughput_km2_s": batch / (p50 / 1e3) * km2_per_image}


def cell_line(row: dict[str, Any]) -> str:
    """The one line printed when a cell finishes."""
    if row["status"] == OK:
        metric = f"{row['metric_name']} {row['metric']:.4f} (Δ {row['metric_delta']:+.4f})" \
            if row.get("metric") is not None else "no task metric"
        flag = " SPREAD" if row["spread_flag"] else ""
        return (f"ok             {row['cell_id']}: p50 {row['latency_p50_ms']:.2f} ms (spread "
                f"{row['latency_spread']:.0%}{flag}), {row['throughput_img_s']:.1f} img/s, {metric}")
    return f"{row['status']:<14} {row['cell_id']}: {row['reason']}"


def _artifact_fields(artifact: Path) -> dict[str, Any]:
    from ..artifact import artifact_bytes, artifact_sha256

    return {"artifact": str(artifact), "artifact_bytes": artifact_bytes(artifact),
            "artifact_sha256": artifact_sha256(artifact)}


def _device(info: dict[str, Any]) -> str:
    providers = info.get("providers") or []
    if providers and providers[0] in ("TensorrtExecutionProvider", "CUDAExecutionProvider"):
        return "cuda"
    return str(info.get("device", "cpu")).lower()


def _job_id(model: str, data: str, label: str, backend: str, precision: str, size: int) -> str:
    """``<model>-<backend>-<precision>-s<size>-<hash>``, like the cells' ids (readable in ``OUT/accuracy/``)."""
    digest = hashlib.sha256(json.dumps([model, data, backend, precision, size]).encode()).hexdigest()[:10]
    return f"{re.sub(r'[^A-Za-z0-9_.]+', '_', label)}-{backend}-{precision}-s{size}-{digest}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TrtbenchError):
        return exc.problem + (f" (fix: {exc.fix})" if exc.fix else "")
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"
