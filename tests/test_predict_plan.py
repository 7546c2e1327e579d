"""Window planning and blending weights: every pixel is covered, overlaps blend to exactly one."""

from __future__ import annotations

import numpy as np
import pytest

from trtbench.errors import InputError
from trtbench.metadata import ModelMetadata
from trtbench.predict.blend import StripBlender, weight_1d
from trtbench.predict.plan import WindowPlan, check_tiling


def _coverage(plan: WindowPlan) -> tuple[np.ndarray, np.ndarray]:
    """Per scene row: summed weight and number of tiles covering it (the plan along one axis)."""
    w = weight_1d(plan.tile, plan.overlap)
    total = np.zeros(plan.height)
    count = np.zeros(plan.height, int)
    for r in range(plan.rows):
        y0, _ = plan.origin(r, 0)
        for i in range(plan.tile):
            if 0 <= y0 + i < plan.height:
                total[y0 + i] += w[i]
                count[y0 + i] += 1
    return total, count


@pytest.mark.parametrize("size,tile,overlap", [(1860, 256, 64), (2041, 256, 64), (718, 64, 16), (100, 256, 64),
                                               (7, 8, 0), (300, 96, 95), (1, 16, 4), (257, 256, 1)])
def test_every_scene_pixel_gets_positive_weight(size, tile, overlap):
    plan = WindowPlan(size, size, tile, overlap)
    total, _ = _coverage(plan)
    assert total.min() > 0


@pytest.mark.parametrize("tile,overlap", [(256, 64), (64, 16), (96, 32), (128, 0)])
def test_overlapping_weights_sum_to_one(tile, overlap):
    # sin² + cos² ramps: a partition of unity between tiles (overlap <= tile / 2); at the scene's
    # own edges a single tile's ramp remains, which the blender's normalisation takes care of.
    plan = WindowPlan(1000, 1000, tile, overlap)
    total, count = _coverage(plan)
    inside = slice(overlap, plan.height - overlap)
    assert count[inside].max() == (2 if overlap else 1)
    np.testing.assert_allclose(total[inside], 1.0, atol=1e-6)


def test_weights_discard_the_border_and_are_flat_inside():
    w = weight_1d(256, 64)
    assert (w[:16] == 0).all() and (w[-16:] == 0).all()
    assert (w[64:192] == 1).all()
    assert (np.diff(w[:64]) >= 0).all()


def test_final_rows_partition_the_scene():
    plan = WindowPlan(1860, 2041, 256, 64)
    spans = [plan.final_rows(r) for r in range(plan.rows)]
    assert spans[0][0] == 0 and spans[-1][1] == plan.height
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))


def test_blender_returns_constant_output_unchanged():
    plan = WindowPlan(150, 170, 64, 24)
    blender = StripBlender(plan, channels=2)
    rows = []
    for r in range(plan.rows):
        for c in range(plan.cols):
            blender.add(c, np.full((2, 64, 64), 3.5, np.float32), np.zeros((64, 64), bool))
        rows.append(blender.finish_row(r).values)
    stitched = np.concatenate(rows, axis=1)
    assert stitched.shape == (2, 150, 170)
    np.testing.assert_allclose(stitched, 3.5, rtol=1e-6)


def _meta(patch: int) -> ModelMetadata:
    return ModelMetadata(model="m", family="f", variant="v", sensor="custom", bands=["a"], wavelengths=[0.5],
                         mean=[0.0], std=[1.0], gsd=10.0, patch_size=patch, input_size=64)


@pytest.mark.parametrize("tile,overlap,words", [(4, 0, "multiple of the model's patch size 8"),
                                                (100, 0, "multiple of the model's patch size 8"),
                                                (64, 64, "smaller than the tile"), (64, -1, "at least 0")])
def test_bad_tiling_is_refused_with_a_fix(tile, overlap, words):
    with pytest.raises(InputError, match=words) as info:
        check_tiling(_meta(8), tile, overlap)
    assert info.value.fix
