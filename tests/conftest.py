"""Shared fixtures: the real data in ../shared/data and small exported artifacts built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Triton reads TRITON_INTERPRET once, at its first import (which export/compile paths may trigger early):
# on a machine without a GPU the kernel tests run in the interpreter, so set it before anything imports it.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TRTBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    # Missing data is a broken checkout, not a reason to skip: fail loudly.
    assert SHARED_DATA.is_dir(), f"real test data not found at {SHARED_DATA} (set TRTBENCH_SHARED_DATA)"
    return SHARED_DATA


@pytest.fixture(scope="session")
def s2_chip(data_dir: Path) -> Path:
    """Sen1Floods11 Sentinel-2 L1C chip: 13 bands named B1..B12 in the GeoTIFF, 512x512, nodata 0."""
    return data_dir / "sen1floods11" / "Spain_7370579_S2Hand.tif"


@pytest.fixture(scope="session")
def s1_chip(data_dir: Path) -> Path:
    """Sen1Floods11 Sentinel-1 chip: VV, VH in dB, float32, nodata NaN."""
    return data_dir / "sen1floods11" / "Spain_7370579_S1Hand.tif"


@pytest.fixture(scope="session")
def water_label(data_dir: Path) -> Path:
    """Sen1Floods11 hand label: -1 invalid, 0 land, 1 water."""
    return data_dir / "sen1floods11" / "Spain_7370579_LabelHand.tif"


@pytest.fixture(scope="session")
def hls_chip(data_dir: Path) -> Path:
    """TerraTorch's real 10-band HLS-like chip, 224x224, float32, nodata -9999 (no usable label)."""
    return data_dir / "hls_chip_terratorch" / "hls_10band_224.tif"


@pytest.fixture(scope="session")
def landsat_scene(data_dir: Path) -> Path:
    """Landsat 8 OLI L1TP subset: 3 bands (B2, B3, B4) x 1860 x 2041 uint16, EPSG:32621, no nodata tag."""
    return data_dir / "landsat_scenes" / "LC08_L1TP_224078_20200518_20200518_01_RT.TIF"


@pytest.fixture(scope="session")
def rgb_scene(data_dir: Path) -> Path:
    """Landsat 7 display RGB: 3 x 718 x 791 uint8, EPSG:32618, nodata 0 on the collar."""
    return data_dir / "landsat_scenes" / "RGB.byte.tif"


@pytest.fixture(scope="session")
def tiny_embedding_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """clay_tiny, seeded random init, Sentinel-2 L2A (10 bands), embedding outputs features + cls."""
    from trtbench.export import export_onnx
    from trtbench.models import create_model

    path = tmp_path_factory.mktemp("onnx") / "clay_tiny_s2l2a.onnx"
    return export_onnx(create_model("clay_tiny", sensor="sentinel-2-l2a", seed=0), path)


@pytest.fixture(scope="session")
def tiny_water_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """clay_tiny + fcn segmentation head (2 classes: land, water) on the 13 Sentinel-2 L1C bands, seeded."""
    from trtbench.export import export_onnx
    from trtbench.models import create_model

    path = tmp_path_factory.mktemp("onnx") / "clay_tiny_water.onnx"
    model = create_model("clay_tiny", sensor="sentinel-2-l1c", task="segmentation", head="fcn", num_classes=2,
                         class_names=["land", "water"], seed=0, input_size=128)
    return export_onnx(model, path)
