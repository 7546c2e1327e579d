"""The UNet baseline: a registered model that trains from scratch and exports like the Clay models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from trtbench.errors import CheckpointError, TrtbenchError
from trtbench.export import export_onnx
from trtbench.metadata import read_onnx_metadata
from trtbench.models import (
    create_model,
    model_from_checkpoint,
    rebuild_reference,
    resolve_model_name,
    save_model,
)
from trtbench.preprocess import normalize
from trtbench.raster import read_chip


@pytest.fixture(scope="module")
def unet() -> torch.nn.Module:
    return create_model("unet_small", sensor="sentinel-2-l1c", task="segmentation", num_classes=2,
                        class_names=["land", "water"], seed=3, input_size=64)


def test_unet_is_registered_with_its_size_multiple(unet: torch.nn.Module) -> None:
    meta = unet.metadata
    assert (meta.family, meta.variant, meta.head, meta.patch_size) == ("unet", "small", "unet", 8)
    assert resolve_model_name("unet", None) == "unet" and resolve_model_name("unet", "small") == "unet_small"
    assert create_model("unet", sensor="sentinel-2-l1c", task="segmentation", num_classes=2).metadata.patch_size == 16


def test_unet_exports_and_onnx_matches_pytorch_on_the_real_chip(unet: torch.nn.Module, s2_chip: Path,
                                                                 tmp_path: Path) -> None:
    path = export_onnx(unet, tmp_path / "unet.onnx")
    assert read_onnx_metadata(path).family == "unet"
    chip = read_chip(s2_chip)
    pixels, _ = normalize(unet.metadata, chip.pixels, chip.nodata)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for size in (64, 96):
        batch = np.ascontiguousarray(pixels[None, :, :size, :size])
        with torch.no_grad():
            expected = unet(torch.from_numpy(batch))[0].numpy()
        np.testing.assert_allclose(session.run(None, {"pixels": batch})[0], expected,
                                   atol=1e-4 * np.abs(expected).max())


def test_unet_checkpoint_round_trips_and_is_refused_as_another_model(unet: torch.nn.Module, tmp_path: Path) -> None:
    path = save_model(unet, unet.metadata, tmp_path / "unet.ckpt")
    loaded = model_from_checkpoint(path)
    pixels = torch.randn(1, 13, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(pixels)[0], unet(pixels)[0])
        assert torch.equal(rebuild_reference(loaded.metadata)(pixels)[0], unet(pixels)[0])
    with pytest.raises(CheckpointError, match="'unet_small' checkpoint, not 'clay_tiny'"):
        create_model("clay_tiny", checkpoint=path)


def test_unet_refuses_heads_tasks_and_foreign_weights(tmp_path: Path) -> None:
    with pytest.raises(TrtbenchError, match="own decoder"):
        create_model("unet", task="segmentation", head="fcn", num_classes=2)
    with pytest.raises(TrtbenchError, match="cannot do embedding"):
        create_model("unet")
    foreign = tmp_path / "clay.ckpt"
    torch.save({"state_dict": {"model.encoder.cls_token": torch.zeros(1, 1, 192)}}, foreign)
    with pytest.raises(CheckpointError, match="no official weights"):
        create_model("unet", checkpoint=foreign, task="segmentation", num_classes=2)
