"""``trtbench bench CKPT --ttt-steps K``: what TTT-MMR costs at deployment, measured beside the static model.

Both run in PyTorch on the same machine, same batch, same input: the static model (what an export of the
checkpoint runs: K = 0) and TTT-MMR with K steps (restore, K reconstruction steps on the encoder, predict). TTT
exists only in PyTorch, so PyTorch is the one backend where the two can be compared like for like; the static
model's other backends are what plain ``trtbench bench`` on its export measures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from ..bench.timing import Timing, TimingConfig, measure
from ..errors import TrtbenchError
from .reconstruction import load_joint
from .ttt import TestTimeTrainer, TTTConfig


@dataclass
class TTTBenchResult:
    checkpoint: str
    steps: int
    lr: float
    optimizer: str
    size: int
    threads: int
    static: list[Timing] = field(default_factory=list)
    adapted: list[Timing] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        return [{"batch": s.batch, "static_ms": s.median_ms, "static_images_per_s": s.images_per_s,
                 "ttt_ms": t.median_ms, "ttt_images_per_s": t.images_per_s, "latency_ratio": t.median_ms / s.median_ms,
                 "static": s.summary(), "ttt": t.summary()} for s, t in zip(self.static, self.adapted)]

    def to_dict(self) -> dict[str, Any]:
        return {"mode": "ttt-mmr", "checkpoint": self.checkpoint, "backend": "torch", "ttt_steps": self.steps,
                "ttt_lr": self.lr, "ttt_optimizer": self.optimizer, "size": self.size, "threads": self.threads,
                "input": "random normal (normalised units), input and auxiliary channels", "rows": self.rows()}

    def table(self) -> str:
        lines = [f"TTT-MMR K={self.steps} vs the static model, PyTorch on CPU ({self.threads} threads), "
                 f"{self.size}x{self.size} px",
                 f"{'batch':>5}  {'static ms':>9}  {'img/s':>7}  {f'TTT K={self.steps} ms':>12}  {'img/s':>7}  "
                 f"{'ratio':>6}"]
        for row in self.rows():
            lines.append(f"{row['batch']:>5}  {row['static_ms']:>9.1f}  {row['static_images_per_s']:>7.2f}  "
                         f"{row['ttt_ms']:>12.1f}  {row['ttt_images_per_s']:>7.2f}  {row['latency_ratio']:>5.1f}x")
        return "\n".join(lines)


def ttt_bench(checkpoint: str | Path, steps: int, batches: list[int], size: int | None, config: TimingConfig, *,
              lr: float = 1e-2, optimizer: str = "sgd", threads: int | None = None) -> TTTBenchResult:
    """Latency and throughput of the static model and of TTT with ``steps`` steps, per batch size."""
    TTTConfig(steps, lr, optimizer).validate()
    if steps < 1:
        raise TrtbenchError("bench --ttt-steps 0 is the static model itself", "pass --ttt-steps 1 or more")
    if threads:
        torch.set_num_threads(threads)
    model, decoders, record = load_joint(checkpoint)
    meta = model.metadata
    edge = size or meta.input_size
    if edge % meta.patch_size:
        raise TrtbenchError(f"--size {edge} is not a multiple of {meta.model}'s patch size {meta.patch_size}",
                            f"pass --size {max(meta.patch_size, edge // meta.patch_size * meta.patch_size)}")
    trainer = TestTimeTrainer(model, decoders, record["input_channels"], record["aux_channels"])
    channels = len(record["mean"])
    result = TTTBenchResult(str(checkpoint), steps, lr, optimizer, edge, torch.get_num_threads())
    generator = torch.Generator().manual_seed(0)
    for batch in batches:
        stack = torch.randn(batch, channels, edge, edge, generator=generator)
        for runs, ttt in ((result.static, TTTConfig(0)), (result.adapted, TTTConfig(steps, lr, optimizer))):
            runs.append(Timing(batch, measure(partial(trainer.predict, stack, ttt), config)))
    return result
