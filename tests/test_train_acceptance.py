"""Acceptance: train on the real Sen1Floods11 chip (S1 + S2), beat the trivial baselines on held-out tiles,
then export the trained checkpoint and confirm ONNX Runtime gives the same mIoU as PyTorch.

One 512x512 chip is cut into 64x64 tiles; whole 128x128 blocks go to train (40 tiles), val (8) or test
(16), so no test pixel was seen in training. Baselines are computed on the same test pixels: all water,
all land, and NDWI = (B03 - B08) / (B03 + B08) thresholded at 0 (McFeeters) and at the threshold that is
best on the training tiles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from test_data_tiles import BANDS, SENSOR, write_floods_tiles

from trtbench.data import DataOptions, load_data
from trtbench.evaluate import evaluate
from trtbench.export import export_onnx
from trtbench.models import model_from_checkpoint
from trtbench.train import TrainConfig, run_experiment

GREEN, NIR = BANDS.index("B03"), BANDS.index("B08")


def water_iou(predicted: np.ndarray, label: np.ndarray) -> float:
    valid = label >= 0
    water = label == 1
    return float((predicted & water & valid).sum() / ((predicted | water) & valid).sum())


def read_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    pixels, labels = [], []
    for name in (root / "splits" / f"{split}.txt").read_text().split():
        with rasterio.open(root / "images" / f"{name}.tif") as img, rasterio.open(root / "masks" / f"{name}.tif") as lab:
            pixels.append(img.read())
            labels.append(lab.read(1))
    return np.stack(pixels), np.stack(labels)


def ndwi(pixels: np.ndarray) -> np.ndarray:
    green, nir = pixels[:, GREEN], pixels[:, NIR]
    return np.nan_to_num((green - nir) / (green + nir), nan=-1.0)


@pytest.mark.slow
def test_trained_unet_beats_baselines_and_exports_with_the_same_miou(data_dir: Path, tmp_path: Path) -> None:
    tiles = tmp_path / "tiles"
    write_floods_tiles(data_dir, tiles, tile=64)
    bundle = load_data(DataOptions("chips", tiles, sensor=SENSOR, class_names=["land", "water"]))
    config = TrainConfig("unet", epochs=16, patience=6, batch_size=8, lr=1e-3, warmup_epochs=1, crop=64,
                         progress=False)
    record = run_experiment(config, bundle, tmp_path / "runs" / "floods")
    model_water = record["runs"][0]["test"]["iou_1"]

    train_pixels, train_labels = read_split(tiles, "train")
    test_pixels, test_labels = read_split(tiles, "test")
    thresholds = np.linspace(-0.5, 0.5, 41)
    tuned = thresholds[np.argmax([water_iou(ndwi(train_pixels) > t, train_labels) for t in thresholds])]
    baselines = {
        "all water": water_iou(np.ones_like(test_labels, bool), test_labels),
        "all land": water_iou(np.zeros_like(test_labels, bool), test_labels),
        "NDWI > 0": water_iou(ndwi(test_pixels) > 0, test_labels),
        f"NDWI > {tuned:.3f} (tuned on train)": water_iou(ndwi(test_pixels) > tuned, test_labels),
    }
    print(f"\ntest water IoU: UNet (S1+S2, 15 bands) {model_water:.4f}")
    for name, value in baselines.items():
        print(f"test water IoU: {name:<32} {value:.4f}")
    assert model_water > max(baselines.values()) + 0.01 and model_water > baselines["NDWI > 0"] + 0.05

    checkpoint = tmp_path / "runs" / "floods" / "best.ckpt"
    onnx_path = export_onnx(model_from_checkpoint(checkpoint), tmp_path / "floods.onnx")
    names = (tiles / "splits" / "test.txt").read_text().split()
    result = evaluate(onnx_path, [tiles / "images" / f"{n}.tif" for n in names],
                      labels=[tiles / "masks" / f"{n}.tif" for n in names], reference=checkpoint, tile=64,
                      progress=False)
    delta = result.task_delta()["miou"]
    print(f"mIoU PyTorch {result.task['reference']['miou']:.5f}, ONNX Runtime {result.task['artifact']['miou']:.5f}, "
          f"delta {delta:+.5f}")
    assert abs(delta) <= 0.001 and result.passed
    # The eval pipeline (GeoTIFF -> metadata normalization) reproduces the trainer's own test mIoU.
    assert result.task["reference"]["miou"] == pytest.approx(record["runs"][0]["test"]["miou"], abs=1e-4)
