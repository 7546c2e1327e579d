"""Parity metrics: exact on known inputs, and non-finite outputs always fail."""

from __future__ import annotations

import numpy as np

from trtbench.parity import ParityAccumulator


def test_parity_metrics_over_batches_match_their_definitions():
    acc = ParityAccumulator("y")
    ref = np.array([[1.0, -2.0], [4.0, 0.0]])
    acc.update(ref[:1], ref[:1] + [0.1, 0.0])
    acc.update(ref[1:], ref[1:] + [0.0, -0.3])
    p = acc.result()
    assert np.isclose(p.max_abs, 0.3) and np.isclose(p.mean_abs, 0.1) and p.scale == 4.0
    assert np.isclose(p.rel_max, 0.075) and p.count == 4
    out = ref.ravel() + [0.1, 0, 0, -0.3]
    assert np.isclose(p.cosine, ref.ravel() @ out / np.linalg.norm(ref) / np.linalg.norm(out))


def test_nan_in_the_artifact_output_fails_parity():
    acc = ParityAccumulator("y")
    acc.update(np.ones(4), np.array([1.0, np.nan, 1.0, 1.0]))
    assert acc.result().rel_max == float("inf")
