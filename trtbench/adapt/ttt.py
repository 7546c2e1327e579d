"""Test-time training: per batch, restore the trained weights, adapt the encoder on the reconstruction losses
alone, then predict; and its evaluation over a dataset's test split, for several step counts.

As MMEarth-Bench's ``EncoderDecoder.ttt`` (github.com/lgordon99/mmearth-bench, ``model.py``): every batch starts
from the jointly trained weights, only the encoder's parameters change (task head and reconstruction decoders
stay frozen), the model stays in eval mode (normalisation statistics and dropout fixed), each modality's
gradient is divided by its norm and the normalised gradients are averaged (so no modality dominates by scale),
and the prediction is made after the last of K steps. They take plain gradient steps; here a fresh
``torch.optim`` optimiser per batch does the step (``sgd``, their update, by default; ``adamw`` keeps moment
estimates, which are then per batch too). The weights are restored after each batch as well, so results do not
depend on batch order and the model is left as trained.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import TrtbenchError
from ..train.module import task_metrics
from .reconstruction import reconstruct, reconstruction_losses

OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class TTTConfig:
    steps: int = 5
    lr: float = 1e-2
    optimizer: str = "sgd"

    def validate(self) -> None:
        if self.steps < 0:
            raise TrtbenchError(f"--ttt-steps must be >= 0, got {self.steps}", "pass e.g. --ttt-steps 0,1,5")
        if self.lr <= 0:
            raise TrtbenchError(f"--ttt-lr must be > 0, got {self.lr}", "pass e.g. --ttt-lr 0.01")
        if self.optimizer not in OPTIMIZERS:
            raise TrtbenchError(f"unknown TTT optimiser '{self.optimizer}'", f"use one of: {', '.join(OPTIMIZERS)}")


class TestTimeTrainer:
    """Adapts a jointly trained model per batch. ``stack`` batches hold the input channels first
    (``inputs`` of them), then the auxiliary ones; ``channels`` says where each modality's targets are."""

    __test__ = False   # not a pytest class

    def __init__(self, model: nn.Module, decoders: nn.ModuleDict, inputs: int, channels: Mapping[str, list[int]]):
        self.model = model.eval()
        self.decoders = decoders.eval()
        self.inputs = inputs
        self.channels = dict(channels)
        self.trained = {k: v.detach().clone() for k, v in model.encoder.state_dict().items()}
        self.optimizer: torch.optim.Optimizer | None = None   # the last adapted batch's (tests inspect it)

    def predict(self, stack: torch.Tensor, config: TTTConfig) -> torch.Tensor:
        """Task output of one batch after ``config.steps`` adaptation steps; the weights are restored after."""
        pixels = stack[:, : self.inputs]
        if config.steps == 0:   # the static model, exactly as plain eval runs it
            with torch.no_grad():
                return self.model(pixels)[0]
        self.model.encoder.load_state_dict(self.trained)
        try:
            self._adapt(stack, config)
            with torch.no_grad():
                return self.model(pixels)[0]
        finally:
            self.model.encoder.load_state_dict(self.trained)
            self.model.zero_grad(set_to_none=True)

    def _adapt(self, stack: torch.Tensor, config: TTTConfig) -> None:
        params = list(self.model.encoder.parameters())
        frozen = [*self.model.head.parameters(), *self.decoders.parameters()]
        for p in params:
            p.requires_grad_(True)
        for p in frozen:
            p.requires_grad_(False)
        optimizer = (torch.optim.SGD(params, lr=config.lr) if config.optimizer == "sgd"
                     else torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0))
        self.optimizer = optimizer
        pixels = stack[:, : self.inputs]
        for _ in range(config.steps):
            with torch.enable_grad():
                _, outputs = reconstruct(self.model, self.decoders, pixels)
                losses = reconstruction_losses(outputs, stack, self.channels)
                grads = [torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
                         for loss in losses.values() if loss.requires_grad]
            if not grads:
                return
            normalised = [_normalised(g) for g in grads]
            for i, p in enumerate(params):
                parts = [n[i] for n in normalised if n[i] is not None]
                # A modality whose loss does not reach a parameter contributes zero to the average.
                p.grad = torch.stack(parts).sum(dim=0) / len(normalised) if parts else None
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)


def _normalised(grads: Sequence[torch.Tensor | None]) -> list[torch.Tensor | None]:
    """One modality's gradient divided by its norm over every parameter (MMEarth-Bench's normalisation)."""
    norm = torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads if g is not None]))
    return [None if g is None else g / (norm + 1e-6) for g in grads]


@dataclass
class StepsResult:
    """The task metrics and time per image of one step count."""

    steps: int
    metrics: dict[str, float]
    seconds_per_image: float
    images: int


def evaluate_ttt(trainer: TestTimeTrainer, samples: Sequence[tuple[torch.Tensor, torch.Tensor]],
                 batches: Iterable[Sequence[int]], config: TTTConfig, task: str, num_classes: int | None,
                 ignore_index: int) -> tuple[StepsResult, dict[int, torch.Tensor]]:
    """Metrics over ``samples`` (stack, target) adapted in ``batches``; also each sample's output, by index.

    Time counts adaptation and prediction only (the data is read before), per image."""
    metrics = task_metrics(task, num_classes)
    outputs: dict[int, torch.Tensor] = {}
    elapsed, count = 0.0, 0
    for batch in batches:
        stack = torch.stack([samples[i][0] for i in batch])
        target = torch.stack([samples[i][1] for i in batch])
        start = time.perf_counter()
        output = trainer.predict(stack, config)
        elapsed += time.perf_counter() - start
        count += len(batch)
        for i, out in zip(batch, output):
            outputs[i] = out
        if task == "regression":
            valid = ~torch.isnan(target)
            preds, target = output[:, 0][valid], target[valid]
        else:
            valid = target != ignore_index
            preds, target = output.argmax(dim=1)[valid], target[valid]
        if target.numel():
            metrics.update(preds, target)
    values = {}
    for name, value in metrics.compute().items():
        if value.ndim:
            values |= {f"{name}_{i}": float(v) for i, v in enumerate(value)}
        else:
            values[name] = float(value)
    return StepsResult(config.steps, values, elapsed / max(count, 1), count), outputs
