"""``trtbench predict``: map whole GeoTIFF scenes with an exported artifact."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..cli_options import EXIT_PARTIAL, check_outputs, emit_json, human_output, json_option
from ..errors import InputError

if TYPE_CHECKING:
    from ..metadata import ModelMetadata
    from .scene import PredictOptions


@click.command("predict")
@click.argument("artifact", type=click.Path(dir_okay=False))
@click.argument("scenes", nargs=-1, required=True)
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(),
              help="Output folder (or s3://bucket/prefix, uploaded when complete): <scene>.class.tif / .probabilities.tif / .regression.tif, or .embedding.tif "
                   "(features on the patch grid), + <scene>.json.")
@click.option("--tile", type=click.IntRange(min=1), help="Tile edge in pixels, a multiple of the patch size [default: artifact's input size].")
@click.option("--overlap", type=click.IntRange(min=0), help="Pixels shared by neighbouring tiles, blended away [default: tile / 4; "
                                         "embeddings: a multiple of 4 patches].")
@click.option("--batch", type=click.IntRange(min=1), default=4, show_default=True, help="Tiles per inference call.")
@click.option("--backend", default="auto", show_default=True,
              help="auto (picked for this machine; the pick and why are printed and in the JSON), torch, "
                   "onnxruntime[-fused], openvino, tensorrt ...")
@click.option("--precision", "runtime_precision", type=click.Choice(["fp32", "bf16"]), default="fp32",
              show_default=True, help="Runtime precision: bf16 on CPUs with AMX or AVX512-BF16 (refused elsewhere).")
@click.option("--threads", type=click.IntRange(min=1), help="Inference threads per scene [default: the cores, shared among workers].")
@click.option("--probabilities", is_flag=True, help="Also write per-class probabilities (segmentation).")
@click.option("--data-bands", help="The scenes' band names (or a sensor name) when the GeoTIFFs do not name them, "
                                   "or the 1-based band numbers of the model's bands, e.g. 3,2,1.")
@click.option("--strict-bands", is_flag=True, help="Refuse scenes that name no band (by description or colour "
                                                   "interpretation) instead of warning and assuming their order.")
@click.option("--sensor", help="Band-agnostic artifacts: the scenes' sensor (e.g. hls-s30, sentinel-1-rtc+sentinel-2-l1c).")
@click.option("--bands", help="Band-agnostic artifacts: comma-separated bands of --sensor to use, in order.")
@click.option("--wavelengths", help="Band-agnostic artifacts: centre wavelengths in µm, one per band.")
@click.option("--nodata", type=float, help="Input value to treat as missing when the scene declares none.")
@click.option("--dates", help="Time series: the frames' dates, comma-separated in frame order (2020-06-01,2020-07-01); "
                              "wins over the dates in file names and tags.")
@click.option("--compress", default="deflate", show_default=True,
              help="COG codec: deflate (read everywhere), zstd (faster and smaller; GDAL >= 2.3 readers) or lzw.")
@click.option("--resume", is_flag=True, help="Continue interrupted runs (same artifact, scenes and options).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Local Dask workers for many scenes.")
@click.option("--scheduler", help="Address of an existing Dask scheduler (tcp://host:8786) instead of a local cluster.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@json_option("Write every scene's summary and every failure as JSON to FILE ('-': standard output).")
def predict(artifact: str, scenes: tuple[str, ...], out_dir: str, tile: int | None, overlap: int | None, batch: int,
            backend: str, runtime_precision: str, threads: int | None, probabilities: bool, data_bands: str | None, sensor: str | None,
            bands: str | None, wavelengths: str | None, nodata: float | None, compress: str, resume: bool, workers: int, scheduler: str | None, quiet: bool,
            json_path: str | None, strict_bands: bool, dates: str | None) -> None:
    """Map SCENES (GeoTIFFs or quoted globs) with ARTIFACT into Cloud-Optimized GeoTIFFs.

    A time series is one scene argument of one file per date (d1.tif,d2.tif); a multi-modal scene is one file
    per modality (s2=A.tif s1=B.tif). Either is mapped as one VRT stacking the files (OUTPUT/.trtbench-stacks/).

    Exit code 0 when every scene is mapped, 2 on a user mistake (for many scenes: when every scene
    failed on one), 3 when some scenes of many failed (each is listed on one line; the others are complete).
    """
    from ..acquisition import parse_dates
    from ..bands import parse_wavelengths
    from ..stac.scenes import is_stac_scene, stac_scenes
    from ..stacks import is_group
    from .many import expand_scenes, predict_many
    from .scene import PredictOptions, artifact_metadata
    from .upload import stage_output

    check_outputs((json_path, "--json"))
    from ..stac.mlm import resolve_artifact

    artifact = str(resolve_artifact(artifact))   # an MLM item (`trtbench stac`) stands for its artifact
    waves = parse_wavelengths(wavelengths)
    frame_dates = parse_dates(dates)
    options = PredictOptions(tile=tile, overlap=overlap, batch=batch, backend=backend,
                             precision=runtime_precision, threads=threads,
                             probabilities=probabilities, data_bands=_names(data_bands), sensor=sensor,
                             bands=_names(bands), wavelengths=tuple(waves) if waves else None, nodata=nodata,
                             compress=compress, resume=resume, strict_bands=strict_bands,
                             dates=tuple(d.isoformat() for d in frame_dates) if frame_dates else None)
    local_dir, publish = stage_output(out_dir)   # s3://: written locally, uploaded when complete
    item_bands = None
    if any(is_stac_scene(s) for s in scenes):   # STAC items: their band assets stacked into one VRT each
        stac = stac_scenes(scenes, options, artifact_metadata(artifact), local_dir)
        scenes, options, item_bands = stac.scenes, stac.options, stac.choice
    if item_bands:   # a band-agnostic artifact took the bands the items offer: said, never silently
        click.echo(item_bands.line(), err=True)
        if item_bands.warning:
            click.echo(f"warning: {item_bands.warning}", err=True)
    if any(is_group(s) for s in scenes):   # time series / modalities: one VRT per scene, its files stacked
        scenes = _stacked_scenes(artifact_metadata(artifact), options, scenes, Path(local_dir), frame_dates)
    result = predict_many(artifact, expand_scenes(scenes), local_dir, options, workers=workers, scheduler=scheduler,
                          progress=not quiet)
    publish(result)
    echo = human_output(json_path)
    for choice in {json.dumps(s["backend"]["auto"]) for s in result.done.values() if "auto" in s["backend"]}:
        click.echo(f"backend: {json.loads(choice)['backend']} (auto: {json.loads(choice)['reason']})", err=True)
    for scene, summary in result.done.items():
        secs = summary["seconds"]["total"]
        echo(f"{scene}: {', '.join(summary['outputs'].values())} ({summary['tiles']} tiles, {secs:.1f} s, "
             f"{summary['km2']} km²)")
        for warning in summary.get("warnings", []):
            click.echo(f"warning: {warning}", err=True)
    for scene, failure in result.failed.items():
        click.echo(f"FAILED {scene}: {failure.line()}", err=True)
    emit_json(json_path, lambda: {"done": result.done,
                                  "failed": {scene: {"problem": f.problem, "fix": f.fix}
                                             for scene, f in result.failed.items()}}
              | ({"stac_bands": item_bands.as_dict()} if item_bands else {}))
    if not result.failed:
        return
    total = len(result.done) + len(result.failed)
    if not result.done and all(f.user_mistake for f in result.failed.values()):
        raise InputError(f"all {total} scenes failed", "fix each scene named above and run again")
    click.echo(f"{len(result.done)} of {total} scenes done, {len(result.failed)} failed", err=True)
    raise click.exceptions.Exit(EXIT_PARTIAL)


def _stacked_scenes(meta: ModelMetadata, options: PredictOptions, scenes: Sequence[str], out_dir: Path,
                    dates: Sequence[date] | None) -> list[str]:
    """Scenes with each series or modality set replaced by its VRT in ``OUTPUT/.trtbench-stacks/`` (kept for
    ``--resume``); a folder this call made is removed again when a later scene's files are refused."""
    from ..stacks import STACK_FOLDER, stack_inputs

    made = next((p for p in (out_dir, out_dir / STACK_FOLDER) if not p.exists()), None)
    try:
        return stack_inputs(options.bind(meta), scenes, out_dir / STACK_FOLDER, dates, options.data_bands,
                            options.strict_bands)
    except BaseException:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        raise


def _names(value: str | None) -> tuple[str, ...] | None:
    return tuple(b.strip() for b in value.split(",") if b.strip()) if value else None
