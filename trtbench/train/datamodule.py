"""The Lightning data module: the dataset's splits, the few-shot subset and the loaders."""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader

from ..data import DataBundle, few_shot, majority_class


class GeoDataModule(L.LightningDataModule):
    """Training chips are randomly cropped to ``crop`` and flipped/rotated; val/test chips are read whole.

    ``fraction`` < 1 keeps that share of the training chips (seeded, stratified by each chip's
    class, or majority class for segmentation) — the few-shot regime.
    """

    def __init__(self, bundle: DataBundle, *, batch_size: int, crop: int | None, size_multiple: int,
                 fraction: float = 1.0, seed: int = 0, num_workers: int = 0, augment: bool = True):
        super().__init__()
        self.bundle = bundle
        self.batch_size = batch_size
        self.num_workers = num_workers
        train = bundle.splits["train"]
        indices = None
        if fraction < 1.0:
            stratum = (lambda i: majority_class(train.read_label(i), bundle.ignore_index)) \
                if bundle.task != "regression" else None
            indices = few_shot(len(train), fraction, seed, stratum)
        self.train_set = train.view(indices, crop=crop, size_multiple=size_multiple, augment=augment,
                                    random_crop=True)
        self.eval_sets = {s: bundle.splits[s].view(size_multiple=size_multiple) for s in ("val", "test")}

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, num_workers=self.num_workers,
                          drop_last=len(self.train_set) > self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.eval_sets["val"], batch_size=self.batch_size, num_workers=self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.eval_sets["test"], batch_size=self.batch_size, num_workers=self.num_workers)
