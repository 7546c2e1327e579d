"""Seeded train/val/test splits and few-shot subsets (stratified where labels allow)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import TrtbenchError

SPLITS = ("train", "val", "test")


def seeded_split(names: Sequence[str], seed: int, val: float = 0.15, test: float = 0.15) -> dict[str, list[str]]:
    """Shuffle ``names`` with ``seed`` and cut it into train/val/test (each non-empty when possible)."""
    n_val = max(1, round(val * len(names)))
    n_test = max(1, round(test * len(names))) if test > 0 else 0
    if len(names) < n_val + n_test + 1:
        raise TrtbenchError(f"only {len(names)} chip(s): too few to split into train/val/test",
                            "add chips, or give splits/{train,val,test}.txt")
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    return {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}


def sklearn_shuffle_split(count: int, test_size: float, random_state: int) -> tuple[list[int], list[int]]:
    """(train, test) indices exactly as scikit-learn's ``train_test_split(arange(count), test_size=...,
    random_state=...)`` without ``stratify`` returns them, so a published split can be reproduced.

    The algorithm is ``BaseShuffleSplit._iter_indices`` (``sklearn/model_selection/_split.py``):
    ``n_test = ceil(test_size * count)`` (``_validate_shuffle_split``), ``n_train = count - n_test``,
    ``permutation = RandomState(random_state).permutation(count)`` (``check_random_state`` of an int),
    test = ``permutation[:n_test]``, train = ``permutation[n_test:n_test + n_train]``.
    """
    if not 0 < test_size < 1:
        raise TrtbenchError(f"test_size must be in (0, 1), got {test_size}", "pass a fraction such as 0.1")
    n_test = math.ceil(test_size * count)
    if count - n_test < 1:
        raise TrtbenchError(f"only {count} item(s): too few to split off {test_size:.0%}", "add chips")
    permutation = np.random.RandomState(random_state).permutation(count)
    return permutation[n_test:].tolist(), permutation[:n_test].tolist()


def few_shot(count: int, fraction: float, seed: int, stratum: Callable[[int], int] | None = None) -> list[int]:
    """Indices of a ``fraction`` of ``count`` items; with ``stratum``, the fraction is taken per stratum.

    Every stratum keeps at least one item, so a rare class is never dropped from the few-shot set.
    """
    if not 0 < fraction <= 1:
        raise TrtbenchError(f"--fraction must be in (0, 1], got {fraction}", "pass e.g. --fraction 0.1")
    rng = np.random.default_rng(seed)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(count):
        groups[stratum(i) if stratum else 0].append(i)
    chosen: list[int] = []
    for key in sorted(groups):
        members = groups[key]
        take = max(1, round(fraction * len(members)))
        chosen += [members[i] for i in rng.permutation(len(members))[:take]]
    return sorted(chosen)


def majority_class(target: np.ndarray, ignore_index: int) -> int:
    """The most frequent labelled class of a chip (its stratum); -1 when nothing is labelled."""
    valid = target[target != ignore_index]
    return int(np.bincount(valid).argmax()) if valid.size else -1
