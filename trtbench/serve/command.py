"""``trtbench triton``: package an exported artifact as a Triton Inference Server model repository."""

from __future__ import annotations

import click


@click.command("triton")
@click.argument("artifact", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "repo", required=True, type=click.Path(file_okay=False),
              help="Model repository folder: REPO/NAME/config.pbtxt and REPO/NAME/1/model.onnx (or model.plan).")
@click.option("--name", help="Model name (its folder) [default: the artifact's file stem].")
@click.option("--max-batch", type=click.IntRange(min=1), default=8, show_default=True,
              help="ONNX: largest batch Triton forms (an engine's is its profile's max batch).")
@click.option("--preferred-batch", help="ONNX: comma-separated preferred batch sizes for dynamic batching "
                                        "[default: 4 and --max-batch; an engine's: its profile's opt and max].")
@click.option("--queue-delay-us", type=click.IntRange(min=0), default=100, show_default=True,
              help="Longest a request waits for a fuller batch, in microseconds.")
@click.option("--instances", type=click.IntRange(min=1), default=1, show_default=True,
              help="Model instances per device.")
@click.option("--kind", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
              help="Where instances run (auto: GPU for engines, Triton's choice for ONNX).")
def triton(artifact: str, repo: str, name: str | None, max_batch: int, preferred_batch: str | None,
           queue_delay_us: int, instances: int, kind: str) -> None:
    """Package ARTIFACT (ONNX or TensorRT engine) as a Triton Inference Server model repository."""
    from ..errors import InputError
    from ..fileio import check_writable
    from .triton import ServeOptions, write_repository

    try:
        preferred = tuple(int(b) for b in preferred_batch.split(",")) if preferred_batch else ()
    except ValueError:
        raise InputError(f"--preferred-batch {preferred_batch} is not a list of batch sizes",
                         "give comma-separated integers, e.g. --preferred-batch 4,8") from None
    check_writable(repo, "folder", option="-o")
    options = ServeOptions(name, max_batch, preferred, queue_delay_us, instances, kind)
    folder = write_repository(artifact, repo, options)
    click.echo(f"wrote {folder}/config.pbtxt and {folder}/1/ (serve: tritonserver --model-repository={repo})")
