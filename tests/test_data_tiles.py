"""Spatially disjoint train/val/test tiles cut from the real Sen1Floods11 chip, in the generic chips layout.

``write_floods_tiles`` is shared by the training tests: it stacks S1 (VV, VH) and S2 (13 L1C bands)
into 15-band float32 GeoTIFFs (NaN = no data, band names in the descriptions) with the hand label
beside them, and assigns whole 128x128 blocks to a split so no test pixel sits in a training tile.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

BANDS = ["VV", "VH", "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
SENSOR = "sentinel-1-rtc+sentinel-2-l1c"
BLOCK = 128
# Blocks (row, col) of the 4x4 grid of 128x128 blocks: one per row and column for test, so the test
# tiles span the chip's range of water fractions; two for validation; the other ten train.
TEST_BLOCKS = {(0, 3), (1, 1), (2, 2), (3, 0)}
VAL_BLOCKS = {(0, 1), (2, 0)}


def write_floods_tiles(data_dir: Path, out: Path, tile: int = 64) -> dict[str, list[str]]:
    """Write images/, masks/ and splits/ under ``out``; returns the split lists."""
    folder = data_dir / "sen1floods11"
    with rasterio.open(folder / "Spain_7370579_S1Hand.tif") as s1, rasterio.open(folder / "Spain_7370579_S2Hand.tif") as s2, \
            rasterio.open(folder / "Spain_7370579_LabelHand.tif") as lab:
        optical = s2.read().astype(np.float32)
        optical[:, (optical == 0).any(axis=0)] = np.nan  # S2 no-data is 0; the stack uses NaN for every band
        pixels = np.concatenate([s1.read().astype(np.float32), optical])
        label, crs, geo = lab.read(1), s2.crs, s2.transform
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for name in ("images", "masks", "splits"):
        (out / name).mkdir(parents=True, exist_ok=True)
    for row in range(0, label.shape[0], tile):
        for col in range(0, label.shape[1], tile):
            block = (row // BLOCK, col // BLOCK)
            split = "test" if block in TEST_BLOCKS else "val" if block in VAL_BLOCKS else "train"
            name = f"r{row:03d}_c{col:03d}"
            splits[split].append(name)
            profile = {"driver": "GTiff", "height": tile, "width": tile, "crs": crs,
                       "transform": geo @ Affine.translation(col, row)}
            with rasterio.open(out / "images" / f"{name}.tif", "w", count=len(BANDS), dtype="float32",
                               nodata=float("nan"), **profile) as dst:
                dst.write(pixels[:, row:row + tile, col:col + tile])
                dst.descriptions = tuple(BANDS)
            with rasterio.open(out / "masks" / f"{name}.tif", "w", count=1, dtype="int16", nodata=-1, **profile) as dst:
                dst.write(label[None, row:row + tile, col:col + tile])
    for split, names in splits.items():
        (out / "splits" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return splits


def test_tiles_cover_the_chip_once_and_splits_share_no_block(data_dir: Path, tmp_path: Path) -> None:
    splits = write_floods_tiles(data_dir, tmp_path, tile=128)
    names = [n for s in splits.values() for n in s]
    assert len(names) == len(set(names)) == 16
    blocks = {s: {(int(n[1:4]) // BLOCK, int(n[6:9]) // BLOCK) for n in names} for s, names in splits.items()}
    assert not (blocks["train"] & blocks["val"]) and not (blocks["train"] & blocks["test"])
    assert not (blocks["val"] & blocks["test"])
    with rasterio.open(data_dir / "sen1floods11" / "Spain_7370579_LabelHand.tif") as src:
        label = src.read(1)
    restored = np.zeros_like(label)
    for name in names:
        with rasterio.open(tmp_path / "masks" / f"{name}.tif") as src:
            row, col = int(name[1:4]), int(name[6:9])
            restored[row:row + 128, col:col + 128] = src.read(1)
    np.testing.assert_array_equal(restored, label)
