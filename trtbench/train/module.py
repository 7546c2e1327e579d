"""The Lightning module that fine-tunes a registry model (Clay + head, or the UNet) on one task.

Losses: cross-entropy with an ignore index (and optional class weights) for segmentation and
classification, mean squared error over valid pixels for regression. Optimiser: AdamW with linear
warm-up then cosine decay, stepped per batch. Metrics come from torchmetrics and are logged per
epoch as ``{stage}/{name}`` (``val/miou``, ``test/iou_1``, ``val/rmse`` ...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import lightning as L
import torch
import torch.nn.functional as F
import torchmetrics
from torch import nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MulticlassJaccardIndex

from ..adapt.reconstruction import reconstruct, reconstruction_losses

# The metric that selects checkpoints and LR, per task, and whether higher is better.
MONITOR = {"segmentation": ("miou", "max"), "classification": ("accuracy", "max"), "regression": ("rmse", "min")}


def task_metrics(task: str, num_classes: int | None) -> torchmetrics.MetricCollection:
    if task == "regression":
        return torchmetrics.MetricCollection({"mae": torchmetrics.MeanAbsoluteError(),
                                              "rmse": torchmetrics.MeanSquaredError(squared=False)})
    # Inputs are already argmax indices over valid pixels; skipping torchmetrics' per-update value
    # scan (a torch.unique over every pixel) saves a large share of CPU evaluation time.
    kw = {"num_classes": num_classes, "validate_args": False}
    metrics = {"accuracy": MulticlassAccuracy(average="micro", **kw), "f1": MulticlassF1Score(average="macro", **kw)}
    if task == "segmentation":
        metrics |= {"miou": MulticlassJaccardIndex(average="macro", **kw),
                    "iou": MulticlassJaccardIndex(average="none", **kw)}
    return torchmetrics.MetricCollection(metrics)


class GeoTask(L.LightningModule):
    """``model`` returns a tuple whose first item is logits ``[B, K, H, W]`` (or ``[B, K]``, or ``[B, 1, H, W]``)."""

    def __init__(self, model: nn.Module, task: str, num_classes: int | None = None, *, ignore_index: int = -1,
                 lr: float = 1e-4, weight_decay: float = 0.05, warmup_epochs: int = 1,
                 class_weights: Sequence[float] | None = None, frozen_encoder: bool = False):
        super().__init__()
        self.model = model
        self.task = task
        self.ignore_index = ignore_index
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_epochs = warmup_epochs
        self.frozen_encoder = frozen_encoder
        weights = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.register_buffer("class_weights", weights, persistent=False)
        self.metrics = nn.ModuleDict({stage: task_metrics(task, num_classes) for stage in ("val", "test")})

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(pixels)[0]

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.task == "regression":
            valid = ~torch.isnan(target)
            # An all-missing batch still returns a graph-connected zero, so the step does not crash.
            return F.mse_loss(output[:, 0][valid], target[valid]) if valid.any() else output.sum() * 0
        if not (target != self.ignore_index).any():
            return output.sum() * 0
        return F.cross_entropy(output, target, weight=self.class_weights, ignore_index=self.ignore_index)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        pixels, target = batch
        loss = self.loss(self(pixels), target)
        self.log("train/loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=len(pixels))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate("val", batch)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._evaluate("test", batch)

    def _evaluate(self, stage: str, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        pixels, target = batch
        output = self(pixels)
        self.log(f"{stage}/loss", self.loss(output, target), on_epoch=True, batch_size=len(pixels))
        if self.task == "regression":
            valid = ~torch.isnan(target)
            preds, target = output[:, 0][valid], target[valid]
        else:
            preds = output.argmax(dim=1)
            valid = target != self.ignore_index
            preds, target = preds[valid], target[valid]
        if target.numel():
            self.metrics[stage].update(preds, target)

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    def _log_metrics(self, stage: str) -> None:
        metrics = self.metrics[stage]
        if not any(m.update_called for m in metrics.values()):
            return
        for name, value in metrics.compute().items():
            if value.ndim:  # per-class IoU
                for i, v in enumerate(value):
                    self.log(f"{stage}/{name}_{i}", v)
            else:
                self.log(f"{stage}/{name}", value, prog_bar=stage == "val")
        metrics.reset()

    def on_train_epoch_start(self) -> None:
        # A frozen encoder stays in eval mode, so normalisation statistics and dropout do not drift either.
        if self.frozen_encoder:
            self.model.encoder.eval()

    def configure_optimizers(self) -> dict:
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = min(total - 1, self.warmup_epochs * max(1, total // max(1, self.trainer.max_epochs)))
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, warmup, total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """LR factor: linear from ~0 to 1 over ``warmup`` steps, then cosine down to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class JointTask(GeoTask):
    """TTT-MMR's joint training (MMEarth-Bench "JT"): the task head *g* and one reconstruction decoder *h* per
    auxiliary modality on the same encoder pass, loss = task loss + the weighted mean of the reconstruction
    losses. Batches hold the stacked channels: the model's ``inputs`` first, then the auxiliary ones; validation
    and test read only the task output, so monitored metrics mean what they mean for :class:`GeoTask`."""

    def __init__(self, model: nn.Module, decoders: nn.ModuleDict, inputs: int, channels: dict[str, list[int]],
                 weights: dict[str, float], task: str, num_classes: int | None = None, **kw) -> None:
        super().__init__(model, task, num_classes, **kw)
        self.decoders = decoders
        self.inputs = inputs
        self.channels = channels
        self.weights = weights

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(pixels[:, : self.inputs])[0]

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        stack, target = batch
        output, recon = reconstruct(self.model, self.decoders, stack[:, : self.inputs])
        task_loss = self.loss(output, target)
        losses = reconstruction_losses(recon, stack, self.channels)
        recon_loss = sum(self.weights[m] * loss for m, loss in losses.items()) / len(losses)
        n = len(stack)
        for name, loss in losses.items():
            self.log(f"train/recon_{name}", loss, on_step=False, on_epoch=True, batch_size=n)
        self.log("train/task_loss", task_loss, on_step=False, on_epoch=True, batch_size=n)
        self.log("train/loss", task_loss + recon_loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=n)
        return task_loss + recon_loss
