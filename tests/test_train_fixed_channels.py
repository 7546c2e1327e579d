"""A model that reads no wavelengths (the UNet) trains on chips whose bands nothing describes: it needs band
names and statistics, which come from the files and the training chips, not --sensor/--wavelengths."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from cli_helpers import run_cli
from test_data_tiles import write_floods_tiles

from trtbench.models import model_from_checkpoint


@pytest.fixture(scope="module")
def vv_chips(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real Sen1Floods11 tiles reduced to one band (Sentinel-1 VV, dB) with no band description."""
    root = tmp_path_factory.mktemp("vv")
    write_floods_tiles(data_dir, root, tile=64)
    for path in (root / "images").glob("*.tif"):
        with rasterio.open(path) as ds:
            profile, vv = ds.profile | {"count": 1}, ds.read(1)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(vv[None])
    return root


def test_unet_on_single_band_chips_needs_no_sensor(vv_chips: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    result = run_cli(capsys, "train", "unet", "--variant", "small", "--dataset", "chips", "--data-root", vv_chips,
                     "--num-classes", "2", "--epochs", "1", "--input-size", "32", "--quiet", "-o", out)
    assert result.code == 0, result.err
    meta = model_from_checkpoint(out / "best.ckpt").metadata
    assert meta.bands == ["band1"] and all(math.isnan(w) for w in meta.wavelengths)   # no wavelength invented
    train = (vv_chips / "splits" / "train.txt").read_text().split()
    pixels = np.concatenate([_read_band(vv_chips / "images" / f"{n}.tif") for n in train])
    pixels = pixels[~np.isnan(pixels)].astype(np.float64)
    np.testing.assert_allclose(meta.mean, [pixels.mean()], rtol=1e-6)
    np.testing.assert_allclose(meta.std, [pixels.std()], rtol=1e-4)


def test_a_model_that_reads_wavelengths_still_asks_for_them(vv_chips: Path, tmp_path: Path, capsys) -> None:
    result = run_cli(capsys, "train", "clay", "--variant", "tiny", "--random-init", "--dataset", "chips",
                     "--data-root", vv_chips, "--num-classes", "2", "--epochs", "1", "--quiet", "-o", tmp_path / "r")
    assert result.code == 2 and "--sensor" in result.err and "--wavelengths" in result.err
    assert not (tmp_path / "r").exists()


def _read_band(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1).ravel()
