"""A torch Dataset over labelled chips: read sources, stack the selected bands, normalise, check labels.

Every dataset in :mod:`trtbench.data.catalog` is a list of :class:`Record` plus this reader, so
missing files, mismatched shapes and unexpected label values fail the same way everywhere: an
:class:`~trtbench.errors.InputError` naming the file and the fix.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InputError
from ..raster import read_chip
from .sources import Source, read_source


@dataclass(frozen=True)
class Record:
    """One labelled chip: per source a file (or one file per band), and its label raster or image class."""

    name: str
    images: tuple[tuple[Path, ...], ...]
    label: Path
    class_index: int | None = None  # classification: the chip's class (``label`` names where it came from)


@dataclass(frozen=True)
class LabelSpec:
    """How raw label values become training targets.

    Segmentation targets are class indices with ``ignore_index`` for no-data; ``offset`` is added to
    raw values first (MADOS stores classes 1..15 and 0 for unlabelled), ``binarize`` maps every
    non-zero value to class 1. Regression targets are floats with NaN for no-data. Classification
    targets are one class index per chip, checked with :meth:`check`. ``file_nodata=False`` ignores
    the no-data value a label file declares, for datasets whose masks declare one that is really a
    class (AI4SmallFarms: 0 is background).
    """

    task: str
    num_classes: int | None = None
    ignore_index: int = -1
    offset: int = 0
    binarize: bool = False
    file_nodata: bool = True

    def decode(self, raw: np.ndarray, nodata: float | None, path: Path) -> np.ndarray:
        missing = np.isnan(raw) if raw.dtype.kind == "f" else np.zeros(raw.shape, bool)
        if self.file_nodata and nodata is not None and not np.isnan(nodata):
            missing |= raw == nodata
        if self.task == "regression":
            return np.where(missing, np.nan, raw).astype(np.float32)
        values = np.nan_to_num(raw).astype(np.int64)
        if self.binarize:
            values = (values != 0).astype(np.int64)
        values = values + self.offset
        values[missing] = self.ignore_index
        self.check(values, path)
        return values

    def check(self, values: np.ndarray, path: Path) -> None:
        found = np.unique(values)
        bad = [int(v) for v in found if v != self.ignore_index and not 0 <= v < (self.num_classes or 0)]
        if bad:
            raw = [v - self.offset for v in bad[:10]]
            raise InputError(
                f"label {path} holds unexpected value(s) {raw}: expected classes 0..{(self.num_classes or 0) - 1}"
                f" (after offset {self.offset}) or {self.ignore_index - self.offset} for no data",
                "check --num-classes and that this is the dataset's label file (not an image or another "
                "dataset's mask)")


class ChipDataset(Dataset):
    """Normalised ``[C, H, W]`` float32 pixels and their target for each record.

    ``channels`` holds, per source, the file band indices to keep (in model band order); ``mean``
    and ``std`` are per stacked channel in the sources' units. Missing pixels (nodata or NaN in any
    kept band) become 0 after normalisation and are ignored by the loss. ``crop`` takes a random
    window (training) or the top-left one (evaluation); every side is trimmed to ``size_multiple``.
    """

    def __init__(self, records: Sequence[Record], sources: Sequence[Source], channels: Sequence[Sequence[int]],
                 mean: Sequence[float], std: Sequence[float], labels: LabelSpec, *, crop: int | None = None,
                 size_multiple: int = 1, augment: bool = False, random_crop: bool = False):
        self.records = list(records)
        self.sources = list(sources)
        self.channels = [list(c) for c in channels]
        self.mean = np.asarray(mean, np.float32)[:, None, None]
        self.std = np.asarray(std, np.float32)[:, None, None]
        self.labels = labels
        self.crop = crop
        self.size_multiple = size_multiple
        self.augment = augment
        self.random_crop = random_crop

    def __len__(self) -> int:
        return len(self.records)

    def view(self, indices: Sequence[int] | None = None, **options: object) -> ChipDataset:
        """A copy restricted to ``indices`` with other reading options (crop, augment, random_crop ...)."""
        twin = copy.copy(self)
        if indices is not None:
            twin.records = [self.records[i] for i in indices]
        for key, value in options.items():
            if not hasattr(self, key):
                raise AttributeError(key)
            setattr(twin, key, value)
        return twin

    def read_label(self, index: int) -> np.ndarray:
        """The decoded target of one record: a full-size map, or a 0-d class index for classification."""
        record = self.records[index]
        if record.class_index is not None:
            target = np.array(record.class_index, dtype=np.int64)
            self.labels.check(target, record.label)
            return target
        chip = read_chip(record.label)
        return self.labels.decode(chip.pixels[0], chip.nodata, record.label)

    def read_pixels(self, index: int, shape: tuple[int, int] | None) -> np.ndarray:
        """Selected bands of one record in source units, NaN where missing: ``[C, H, W]``.

        ``shape`` is the label's (every source must match it); None for image-level labels.
        """
        record = self.records[index]
        parts = []
        for paths, source, keep in zip(record.images, self.sources, self.channels):
            data = read_source(paths, source, shape if len(paths) > 1 else None)
            shape = shape or data.shape[-2:]
            if data.shape[-2:] != shape:
                raise InputError(f"{paths[0]} is {data.shape[-2]}x{data.shape[-1]} but its label {record.label} is "
                                 f"{shape[0]}x{shape[1]}", "pair each image with the label of the same chip")
            if data.shape[0] != len(source.file_bands):
                raise InputError(f"{paths[0]} has {data.shape[0]} bands, expected {len(source.file_bands)} "
                                 f"({', '.join(source.file_bands)})", "check the dataset layout and --bands")
            parts.append(data[keep])
        return np.concatenate(parts)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        target = self.read_label(index)
        dense = target.ndim == 2
        pixels = self.read_pixels(index, target.shape if dense else None)
        missing = np.isnan(pixels).any(axis=0)
        x = (pixels - self.mean) / self.std
        x[:, missing] = 0.0
        if dense:
            target[missing] = np.nan if self.labels.task == "regression" else self.labels.ignore_index
        x, target = self._window(x, target)
        # np.array(copy) keeps a 0-d class target 0-d (ascontiguousarray would make it 1-d).
        x_t, y_t = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.array(target, copy=True))
        return augment(x_t, y_t) if self.augment else (x_t, y_t)

    def _window(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = x.shape[-2:]
        m = self.size_multiple
        ch, cw = (min(self.crop, h), min(self.crop, w)) if self.crop else (h, w)
        ch, cw = ch - ch % m, cw - cw % m
        if ch < m or cw < m:
            raise InputError(f"chip of {h}x{w} pixels is smaller than the model's size multiple {m}",
                             "use larger chips or a model with a smaller patch")
        top = int(torch.randint(0, h - ch + 1, ())) if self.random_crop else 0
        left = int(torch.randint(0, w - cw + 1, ())) if self.random_crop else 0
        window = (slice(top, top + ch), slice(left, left + cw))
        return x[(slice(None), *window)], y[window] if y.ndim == 2 else y


def augment(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flips and 90-degree rotations, applied alike to pixels and a dense target (the dihedral group).

    An image-level target (classification) is invariant and passes through unchanged.
    """
    dense = y.ndim >= 2
    if torch.rand(()) < 0.5:
        x, y = x.flip(-1), (y.flip(-1) if dense else y)
    if torch.rand(()) < 0.5:
        x, y = x.flip(-2), (y.flip(-2) if dense else y)
    if x.shape[-1] != x.shape[-2]:  # a rotation would change the shape of a non-square chip
        return x, y
    k = int(torch.randint(0, 4, ()))
    return x.rot90(k, (-2, -1)), (y.rot90(k, (-2, -1)) if dense else y)
