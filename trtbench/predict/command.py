"""``trtbench predict``: map whole GeoTIFF scenes with an exported artifact."""

from __future__ import annotations

import json

import click

from ..errors import InputError


@click.command("predict")
@click.argument("artifact", type=click.Path(dir_okay=False))
@click.argument("scenes", nargs=-1, required=True)
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(),
              help="Output folder: <scene>.class.tif / .probabilities.tif / .regression.tif, or .embedding.tif "
                   "(features on the patch grid), + <scene>.json.")
@click.option("--tile", type=int, help="Tile edge in pixels, a multiple of the patch size [default: artifact's input size].")
@click.option("--overlap", type=int, help="Pixels shared by neighbouring tiles, blended away [default: tile / 4; "
                                         "embeddings: a multiple of 4 patches].")
@click.option("--batch", type=int, default=4, show_default=True, help="Tiles per inference call.")
@click.option("--backend", default="onnxruntime", show_default=True, help="torch, onnxruntime, openvino, tensorrt ...")
@click.option("--threads", type=int, help="Inference threads per scene [default: the cores, shared among workers].")
@click.option("--probabilities", is_flag=True, help="Also write per-class probabilities (segmentation).")
@click.option("--data-bands", help="The scenes' band names (or a sensor name) when the GeoTIFFs do not name them, "
                                   "or the 1-based band numbers of the model's bands, e.g. 3,2,1.")
@click.option("--sensor", help="Band-agnostic artifacts: the scenes' sensor (e.g. hls-s30, sentinel-1-rtc+sentinel-2-l1c).")
@click.option("--bands", help="Band-agnostic artifacts: comma-separated bands of --sensor to use, in order.")
@click.option("--wavelengths", help="Band-agnostic artifacts: centre wavelengths in µm, one per band.")
@click.option("--nodata", type=float, help="Input value to treat as missing when the scene declares none.")
@click.option("--compress", default="deflate", show_default=True,
              help="COG codec: deflate (read everywhere), zstd (faster and smaller; GDAL >= 2.3 readers) or lzw.")
@click.option("--resume", is_flag=True, help="Continue interrupted runs (same artifact, scenes and options).")
@click.option("--workers", type=int, default=1, show_default=True, help="Local Dask workers for many scenes.")
@click.option("--scheduler", help="Address of an existing Dask scheduler (tcp://host:8786) instead of a local cluster.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def predict(artifact: str, scenes: tuple[str, ...], out_dir: str, tile: int | None, overlap: int | None, batch: int,
            backend: str, threads: int | None, probabilities: bool, data_bands: str | None, sensor: str | None,
            bands: str | None, wavelengths: str | None, nodata: float | None, compress: str, resume: bool, workers: int, scheduler: str | None, quiet: bool) -> None:
    """Map SCENES (GeoTIFFs or quoted globs) with ARTIFACT into Cloud-Optimized GeoTIFFs."""
    from ..bands import parse_wavelengths
    from .many import expand_scenes, predict_many
    from .scene import PredictOptions

    waves = parse_wavelengths(wavelengths)
    options = PredictOptions(tile=tile, overlap=overlap, batch=batch, backend=backend, threads=threads,
                             probabilities=probabilities, data_bands=_names(data_bands), sensor=sensor,
                             bands=_names(bands), wavelengths=tuple(waves) if waves else None, nodata=nodata,
                             compress=compress, resume=resume)
    result = predict_many(artifact, expand_scenes(scenes), out_dir, options, workers=workers, scheduler=scheduler,
                          progress=not quiet)
    for scene, summary in result.done.items():
        secs = summary["seconds"]["total"]
        click.echo(f"{scene}: {', '.join(summary['outputs'].values())} ({summary['tiles']} tiles, {secs:.1f} s, "
                   f"{summary['km2']} km²)")
    for scene, error in result.failed.items():
        click.echo(f"FAILED {scene}: {error}", err=True)
    if result.failed:
        if not result.done:
            raise InputError(f"all {len(result.failed)} scene(s) failed", "see the messages above")
        click.echo(json.dumps({"done": len(result.done), "failed": len(result.failed)}), err=True)
        raise click.exceptions.Exit(1)


def _names(value: str | None) -> tuple[str, ...] | None:
    return tuple(b.strip() for b in value.split(",") if b.strip()) if value else None
