"""``predict_scene``: one GeoTIFF scene through an artifact, tile row by tile row, into COGs.

Pipeline: a prefetching reader thread yields normalised tiles; the main thread batches the tiles
of one tile row and runs the artifact; a write-behind thread blends the outputs into a strip, and
each finished strip goes to the work rasters before the progress is saved. At the end the COGs and a JSON summary are renamed into
the output folder, so a file that looks finished is finished.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..acquisition import Acquisition
from ..artifact import artifact_sha256, read_artifact_metadata
from ..backends import Runner, check_runtime_precision, effective_precision, runner_for_artifact
from ..bands import bind_bands, model_feed
from ..errors import InputError, TrtbenchError
from ..fileio import atomic_output
from ..metadata import ModelMetadata
from ..remote import RemoteRaster, RemoteUnavailable, as_raster_path, remote_identity
from .background import Prefetcher, WriteBehind
from .blend import StripBlender
from .plan import WindowPlan, check_tiling, default_overlap, output_scale
from .products import Product, blend_space, output_channels, output_mask, products_for
from .reader import SceneInfo, Tile, read_tiles, scene_info
from .resume import RunState, work_dir_for
from .writer import COMPRESSIONS, WorkRaster, write_cog

RowCallback = Callable[[str, int, int], None]   # (scene name, tile rows done, tile rows total)


@dataclass(frozen=True)
class PredictOptions:
    """How a scene is mapped; the CLI options one to one. Frozen, so a Dask task can carry it."""

    tile: int | None = None          # default: the artifact's input size
    overlap: int | None = None       # default: a quarter of the tile
    batch: int = 4
    backend: str = "auto"            # resolved per machine (a Dask worker may differ from the client)
    precision: str = "fp32"          # runtime precision: bf16 on CPUs with AMX/AVX512-BF16
    threads: int | None = None
    probabilities: bool = False
    data_bands: tuple[str, ...] | None = None
    sensor: str | None = None        # band set of a band-agnostic artifact (--sensor/--bands/--wavelengths)
    bands: tuple[str, ...] | None = None
    wavelengths: tuple[float, ...] | None = None
    nodata: float | None = None
    strict_bands: bool = False       # refuse scenes that name no band instead of assuming their order
    dates: tuple[str, ...] | None = None   # time series: ISO dates of the frames (--dates), else the scene's own
    resume: bool = False
    compress: str = "deflate"        # COG codec: deflate (every reader), zstd (faster, smaller) or lzw
    gdal_cache_mb: int = 64          # bounded, so memory does not grow with the scene (rasterio takes bytes)

    def bind(self, meta: ModelMetadata) -> ModelMetadata:
        """The artifact's metadata bound to the chosen band set (a fixed-band artifact only takes its own)."""
        return bind_bands(meta, self.sensor, self.bands, self.wavelengths)

    def resolved(self, meta: ModelMetadata) -> PredictOptions:
        tile = self.tile or meta.input_size
        overlap = default_overlap(meta, tile) if self.overlap is None else self.overlap
        check_tiling(meta, tile, overlap)
        if self.batch < 1:
            raise InputError(f"batch must be at least 1, got {self.batch}", "pass --batch 1 or more")
        check_runtime_precision(self.backend, self.precision)   # bf16 on a CPU without it: refused before work
        if self.compress not in COMPRESSIONS:
            raise InputError(f"unknown compression {self.compress!r}", f"pass --compress {'|'.join(COMPRESSIONS)}")
        return PredictOptions(**{**asdict(self), "tile": tile, "overlap": overlap})


def artifact_metadata(path: str | Path) -> ModelMetadata:
    """The artifact's trtbench metadata: ONNX metadata_props, or a TensorRT engine's JSON sidecar."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"artifact not found: {path}", "pass the .onnx file (or engine) written by `trtbench export`")
    try:
        return read_artifact_metadata(path)
    except TrtbenchError:
        raise
    except Exception as exc:  # a protobuf or JSON parser's complaint: the file is not an artifact at all
        raise InputError(f"{path} is not a readable ONNX model or engine ({type(exc).__name__})",
                         "pass the .onnx file (or engine + sidecar) written by `trtbench export`") from None


def check_output_dir(out_dir: Path) -> None:
    """Fail before any work when results could not be written."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"output path {out_dir} is a file", "pass a folder with -o")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder {out_dir}: {exc.strerror}",
                         "choose a folder you can write to") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise InputError(f"output folder is not writable: {out_dir}", "choose a folder you can write to")


def output_paths(out_dir: Path, scene: Path, products: Sequence[Product]) -> dict[str, Path]:
    return {p.name: out_dir / f"{scene.stem}.{p.name}.tif" for p in products} | {"summary": out_dir / f"{scene.stem}.json"}


def predict_scene(artifact: str | Path, scene: str | Path, out_dir: str | Path, options: PredictOptions = PredictOptions(),
                  *, progress: bool = True, on_row: RowCallback | None = None,
                  artifact_hash: str | None = None, before_finalize: Callable[[], None] | None = None) -> dict[str, Any]:
    """Map ``scene`` with ``artifact``; returns the summary also written as ``<scene>.json``.

    ``before_finalize`` is called after the last tile is inferred and the runner closed, before the COGs
    are written: a Dask task uses it to leave the worker's thread pool, so the next scene's inference
    overlaps this scene's COG conversion (see :mod:`trtbench.predict.many`).
    """
    started, started_at = time.perf_counter(), time.time()
    job = SceneJob.prepare(Path(artifact), as_raster_path(scene), Path(out_dir), options, artifact_hash)
    if job.opts.resume and (finished := job.finished()) is not None:
        return finished   # a many-scene run resumed after this scene completed
    first_row = job.start()
    try:
        run = job.run(first_row, progress, on_row, before_finalize)
    except TrtbenchError as exc:
        if not isinstance(exc, RemoteUnavailable):   # a server that went away: --resume continues later
            job.state.discard()   # bad input cannot be resumed: leave nothing behind
        raise
    summary = run | job.summary(first_row)
    summary["seconds"]["total"] = round(time.perf_counter() - started, 3)
    # Epoch seconds: scenes of one many-scene run can be set on one time line (their overlap measured).
    summary["wall_clock"] = {"start": round(started_at, 3), "end": round(time.time(), 3)}
    with atomic_output(job.paths["summary"]) as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
        tmp.chmod(job.paths[job.works[0].product.name].stat().st_mode & 0o777)   # same access as the rasters
    job.state.discard()
    return summary


@dataclass
class SceneJob:
    """Everything decided before the first tile: what is read, how it is tiled, what is written where."""

    artifact: Path
    artifact_hash: str
    meta: ModelMetadata
    opts: PredictOptions
    info: SceneInfo
    plan: WindowPlan        # tiles in scene pixels (what is read)
    grid: SceneInfo         # the outputs' raster: the scene's, or the patch grid of an embedding
    paths: dict[str, Path]
    state: RunState
    works: list[WorkRaster]
    blender: StripBlender

    @classmethod
    def prepare(cls, artifact: Path, scene: Path, out_dir: Path, options: PredictOptions,
                artifact_hash: str | None) -> SceneJob:
        """Validate everything the user gave (artifact, options, output folder, scene) before any work."""
        meta = options.bind(artifact_metadata(artifact))
        opts = options.resolved(meta)
        check_output_dir(out_dir)
        channels = output_channels(meta)
        products = products_for(meta, channels, opts.probabilities)
        info = scene_info(scene, meta, opts.data_bands, opts.nodata, opts.strict_bands, opts.dates)
        scale = output_scale(meta)
        grid = _output_grid(info, scale)
        # Read in whole output cells (the last ones reflect-padded); blend on the output grid.
        plan = WindowPlan(grid.height * scale, grid.width * scale, opts.tile, opts.overlap)
        blend_plan = WindowPlan(grid.height, grid.width, opts.tile // scale, opts.overlap // scale)
        digest = artifact_hash or artifact_sha256(artifact)
        state = RunState(work_dir_for(out_dir, scene.stem), _fingerprint(digest, info, opts, products))
        works = [WorkRaster(state.dir / f"{p.name}.raw", p, grid.height, grid.width) for p in products]
        return cls(artifact, digest, meta, opts, info, plan, grid, output_paths(out_dir, scene, products), state,
                   works, StripBlender(blend_plan, channels))

    def finished(self) -> dict[str, Any] | None:
        """The summary of an earlier complete run with the same fingerprint, if all its outputs exist."""
        try:
            summary = json.loads(self.paths["summary"].read_text())
        except (OSError, ValueError):
            return None
        same = summary.get("fingerprint") == json.loads(self.state.fingerprint)
        return summary if same and all(p.is_file() for p in self.paths.values()) else None

    def start(self) -> int:
        """Create or resume the work folder; the first tile row still to do."""
        saved = self.state.start(self.opts.resume)
        if saved is None:
            for work in self.works:
                work.create()
            return 0
        if saved.carry:
            self.blender.restore(saved.carry)
        return saved.rows_done

    def run(self, first_row: int, progress: bool, on_row: RowCallback | None,
            before_finalize: Callable[[], None] | None = None) -> dict[str, Any]:
        """Tile rows ``first_row..`` through the runner into the work rasters, then the COGs into place."""
        timings = {"infer": 0.0, "wait_for_input": 0.0, "wait_for_output": 0.0, "blend_write": 0.0}
        backend_info = self._tile_rows(first_row, progress, on_row, timings)
        if before_finalize is not None:
            before_finalize()
        tick = time.perf_counter()
        self._finalize()
        timings["finalize"] = time.perf_counter() - tick
        return {"backend": backend_info, "seconds": {k: round(v, 3) for k, v in timings.items()}}

    def _tile_rows(self, first_row: int, progress: bool, on_row: RowCallback | None,
                   timings: dict[str, float]) -> dict[str, Any]:
        """Infer every tile row; blending and writing run behind in a thread. Returns the runner's description.

        The runner is closed before the COGs are written, so its idle thread pool does not compete
        with the compression threads.
        """
        import rasterio

        meta, plan, opts, scene = self.meta, self.plan, self.opts, self.info.path
        scale = output_scale(meta)

        def blend(item: tuple[int, list[Tile], np.ndarray, bool]) -> None:
            row, batch, logits, row_done = item
            tick = time.perf_counter()
            for tile, output in zip(batch, blend_space(meta, logits), strict=True):
                self.blender.add(tile.col, output, output_mask(tile.mask, scale))
            if row_done:
                self._finish_row(row)
            timings["blend_write"] += time.perf_counter() - tick
            if row_done and on_row:
                on_row(scene.name, row + 1, plan.rows)

        runner = runner_for_artifact(self.artifact, opts.backend, threads=opts.threads, precision=opts.precision)
        with rasterio.Env(GDAL_CACHEMAX=opts.gdal_cache_mb << 20), runner, \
                Prefetcher(read_tiles(self.info, meta, plan, first_row), depth=2 * opts.batch) as tiles, \
                WriteBehind(blend, depth=2) as writer, \
                tqdm(total=plan.tiles, initial=first_row * plan.cols, desc=scene.name, unit="tile",
                     disable=not progress, leave=False) as bar:
            backend_info = runner.describe() | runner.selection_info() | {
                "precision": effective_precision(opts.backend, opts.precision)}
            for row, row_tiles in _rows(iter(tiles), plan, first_row, timings):
                for batch, last in _chunks(row_tiles, opts.batch):
                    logits = _infer(runner, meta, batch, timings, self.info.acquisition)
                    tick = time.perf_counter()
                    writer.submit((row, batch, logits, last))
                    timings["wait_for_output"] += time.perf_counter() - tick
                    bar.update(len(batch))
            tick = time.perf_counter()
        timings["wait_for_output"] += time.perf_counter() - tick   # the last rows' blend and write
        return backend_info

    def _finalize(self) -> None:
        """Each work raster to a COG in the work folder, then renamed into the output folder."""
        for work in self.works:
            cog = self.state.dir / f"{work.product.name}.cog.tif"
            write_cog(work, self.grid, cog, self.opts.compress)
            os.replace(cog, self.paths[work.product.name])

    def _finish_row(self, row: int) -> None:
        # Strip first, progress second: saved progress never claims rows that are not on disk.
        strip = self.blender.finish_row(row)
        for work in self.works:
            work.write(strip.y0, work.product.render(strip.values, strip.mask))
        self.state.save(row + 1, self.blender.state())

    def summary(self, first_row: int) -> dict[str, Any]:
        info, opts, grid = self.info, self.opts, self.grid
        valid = _valid_pixels(self.works[0])
        pixel_km2 = _pixel_area_km2(grid)
        warnings = [info.band_warning] if info.band_warning else []
        if valid == 0:
            warnings.append(f"{info.path} holds no valid pixel (every input pixel is nodata or NaN): "
                            "its outputs are all nodata")
        return {
            "scene": str(info.path), "artifact": str(self.artifact), "artifact_sha256": self.artifact_hash,
            "model": self.meta.model, "task": self.meta.task, "bands": self.meta.bands,
            "outputs": {k: p.name for k, p in self.paths.items() if k != "summary"},
            "crs": str(info.crs), "width": info.width, "height": info.height,
            "output_width": grid.width, "output_height": grid.height,   # an embedding's patch grid
            "tile": opts.tile, "overlap": opts.overlap, "batch": opts.batch, "tiles": self.plan.tiles,
            "resumed_from_tile_row": first_row or None,
            "pixels": info.width * info.height, "valid_pixels": valid, "all_nodata": valid == 0,
            "band_match": info.band_match, "warnings": warnings, "acquisition": info.acquisition.to_dict(),
            "km2": None if pixel_km2 is None else round(valid * pixel_km2, 3),
            "fingerprint": json.loads(self.state.fingerprint),
        }


def _rows(tiles: Iterator[Tile], plan: WindowPlan, first_row: int,
          timings: dict[str, float]) -> Iterator[tuple[int, list[Tile]]]:
    """Group the reader's tiles by tile row (timing how long inference waits for input)."""
    for row in range(first_row, plan.rows):
        tick = time.perf_counter()
        row_tiles = [next(tiles) for _ in range(plan.cols)]
        timings["wait_for_input"] += time.perf_counter() - tick
        yield row, row_tiles


def _chunks(items: list[Tile], size: int) -> Iterator[tuple[list[Tile], bool]]:
    """Batches of one tile row, each with whether it is the row's last.

    Batches never straddle tile rows: a resumed run then sees exactly the same batches (same bytes).
    """
    for start in range(0, len(items), size):
        yield items[start:start + size], start + size >= len(items)


def _infer(runner: Runner, meta: ModelMetadata, batch: list[Tile], timings: dict[str, float],
           acquisition: Acquisition | None = None) -> np.ndarray:
    """The artifact's raw first output for ``batch`` (logits or values), timed; ``acquisition`` fills a TL
    artifact's dates and location (the scene's centre)."""
    feed = model_feed(meta, np.stack([t.pixels for t in batch]), acquisition)
    tick = time.perf_counter()
    try:
        outputs = runner.infer(feed)[meta.outputs[0]]
    except TrtbenchError:
        raise
    except Exception as exc:  # a runtime refusing the tile shape is a usage problem with a clear fix
        raise InputError(f"the {runner.name} runner failed on a {feed[meta.inputs[0]].shape} batch: "
                         f"{str(exc).splitlines()[0][:200]}",
                         "check --tile against the sizes the artifact accepts and --batch against its batch range"
                         ) from None
    timings["infer"] += time.perf_counter() - tick
    return outputs


def _fingerprint(artifact_hash: str, info: SceneInfo, opts: PredictOptions, products: list[Product]) -> dict[str, Any]:
    """Everything that decides the output bytes: a resumed run must agree on all of it."""
    if isinstance(info.path, RemoteRaster):   # an object's identity: its URL, size and ETag
        identity = remote_identity(info.path)
        scene = {"scene": info.path.url, "scene_size": identity["size"], "scene_etag": identity["etag"]}
    else:
        stat = info.path.stat()
        scene = {"scene": str(info.path.resolve()), "scene_size": stat.st_size, "scene_mtime_ns": stat.st_mtime_ns}
    return {"artifact_sha256": artifact_hash, **scene, "tile": opts.tile, "overlap": opts.overlap, "batch": opts.batch,
            "backend": opts.backend, "precision": opts.precision, "bands": list(info.indexes), "nodata": info.nodata,
            "products": [p.name for p in products], "compress": opts.compress,
            **({"dates": list(opts.dates)} if opts.dates else {})}


def _valid_pixels(work: WorkRaster) -> int:
    """Output pixels with a value (not nodata), counted from the first product a few MiB at a time."""
    count = 0
    step = max(1, (16 << 20) // work.row_bytes)
    for y0 in range(0, work.height, step):
        band = work.read(y0, min(step, work.height - y0))[0]
        nodata = work.product.nodata
        count += int(band.size - (np.isnan(band).sum() if math.isnan(nodata) else (band == nodata).sum()))
    return count


def _output_grid(info: SceneInfo, scale: int) -> SceneInfo:
    """The raster the outputs are written on: the scene itself, or its grid of ``scale``-pixel cells
    (the last row and column of cells may reach past the scene, into reflect padding)."""
    if scale == 1:
        return info
    from rasterio.transform import Affine

    return replace(info, height=math.ceil(info.height / scale), width=math.ceil(info.width / scale),
                   transform=info.transform @ Affine.scale(scale))


def _pixel_area_km2(info: SceneInfo) -> float | None:
    """Area of one pixel in km² (projected CRS in metres; geographic CRS at the scene's centre latitude)."""
    t = info.transform
    area = abs(t.a * t.e - t.b * t.d)
    if info.crs is None:
        return None
    if info.crs.is_geographic:
        lat = math.radians(t.f + t.e * info.height / 2)
        return area * 111.32 ** 2 * math.cos(lat)
    return area * info.crs.linear_units_factor[1] ** 2 / 1e6
