"""`trtbench data check` on real data, and the same check run by training before it starts."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from unittest.mock import patch

import pytest
from test_data_tiles import SENSOR, write_floods_tiles
from test_datasets_official import burn_root  # noqa: F401  (fixture: HLS Burn Scars release in miniature)

from trtbench.data import DATASETS, DataOptions, Source, load_data
from trtbench.data.check import check_bundle, check_data, format_report
from trtbench.errors import TrtbenchError
from trtbench.sensors import get_sensor
from trtbench.train import TrainConfig, fit
from trtbench.train.run import DATA_CHECK_FILE

QUICK = {"epochs": 1, "batch_size": 4, "crop": 32, "progress": False, "warmup_epochs": 0}


@pytest.fixture
def tiles(data_dir: Path, tmp_path: Path) -> Path:
    write_floods_tiles(data_dir, tmp_path / "tiles", tile=128)
    return tmp_path / "tiles"


def test_real_sen1floods11_tiles_pass_with_their_tables_statistics(tiles: Path) -> None:
    report = check_data(DataOptions("chips", tiles, sensor=SENSOR))
    assert report.errors == [] and report.counts == {"train": 10, "val": 2, "test": 4}
    assert [b.band for b in report.bands][:3] == ["VV", "VH", "B01"]
    assert report.labels["values_found"] == [0, 1] and report.labels["lost_to_nodata"] < 0.01
    vv = report.bands[0]
    assert vv.raw_min < -20 and vv.raw_max > 0  # dB, as the Sentinel-1 table expects
    lines = format_report(report)
    assert lines[-1] == "ok: training can start" and any(line.strip().startswith("VV") for line in lines)


def test_missing_files_and_wrong_labels_are_errors(tiles: Path) -> None:
    bundle = load_data(DataOptions("chips", tiles, sensor=SENSOR, num_classes=2))
    (tiles / "images" / "r384_c384.tif").unlink()
    report = check_bundle(bundle)
    assert any("1 file(s) the splits name are missing" in e.problem and "r384_c384" in e.problem
               for e in report.errors)
    with pytest.raises(TrtbenchError, match="missing") as caught:
        report.raise_if_wrong()
    assert caught.value.fix


def test_training_runs_the_check_first_and_stops_on_wrong_statistics(burn_root: Path,  # noqa: F811
                                                                    tmp_path: Path) -> None:
    spec = DATASETS["hls_burn_scars"]
    prithvi = replace(spec, sources={"hls": Source("hls", get_sensor("hls-s30"), ("B02", "B03", "B04", "B8A", "B11",
                                                                                  "B12"), nodata=-9999)})
    with patch.dict(DATASETS, {"hls_burn_scars": prithvi}):
        wrong = load_data(DataOptions("hls_burn_scars", burn_root))
    with pytest.raises(TrtbenchError, match=r"band B02: .* gives std") as caught:
        fit(TrainConfig("unet_small", **QUICK), wrong, seed=0, lr=1e-3, folder=tmp_path / "wrong")
    assert "x 10000" in caught.value.fix and not (tmp_path / "wrong").exists()
    fixed = load_data(DataOptions("hls_burn_scars", burn_root))
    fit(TrainConfig("unet_small", **QUICK), fixed, seed=0, lr=1e-3, folder=tmp_path / "run")
    recorded = json.loads((tmp_path / "run" / DATA_CHECK_FILE).read_text())
    assert recorded["ok"] and "random_state=23" in recorded["split"]
