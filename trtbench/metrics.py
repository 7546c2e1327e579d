"""Task metrics with torchmetrics: mIoU / F1 / accuracy for segmentation, MAE / RMSE for regression."""

from __future__ import annotations

import numpy as np
import torch
import torchmetrics
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MulticlassJaccardIndex

from .metadata import ModelMetadata

# torchmetrics wants a non-negative ignore index; remapped internally so users can keep e.g. -1.
_IGNORE = 255


class TaskMetrics:
    """Accumulates one model's predictions against labels over batches."""

    def __init__(self, task: str, num_classes: int | None, ignore_index: int):
        self.task = task
        self.ignore_index = ignore_index
        self.updated = False
        if task == "segmentation":
            kw = {"num_classes": num_classes, "ignore_index": _IGNORE}
            self.metrics = torchmetrics.MetricCollection({
                "miou": MulticlassJaccardIndex(average="macro", **kw),
                "f1": MulticlassF1Score(average="macro", **kw),
                "accuracy": MulticlassAccuracy(average="micro", **kw),
            })
            self.per_class_iou = MulticlassJaccardIndex(average="none", **kw)
        else:
            self.metrics = torchmetrics.MetricCollection({
                "mae": torchmetrics.MeanAbsoluteError(), "rmse": torchmetrics.MeanSquaredError(squared=False)})

    @classmethod
    def for_metadata(cls, meta: ModelMetadata, ignore_index: int) -> TaskMetrics | None:
        if meta.task not in ("segmentation", "regression"):
            return None
        return cls(meta.task, meta.num_classes, ignore_index)

    def update(self, output: np.ndarray, target: np.ndarray) -> None:
        """``output`` [B, K, H, W] logits (or [B, 1, H, W] values); ``target`` [B, H, W]."""
        self.updated = True
        valid = target != self.ignore_index
        if self.task == "segmentation":
            preds = torch.from_numpy(output.argmax(axis=1))
            tgt = torch.from_numpy(np.where(valid, target, _IGNORE).astype(np.int64))
            self.metrics.update(preds, tgt)
            self.per_class_iou.update(preds, tgt)
        else:
            self.metrics.update(torch.from_numpy(output[:, 0][valid]), torch.from_numpy(target[valid].astype(np.float32)))

    def compute(self) -> dict[str, float]:
        values = {k: float(v) for k, v in self.metrics.compute().items()}
        if self.task == "segmentation":
            values |= {f"iou_class{i}": float(v) for i, v in enumerate(self.per_class_iou.compute())}
        return values
