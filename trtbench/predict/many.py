"""Many scenes: expand globs, then map each scene as one task on a Dask cluster.

A local cluster (one process per worker) is started by default, or an existing scheduler is used
when its address is given; no home-made scheduler. Each scene is independent: a failure is
recorded with its message and the others carry on. Workers report tile rows done as Dask events,
which drive one progress bar per scene plus an overall bar in the client. A scene task leaves its
worker's thread pool (``distributed.secede``) once its tiles are inferred, so a worker's next scene is
inferred while the previous scene's COGs are compressed.

A scene's failure comes back as a value, not as a raised exception: Dask would log every raised one
from the worker (with its traceback) and hand the client a re-pickled copy that has lost the
problem/fix split, so the user would read each failure three times, as Python reprs.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..artifact import artifact_sha256
from ..errors import InputError, TrtbenchError
from ..fileio import check_writable
from ..remote import RemoteRaster, is_remote
from ..stac.scenes import VRT_FOLDER
from ..stacks import STACK_FOLDER
from .scene import PredictOptions, artifact_metadata, check_output_dir, predict_scene

PROGRESS_TOPIC = "trtbench-predict-rows"
STAGED_INPUTS = (VRT_FOLDER, STACK_FOLDER)   # folders of input VRTs predict writes into the output folder before mapping


@dataclass(frozen=True)
class SceneFailure:
    """Why one scene of many failed: a user mistake (with its fix) or an unexpected error."""

    problem: str
    fix: str | None = None
    user_mistake: bool = True

    @classmethod
    def of(cls, exc: BaseException) -> SceneFailure:
        if isinstance(exc, TrtbenchError):
            return cls(_one_line(exc.problem), _one_line(exc.fix) if exc.fix else None)
        return cls(_one_line(f"unexpected {type(exc).__name__}: {exc}"), None, user_mistake=False)

    def line(self) -> str:
        """The failure on one line (messages that span lines are joined)."""
        return self.problem + (f" (fix: {self.fix})" if self.fix else "")


@dataclass
class BatchResult:
    done: dict[str, dict[str, Any]] = field(default_factory=dict)    # scene -> summary
    failed: dict[str, SceneFailure] = field(default_factory=dict)    # scene -> why it failed


def expand_scenes(patterns: Sequence[str]) -> list[Path | RemoteRaster]:
    """Scene paths from paths, glob patterns and URLs (https://, s3://), in order, without duplicates."""
    if not patterns:
        raise InputError("no scenes given", "pass one or more GeoTIFFs or a quoted glob such as 'scenes/*.tif'")
    scenes: list[Path | RemoteRaster] = []
    for pattern in patterns:
        if is_remote(pattern):   # a URL is never a glob (its '?' starts a query)
            scenes.append(RemoteRaster(pattern))
        elif glob.has_magic(pattern):
            hits = sorted(Path(p) for p in glob.glob(pattern, recursive=True))
            if not hits:
                raise InputError(f"no file matches {pattern}", "check the pattern (quote it so the shell leaves it)")
            scenes.extend(hits)
        else:
            scenes.append(Path(pattern))
    unique = list(dict.fromkeys(p.resolve() if isinstance(p, Path) else p for p in scenes))
    stems = [p.stem for p in unique]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise InputError(f"several scenes are named {', '.join(clashes)}: their outputs would overwrite each other",
                         "predict them into separate output folders")
    return unique


def predict_many(artifact: str | Path, scenes: Sequence[Path], out_dir: str | Path, options: PredictOptions,
                 *, workers: int = 1, scheduler: str | None = None, progress: bool = True) -> BatchResult:
    """Map every scene; one scene without a scheduler runs in this process, anything else on Dask.

    The artifact, band set, tiling options and output folder are checked before any folder is made or
    any cluster starts; an output folder this call created is removed again when nothing was written
    into it (a failed run leaves no empty ``out/`` behind). A folder holding only the VRTs staged for STAC
    items counts as created here: those inputs were written into it just before (``predict`` stages them).
    """
    options.resolved(options.bind(artifact_metadata(artifact)))   # a bad artifact, band set or tiling: no work
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}", "pass --workers 1 or more")
    out_dir = check_writable(out_dir, "folder", option="-o")
    created = not out_dir.exists() or _holds_only_staged_inputs(out_dir)
    try:
        result = _predict_all(artifact, scenes, out_dir, options, workers, scheduler, progress)
    except BaseException:
        _remove_if_empty(out_dir, created)
        raise
    if not result.done:
        _remove_if_empty(out_dir, created)
    return result


def _predict_all(artifact: str | Path, scenes: Sequence[Path], out_dir: Path, options: PredictOptions,
                 workers: int, scheduler: str | None, progress: bool) -> BatchResult:
    check_output_dir(out_dir)
    digest = artifact_sha256(artifact)
    if len(scenes) == 1 and scheduler is None:
        return BatchResult(done={str(scenes[0]): predict_scene(artifact, scenes[0], out_dir, options,
                                                               progress=progress, artifact_hash=digest)})
    if options.threads is None and scheduler is None:
        # Share the cores between local workers instead of oversubscribing them.
        options = replace(options, threads=max(1, (os.cpu_count() or 1) // max(workers, 1)))
    with _client(workers, scheduler) as client:
        return _run_on(client, artifact, scenes, out_dir, options, digest, progress)


def _remove_if_empty(folder: Path, created: bool) -> None:
    """Remove ``folder`` (and empty folders inside it) if this run created it and wrote nothing that stayed.

    Staged input VRTs go too, but only when nothing else stayed: beside a failed scene's resume state they are
    kept, since ``--resume`` recognises the scene by its VRT's identity."""
    if not created or not folder.is_dir():
        return
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            sub.rmdir()   # only succeeds when empty
    if _holds_only_staged_inputs(folder):
        for staged in STAGED_INPUTS:
            shutil.rmtree(folder / staged, ignore_errors=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


def _holds_only_staged_inputs(folder: Path) -> bool:
    """Whether ``folder`` holds input VRTs predict staged and nothing else (an empty folder is the user's)."""
    entries = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    return bool(entries) and all(name in STAGED_INPUTS for name in entries)


def _one_line(text: str) -> str:
    return " ".join(text.split())


@contextlib.contextmanager
def _client(workers: int, scheduler: str | None) -> Iterator[Any]:
    """A Dask client on the given scheduler, or on a local cluster of ``workers`` processes."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {exc}",
                             "check the address (tcp://host:8786) or drop --scheduler for a local cluster") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster) as client:
        yield client


def _run_on(client, artifact: str | Path, scenes: Sequence[Path], out_dir: str | Path, options: PredictOptions,
            digest: str, progress: bool) -> BatchResult:
    from distributed import as_completed

    result = BatchResult()
    overall = tqdm(total=len(scenes), desc="scenes", unit="scene", disable=not progress, position=0)
    bars: dict[str, tqdm] = {}

    def on_event(event: tuple[float, dict[str, Any]]) -> None:
        msg = event[1]
        if not progress:
            return
        bar = bars.get(msg["scene"])
        if bar is None:
            bar = bars[msg["scene"]] = tqdm(total=msg["total"], desc=msg["scene"], unit="row",
                                            position=len(bars) + 1, leave=False)
        bar.update(msg["done"] - bar.n)

    client.subscribe_topic(PROGRESS_TOPIC, on_event)
    futures = {client.submit(_remote_scene, str(artifact), str(scene), str(out_dir), options, digest,
                             pure=False, key=f"predict-{scene.stem}-{os.getpid()}"): scene for scene in scenes}
    try:
        for future in as_completed(futures):
            scene = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # the worker itself died (killed, out of memory): the others carry on
                outcome = SceneFailure.of(exc)
            if isinstance(outcome, SceneFailure):
                result.failed[str(scene)] = outcome
            else:
                result.done[str(scene)] = outcome
            overall.update(1)
    finally:
        client.unsubscribe_topic(PROGRESS_TOPIC)
        for bar in (*bars.values(), overall):
            bar.close()
    return result


def _remote_scene(artifact: str, scene: str, out_dir: str, options: PredictOptions,
                  digest: str) -> dict[str, Any] | SceneFailure:
    """Runs on a Dask worker: one scene, reporting tile rows to the client through events; its summary, or
    why it failed (returned, see the module docstring)."""
    from distributed import get_worker, secede

    worker = get_worker()

    def report(name: str, done: int, total: int) -> None:
        worker.log_event(PROGRESS_TOPIC, {"scene": name, "done": done, "total": total})

    try:
        # Once its tiles are inferred, the task secedes from the worker's thread pool (Dask's documented way
        # for a task to free its slot): the worker starts the next scene's inference while this scene's COGs
        # are compressed, instead of leaving the model idle during every scene's finalisation.
        return predict_scene(artifact, scene, out_dir, options, progress=False, on_row=report, artifact_hash=digest,
                             before_finalize=secede)
    except Exception as exc:  # one scene's failure must not lose the others
        return SceneFailure.of(exc)
