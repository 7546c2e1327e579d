"""The ``ttt`` column of ``trtbench compare``: for a TTT-MMR checkpoint's PyTorch cells, what test-time training
with K steps would cost beside the static model the row measures (both timed here, same input, same batch).

Other backends run the exported static file, which cannot adapt: their cells say so rather than stay blank, so a
reader of the table sees that the deployed artifact has dropped TTT. Models without TTT get no text.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from statistics import median

import torch

from ..bench.timing import TimingConfig, measure
from .reconstruction import TTT_KEY, load_joint
from .ttt import TestTimeTrainer, TTTConfig

COMPARE_TTT_STEPS = 5   # MMEarth-Bench's default number of TTT iterations (``val_best_num_iterations = 5``)


def records_ttt(checkpoint: str | None) -> bool:
    """Whether a compare model is a checkpoint trained for TTT-MMR (read from its metadata, no model built)."""
    if not checkpoint or Path(checkpoint).suffix not in (".ckpt", ".pt"):
        return False
    from ..models.checkpoint import checkpoint_metadata, read_checkpoint

    meta = checkpoint_metadata(read_checkpoint(checkpoint))
    return bool(meta and (meta.training or {}).get(TTT_KEY))


def ttt_column(checkpoint: str | None, backend: str, batch: int, size: int, config: TimingConfig,
               steps: int = COMPARE_TTT_STEPS) -> str | None:
    """The cell's ``ttt`` text: measured for the torch backend, "static only" for the others, None without TTT."""
    if not records_ttt(checkpoint):
        return None
    if backend != "torch":
        return "static only (TTT-MMR needs PyTorch: see the torch cell)"
    model, decoders, record = load_joint(checkpoint)
    trainer = TestTimeTrainer(model, decoders, record["input_channels"], record["aux_channels"])
    stack = torch.randn(batch, len(record["mean"]), size, size, generator=torch.Generator().manual_seed(0))
    p50_static = median(measure(partial(trainer.predict, stack, TTTConfig(0)), config))
    p50_adapted = median(measure(partial(trainer.predict, stack, TTTConfig(steps)), config))
    return f"K={steps}: p50 {p50_adapted:.1f} ms, {p50_adapted / p50_static:.1f}x static"
