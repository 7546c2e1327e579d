"""The TTT options of ``trtbench eval`` and what they run (heavy imports deferred: ``--help`` stays instant)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from ..cli_options import check_outputs, emit_json, human_output, write_text
from ..errors import TrtbenchError


def step_options(lr_help: str, optimizer_help: str) -> list[Callable]:
    """``--ttt-lr`` and ``--ttt-optimizer``, shared by eval and bench (their help says what each does there)."""
    return [click.option("--ttt-lr", type=click.FloatRange(min=0, min_open=True), default=1e-2, show_default=True,
                         help=lr_help),
            click.option("--ttt-optimizer", type=click.Choice(["sgd", "adamw"]), default="sgd", show_default=True,
                         help=optimizer_help)]


def ttt_options(fn: Callable) -> Callable:
    """``--ttt-steps``, ``--ttt-lr``, ``--ttt-optimizer`` and ``--ttt-geo`` for ``trtbench eval``."""
    options = [
        click.option("--ttt-steps", help="TTT-MMR (MMEarth-Bench): adapt the encoder K steps per batch on the "
                                         "reconstruction losses, then predict; comma-separated K values are "
                                         "compared (0,1,5: K=0 is plain eval). Needs --engine RUN/best.ckpt from "
                                         "`train --aux-modalities` and --data the dataset's folder; runs in "
                                         "PyTorch (a static artifact cannot change its weights)."),
        *step_options("TTT step size (of the per-modality normalised gradient with sgd).",
                      "TTT optimiser, new for every batch: sgd (MMEarth-Bench's plain steps) or adamw."),
        click.option("--ttt-geo", is_flag=True,
                     help="TTT-MMR-Geo: batch the test chips by location (from their georeferencing) instead of "
                          "in dataset order."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def ttt_eval_command(checkpoint: str, data: tuple[str, ...], batch_size: int, json_path: str | None,
                     md_path: str | None, conflicts: dict[str, object], *, ttt_steps: str, ttt_lr: float,
                     ttt_optimizer: str, ttt_geo: bool) -> None:
    """``eval --ttt-steps``: TTT-MMR on the checkpoint's dataset, one row per K, time relative to K = 0."""
    given = [name for name, value in conflicts.items() if value]
    if given:
        raise TrtbenchError(f"{', '.join(given)} do(es) not apply to --ttt-steps (TTT evaluates the checkpoint on "
                            "its dataset's test split, labels included, in PyTorch)", f"drop {', '.join(given)}")
    if Path(checkpoint).suffix not in (".ckpt", ".pt"):
        raise TrtbenchError(f"--ttt-steps adapts a PyTorch checkpoint, not {checkpoint}: an exported artifact is "
                            "static (its weights cannot change per batch)",
                            "pass --engine RUN/best.ckpt from `trtbench train --aux-modalities ...`")
    if len(data) != 1 or not Path(data[0]).is_dir():
        raise TrtbenchError(f"--ttt-steps reads the checkpoint's dataset: --data must be its one folder, got "
                            f"{', '.join(data)}", "pass --data DATA_ROOT (the folder given to `trtbench train`)")
    check_outputs((json_path, "--json"), (md_path, "--markdown"))
    from .evaluate import parse_steps, ttt_eval

    result = ttt_eval(checkpoint, data[0], parse_steps(ttt_steps), lr=ttt_lr, optimizer=ttt_optimizer,
                      geo=ttt_geo, batch_size=batch_size)
    human_output(json_path)(result.table())
    write_text(md_path, result.markdown)
    emit_json(json_path, result.to_dict)


def static_export_note(metadata: object, checkpoint: str) -> str | None:
    """What an export of a TTT-MMR checkpoint keeps and loses (None for other checkpoints): TTT changes the
    encoder's weights for every batch, which an ONNX file or a TensorRT engine (fixed weights) cannot do."""
    record = (getattr(metadata, "training", None) or {}).get("ttt")
    if not record:
        return None
    aux = ", ".join(record.get("aux", []))
    return (f"{checkpoint} was trained for test-time training (TTT-MMR, reconstructing {aux}); TTT cannot be a "
            "static artifact (it updates the encoder's weights for every batch), so this exports the static model "
            "only: the jointly trained weights, exactly what `eval --ttt-steps 0` runs. Lost: the per-batch "
            f"adaptation and the {aux} reconstruction decoders. What it would cost or gain: `trtbench eval --engine "
            f"{checkpoint} --ttt-steps 0,1,5 --data DATA_ROOT` (accuracy) and `trtbench bench {checkpoint} "
            "--ttt-steps 5` (time, beside the static model)")


def ttt_bench_options(fn: Callable) -> Callable:
    """``--ttt-steps``, ``--ttt-lr`` and ``--ttt-optimizer`` for ``trtbench bench``."""
    options = [
        click.option("--ttt-steps", type=click.IntRange(min=1),
                     help="TTT-MMR: time eval with K adaptation steps per batch beside the static model (K = 0), "
                          "both in PyTorch on the same inputs, ratio printed. TARGET is RUN/best.ckpt from `train "
                          "--aux-modalities`."),
        *step_options("TTT step size.", "TTT optimiser, new for every batch."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def ttt_bench_command(target: str, batches: list[int], size: int | None, threads: int | None, config: object,
                      json_path: str | None, md_path: str | None, conflicts: dict[str, object], *,
                      ttt_steps: int, ttt_lr: float, ttt_optimizer: str) -> None:
    """``bench --ttt-steps K``: the static model and TTT with K steps, side by side, with their ratio."""
    given = [name for name, value in conflicts.items() if value]
    if given:
        raise TrtbenchError(f"{', '.join(given)} do(es) not apply to bench --ttt-steps (it times the checkpoint in "
                            "PyTorch, static and adapted, on the same random input)", f"drop {', '.join(given)}")
    if Path(target).suffix not in (".ckpt", ".pt"):
        raise TrtbenchError(f"--ttt-steps needs the PyTorch checkpoint, not {target}: an exported artifact is "
                            "static and cannot adapt", "pass RUN/best.ckpt from `trtbench train --aux-modalities`")
    check_outputs((json_path, "--json"), (md_path, "--markdown"))
    from .bench import ttt_bench

    result = ttt_bench(target, ttt_steps, batches, size, config, lr=ttt_lr, optimizer=ttt_optimizer,
                       threads=threads)
    human_output(json_path)(result.table())
    write_text(md_path, lambda: "# TTT-MMR deployment cost\n\n```\n" + result.table() + "\n```\n")
    emit_json(json_path, result.to_dict)
