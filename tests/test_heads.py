"""Task heads on Clay's encoder: UPerNet on scaled encoder levels, the FCN/PixelShuffle head, regression and
classification variants; every dense head exports to ONNX with dynamic height and width."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from trtbench.errors import TrtbenchError
from trtbench.export import export_onnx
from trtbench.models import create_model
from trtbench.models.heads import HEADS, tap_layers
from trtbench.preprocess import normalize
from trtbench.raster import read_chip


def test_upernet_taps_the_literature_levels_scaled_to_depth() -> None:
    assert tap_layers(12) == (3, 5, 7, 11)
    assert tap_layers(24) == (7, 11, 15, 23)
    assert tap_layers(6) == (1, 2, 3, 5)
    model = create_model("clay_tiny", task="segmentation", head="upernet", num_classes=3)
    assert model.tap_layers == (1, 2, 3, 5)


@pytest.mark.parametrize("head", ["upernet", "fcn"])
def test_dense_heads_return_full_resolution_maps(head: str) -> None:
    seg = create_model("clay_tiny", task="segmentation", head=head, num_classes=4)
    reg = create_model("clay_tiny", task="regression", head=head)
    pixels = torch.randn(2, 10, 48, 72)
    with torch.no_grad():
        assert seg(pixels)[0].shape == (2, 4, 48, 72)
        assert reg(pixels)[0].shape == (2, 1, 48, 72)


def test_linear_head_classifies_from_cls_and_heads_refuse_other_tasks() -> None:
    model = create_model("clay_tiny", task="classification", head="linear", num_classes=5)
    with torch.no_grad():
        assert model(torch.randn(3, 10, 32, 32))[0].shape == (3, 5)
    with pytest.raises(TrtbenchError, match="does not do segmentation"):
        create_model("clay_tiny", task="segmentation", head="linear", num_classes=2)
    with pytest.raises(TrtbenchError, match="unknown head"):
        create_model("clay_tiny", task="segmentation", head="segformer", num_classes=2)
    assert set(HEADS) >= {"fcn", "upernet", "linear"}


def test_upernet_exports_with_dynamic_size_and_matches_pytorch_on_real_pixels(s2_chip: Path, tmp_path: Path) -> None:
    model = create_model("clay_tiny", sensor="sentinel-2-l1c", task="segmentation", head="upernet", num_classes=2,
                         class_names=["land", "water"], seed=1, input_size=64)
    path = export_onnx(model, tmp_path / "upernet.onnx")
    chip = read_chip(s2_chip)
    pixels, _ = normalize(model.metadata, chip.pixels, chip.nodata)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for h, w in ((64, 64), (72, 40)):  # a 9x5 token grid exercises the odd-size pooling path
        batch = np.ascontiguousarray(pixels[None, :, 100:100 + h, 200:200 + w])
        with torch.no_grad():
            expected = model(torch.from_numpy(batch))[0].numpy()
        actual = session.run(None, {"pixels": batch})[0]
        assert actual.shape == (1, 2, h, w)
        np.testing.assert_allclose(actual, expected, atol=1e-4 * np.abs(expected).max())
