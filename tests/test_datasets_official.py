"""The published datasets in miniature, laid out exactly as their official releases ship them.

Every layout fact below is the release's, with its source; the pixels are real (../shared/data) wherever
the bands allow, rescaled to the release's units:

* HLS Burn Scars: dataset card ``ibm-nasa-geospatial/hls_burn_scars`` (``training/``, ``validation/``;
  ``subsetted_512x512_HLS.S30.<tile>.<date>.v1.4_merged.tif`` float32 reflectance 0-1, 6 bands;
  ``...v1.4.mask.tif`` 1 burn scar / 0 not burned / -1 missing, the name of the real mask in
  ../shared/data). Pixels: TerraTorch's real HLS chip (x 10000) divided by 10000; its bands 1-5 and 7
  stand in for B02, B03, B04, B8A, B11, B12 (the chip's band order is not documented). Labels: the real
  burn-scar mask.
* MADOS: Zenodo 10664073 as read by ``gkakogeorgiou/mados`` ``utils/dataset.py`` and PANGAEA-bench
  ``mados.py`` (``Scene_N/{10,20,60}/Scene_N_L2R_rhorc_<nm>_K.tif`` float32 one band per file at 10/20/60
  m, ``Scene_N/10/Scene_N_L2R_cl_K.tif`` uint8 1..15 with 0 unlabelled, ``splits/{train,val,test}_X.txt``;
  Sentinel-2A files named 443, 492, 560, 665, 704, 740, 783, 833, 865, 1614, 2202 nm, Sentinel-2B 442,
  492, 559, 665, 704, 739, 780, 833, 864, 1610, 2186 nm, ACOLITE's naming). Pixels: the real Sen1Floods11
  S2 chip (TOA x 10000) divided by 10000 as a stand-in for rhorc (same 0-1 scale); its water label as
  class 7, "Marine Water".
* AI4SmallFarms: DANS doi:10.17026/dans-xy6-ngg6 as read by PANGAEA-bench ``ai4smallfarms.py``
  (``sentinel-2-asia/{train,validate,test}/{images,masks}/*.tif``; PANGAEA renames ``validate`` to
  ``val``; masks: non-zero = crop field). Pixels: B02, B03, B04, B08 of the real S2 chip; masks: the
  real burn-scar polygons as stand-in field polygons, declaring no-data 0.
* BioMassters: the DrivenData release as read by torchgeo ``datasets/biomassters.py`` (its test data
  generator gives the ``features_metadata.csv`` columns), PANGAEA-bench ``biomassters.py`` (file names
  ``CHIP_S1_MM.tif``, ``CHIP_S2_MM.tif``, ``CHIP_agbm.tif``; S1 -9999 no-data) and torchgeo's note that
  S2 is not available for every month. Pixels: the real S1 (dB) as the ascending pair with a mostly
  empty descending orbit, 10 bands of the real S2 chip plus a cloud layer; target: a stand-in biomass.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
import rasterio
import torch
from cli_helpers import exit_code as cli

from trtbench.data import DATASETS, DataOptions, Source, load_data, sklearn_shuffle_split
from trtbench.data.check import MEAN_LIMIT, STD_FLOOR, check_data
from trtbench.errors import InputError, TrtbenchError
from trtbench.sensors import get_sensor

BURN_MASK = "hls_burn_scars_mask/subsetted_512x512_HLS.S30.T10TGS.2018285.v1.4.mask.tif"
HLS_STAND_IN = [0, 1, 2, 3, 4, 6]  # chip bands standing in for B02, B03, B04, B8A, B11, B12
EDGE = 64


def _write(path: Path, data: np.ndarray, nodata: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[-2], width=data.shape[-1], count=data.shape[0],
                       dtype=data.dtype, nodata=nodata) as dst:
        dst.write(data)


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


# --- HLS Burn Scars ----------------------------------------------------------------------------------

@pytest.fixture
def burn_root(data_dir: Path, hls_chip: Path, tmp_path: Path) -> Path:
    """13 training and 3 validation scenes: 64x64 crops of the real chip (0-1) and of the real mask."""
    image = (_read(hls_chip)[HLS_STAND_IN] / 10000).astype(np.float32)
    mask = _read(data_dir / BURN_MASK)
    for i in range(16):
        r, c = divmod(i, 4)
        folder = "training" if i < 13 else "validation"
        stem = f"subsetted_512x512_HLS.S30.T10TGS.2018{100 + i:03d}.v1.4"
        window = (slice(None), slice(r * 53, r * 53 + EDGE), slice(c * 53, c * 53 + EDGE))
        _write(tmp_path / folder / f"{stem}_merged.tif", image[window])
        mask_window = (slice(None), slice(100 + r * 96, 100 + r * 96 + EDGE), slice(100 + c * 96, 100 + c * 96 + EDGE))
        _write(tmp_path / folder / f"{stem}.mask.tif", mask[mask_window], nodata=-1)
    return tmp_path


def test_sklearn_split_is_reproduced_exactly() -> None:
    """Printed by scikit-learn 1.9.1: train_test_split(np.arange(13), test_size=0.1, random_state=23)."""
    train, val = sklearn_shuffle_split(13, test_size=0.1, random_state=23)
    assert val == [7, 1] and train == [2, 10, 12, 4, 5, 0, 11, 9, 8, 6, 3]


def test_sklearn_split_matches_scikit_learn_where_installed() -> None:
    model_selection = pytest.importorskip("sklearn.model_selection", reason="scikit-learn is not a dependency")
    for n in (2, 10, 57, 540):
        train, val = model_selection.train_test_split(np.arange(n), test_size=0.1, random_state=23)
        assert sklearn_shuffle_split(n, 0.1, 23) == (train.tolist(), val.tolist())


def test_burn_scars_load_with_pangaea_split_and_dataset_statistics(burn_root: Path) -> None:
    bundle = load_data(DataOptions("hls_burn_scars", burn_root))
    training = sorted(p.name[: -len("_merged.tif")] for p in (burn_root / "training").glob("*_merged.tif"))
    assert [r.name for r in bundle.splits["val"].records] == [training[7], training[1]]
    assert [r.name for r in bundle.splits["train"].records] == [training[i] for i in (2, 10, 12, 4, 5, 0, 11, 9, 8, 6, 3)]
    assert len(bundle.splits["test"]) == 3 and "random_state=23" in bundle.split_note
    pixels = torch.stack([bundle.splits["train"][i][0] for i in range(len(bundle.splits["train"]))])
    mean, std = pixels.mean(dim=(0, 2, 3)), pixels.std(dim=(0, 2, 3))
    assert (mean.abs() < MEAN_LIMIT).all() and (std > 0.1).all()  # 0-1 files with 0-1 statistics
    seeded = load_data(DataOptions("hls_burn_scars", burn_root, split="seeded", split_seed=1))
    assert "seeded" in seeded.split_note and {r.name for r in seeded.splits["val"].records} != {training[7], training[1]}


def test_burn_scar_labels_map_as_released(burn_root: Path, data_dir: Path) -> None:
    bundle = load_data(DataOptions("hls_burn_scars", burn_root))
    record = bundle.splits["test"].records[0]
    raw = _read(record.label)[0]
    target = bundle.splits["test"].read_label(0)
    assert ((target == 1) == (raw == 1)).all() and ((target == 0) == (raw == 0)).all()
    assert ((target == -1) == (raw == -1)).all()


def test_data_check_flags_the_x10000_statistics_and_passes_the_fixed_catalog(burn_root: Path) -> None:
    """Today's bug: 0-1 files normalised with Prithvi's x 10000 statistics (all inputs near -0.6..-1.8)."""
    spec = DATASETS["hls_burn_scars"]
    old = replace(spec, sources={"hls": Source("hls", get_sensor("hls-s30"), ("B02", "B03", "B04", "B8A", "B11", "B12"),
                                               nodata=-9999)})
    with patch.dict(DATASETS, {"hls_burn_scars": old}):
        report = check_data(DataOptions("hls_burn_scars", burn_root))
    flagged = {e.problem.split(":")[0] for e in report.errors}
    assert flagged == {f"band {b}" for b in ("B02", "B03", "B04", "B8A", "B11", "B12")}
    assert all(b.norm_std < STD_FLOOR and abs(b.norm_mean) < MEAN_LIMIT for b in report.bands)  # std, not mean, shows it
    assert "0-1 versus x 10000" in report.errors[0].fix
    fixed = check_data(DataOptions("hls_burn_scars", burn_root))
    assert fixed.errors == [] and fixed.counts == {"train": 11, "val": 2, "test": 3}
    assert fixed.labels["values_found"] == [0, 1]


def test_data_check_command_exits_2_with_the_problem_and_writes_json(burn_root: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "check.json"
    assert cli("data", "check", "--dataset", "hls_burn_scars", "--data-root", str(burn_root), "--json", str(out)) == 0
    report = json.loads(out.read_text())
    assert report["ok"] and [b["band"] for b in report["bands"]] == ["B02", "B03", "B04", "B8A", "B11", "B12"]
    assert "ok: training can start" in capsys.readouterr().out
    (burn_root / "training" / "subsetted_512x512_HLS.S30.T10TGS.2018105.v1.4.mask.tif").unlink()
    assert cli("data", "check", "--dataset", "hls_burn_scars", "--data-root", str(burn_root), "--json", str(out)) == 2
    err = capsys.readouterr().err
    assert "error: hls_burn_scars" in err and "burn scar mask not found" in err and "  fix: " in err
    assert not json.loads(out.read_text())["ok"]
    assert cli("data", "check", "--dataset", "hls_burn_scars", "--data-root", str(burn_root), "--json",
               str(tmp_path / "nope" / "c.json")) == 2
    assert "does not exist" in capsys.readouterr().err


# --- MADOS -------------------------------------------------------------------------------------------

S2A_NM = {"B01": 443, "B02": 492, "B03": 560, "B04": 665, "B05": 704, "B06": 740, "B07": 783, "B08": 833,
          "B8A": 865, "B11": 1614, "B12": 2202}
S2B_NM = {"B01": 442, "B02": 492, "B03": 559, "B04": 665, "B05": 704, "B06": 739, "B07": 780, "B08": 833,
          "B8A": 864, "B11": 1610, "B12": 2186}
MADOS_GRID = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20, "B08": 10, "B8A": 20,
              "B11": 20, "B12": 20}
L1C_INDEX = {"B01": 0, "B02": 1, "B03": 2, "B04": 3, "B05": 4, "B06": 5, "B07": 6, "B08": 7, "B8A": 8, "B11": 11,
             "B12": 12}


@pytest.fixture
def mados_root(s2_chip: Path, water_label: Path, tmp_path: Path) -> Path:
    """Scene_1 taken by Sentinel-2A and Scene_2 by Sentinel-2B, two 120x120 crops each."""
    s2 = _read(s2_chip).astype(np.float32) / 10000
    label = _read(water_label)[0]
    for scene, names in ((1, S2A_NM), (2, S2B_NM)):
        for crop in (0, 1):
            top, left = 272 + 120 * crop, 272 + 120 * (scene - 1)
            for band, nm in names.items():
                step = MADOS_GRID[band] // 10
                pixels = s2[L1C_INDEX[band], top:top + 120:step, left:left + 120:step][None]
                _write(tmp_path / f"Scene_{scene}" / str(MADOS_GRID[band]) / f"Scene_{scene}_L2R_rhorc_{nm}_{crop}.tif",
                       pixels)
            classes = np.where(label[top:top + 120, left:left + 120] == 1, 7, 0).astype(np.uint8)  # 7 Marine Water
            _write(tmp_path / f"Scene_{scene}" / "10" / f"Scene_{scene}_L2R_cl_{crop}.tif", classes[None])
    for split, crops in (("train", "Scene_1_0\nScene_2_0"), ("val", "Scene_1_1"), ("test", "Scene_2_1")):
        (tmp_path / "splits").mkdir(exist_ok=True)
        (tmp_path / "splits" / f"{split}_X.txt").write_text(crops + "\n")
    return tmp_path


def test_mados_reads_s2a_and_s2b_scenes_with_the_authors_statistics(mados_root: Path, s2_chip: Path) -> None:
    bundle = load_data(DataOptions("mados", mados_root))
    assert bundle.sensor.band_names == list(S2A_NM)
    assert bundle.sensor.mean[0] == pytest.approx(0.0582676) and bundle.sensor.std[-1] == pytest.approx(0.03019115)
    assert [r.name for r in bundle.splits["train"].records] == ["Scene_1_0", "Scene_2_0"]
    raw = _read(s2_chip).astype(np.float32) / 10000
    for index, left in ((0, 272), (1, 392)):  # Scene_1 (S2A names), Scene_2 (S2B names)
        pixels, target = bundle.splits["train"][index]
        green = bundle.sensor.band("B03")
        expected = (raw[2, 272:392, left:left + 120] - green.mean) / green.std
        np.testing.assert_allclose(pixels[2].numpy(), expected, rtol=1e-5, atol=1e-5)
        assert (pixels[0].numpy()[:6, :6] == pixels[0].numpy()[0, 0]).all()  # 60 m band upsampled by nearest
        assert set(np.unique(target.numpy())) == {-1, 6}  # 7 Marine Water -> class 6; 0 unlabelled -> ignore
        water = target.numpy() == 6
        assert (np.abs(pixels.numpy()[:, water].mean(axis=1)) < MEAN_LIMIT).all()


def test_mados_refuses_a_file_of_no_sentinel2_band(mados_root: Path) -> None:
    (mados_root / "Scene_1" / "60" / "Scene_1_L2R_rhorc_443_0.tif").rename(
        mados_root / "Scene_1" / "60" / "Scene_1_L2R_rhorc_1375_0.tif")
    with pytest.raises(InputError, match="1375 nm matches no Sentinel-2 band"):
        load_data(DataOptions("mados", mados_root))


# --- AI4SmallFarms -----------------------------------------------------------------------------------

@pytest.fixture
def farms_root(data_dir: Path, s2_chip: Path, tmp_path: Path) -> Path:
    s2 = _read(s2_chip)[[1, 2, 3, 7]].astype(np.uint16)
    fields = _read(data_dir / BURN_MASK).clip(0, 1).astype(np.uint8)
    for i, split in enumerate(("train", "train", "validate", "test")):
        base = tmp_path / "sentinel-2-asia" / split
        window = (slice(None), slice(128 * i, 128 * i + EDGE), slice(0, EDGE))
        _write(base / "images" / f"tile_{i}.tif", s2[window])
        _write(base / "masks" / f"tile_{i}.tif", fields[(slice(None), slice(200, 200 + EDGE), slice(64 * i, 64 * i + EDGE))],
               nodata=0)
    return tmp_path


def test_ai4smallfarms_reads_the_release_validate_folder_and_keeps_background(farms_root: Path) -> None:
    bundle = load_data(DataOptions("ai4smallfarms", farms_root))
    assert {s: len(d) for s, d in bundle.splits.items()} == {"train": 2, "val": 1, "test": 1}
    raw = _read(bundle.splits["val"].records[0].label)[0]
    target = bundle.splits["val"].read_label(0)
    assert (raw == 0).any() and ((target == 0) == (raw == 0)).all()  # declared no-data 0 stays background
    assert ((target == 1) == (raw != 0)).all() and not (target == -1).any()
    assert check_data(DataOptions("ai4smallfarms", farms_root)).errors == []  # x 10000 files, x 10000 statistics
    (farms_root / "sentinel-2-asia" / "validate").rename(farms_root / "sentinel-2-asia" / "val")  # PANGAEA's rename
    assert len(load_data(DataOptions("ai4smallfarms", farms_root)).splits["val"]) == 1
    (farms_root / "sentinel-2-asia" / "val").rename(farms_root / "sentinel-2-asia" / "valid")
    with pytest.raises(InputError, match="validate"):
        load_data(DataOptions("ai4smallfarms", farms_root))


# --- BioMassters -------------------------------------------------------------------------------------

METADATA_COLUMNS = ["filename", "chip_id", "satellite", "split", "month", "size", "cksum", "s3path_us",
                    "s3path_eu", "s3path_as", "corresponding_agbm"]  # torchgeo tests/data/biomassters/data.py
TRAIN_CHIPS = ["0003d2eb", "000aa810", "0013f7d4", "001b0634", "0028bb24", "0035e90b"]
TEST_CHIPS = ["0045a2d4", "005a79ac"]
NO_S2 = "0013f7d4"  # this chip has no Sentinel-2 acquisition in month 06


@pytest.fixture
def biomassters_official(s1_chip: Path, s2_chip: Path, tmp_path: Path) -> Path:
    s1 = np.nan_to_num(_read(s1_chip), nan=-9999.0)
    s2 = _read(s2_chip).astype(np.uint16)
    l2a = [1, 2, 3, 4, 5, 6, 7, 8, 11, 12]
    rows = []
    for i, chip in enumerate(TRAIN_CHIPS + TEST_CHIPS):
        split = "train" if chip in TRAIN_CHIPS else "test"
        window = (slice(None), slice(64 * i, 64 * i + EDGE), slice(0, EDGE))
        descending = np.full_like(s1, -9999.0)
        descending[:, :8] = s1[:, :8]  # the descending orbit covers a thin strip only
        files = {"S1": np.concatenate([s1, descending])[window].astype(np.float32)}
        if chip != NO_S2:
            files["S2"] = np.concatenate([s2[l2a], np.zeros_like(s2[:1])])[window]
        for satellite, pixels in files.items():
            name = f"{chip}_{satellite}_06.tif"
            _write(tmp_path / f"{split}_features" / name, pixels)
            rows.append([name, chip, satellite, split, "March", "0", "0", "s3", "s3", "s3", f"{chip}_agbm.tif"])
        _write(tmp_path / f"{split}_agbm" / f"{chip}_agbm.tif", (s2[7:8] / 100)[window].astype(np.float32))
    with open(tmp_path / "features_metadata.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([METADATA_COLUMNS, *rows])
    return tmp_path


def test_biomassters_builds_splits_from_the_metadata_and_skips_missing_months(biomassters_official: Path) -> None:
    bundle = load_data(DataOptions("biomassters", biomassters_official, modalities=["s1", "s2"], split_seed=4))
    names = {s: [r.name for r in d.records] for s, d in bundle.splits.items()}
    assert names["test"] == TEST_CHIPS and NO_S2 not in names["train"] + names["val"]
    assert len(names["val"]) == 1 and sorted(names["train"] + names["val"]) == sorted(set(TRAIN_CHIPS) - {NO_S2})
    again = load_data(DataOptions("biomassters", biomassters_official, modalities=["s1", "s2"], split_seed=4))
    assert [r.name for r in again.splits["val"].records] == names["val"]  # seeded
    assert any(NO_S2 in note and "month 06" in note for note in bundle.notes)
    s1_only = load_data(DataOptions("biomassters", biomassters_official, modalities=["s1"]))
    assert sum(len(d) for d in s1_only.splits.values()) == len(TRAIN_CHIPS + TEST_CHIPS)  # S1 has every month


def test_biomassters_s1_defaults_to_the_ascending_pair(biomassters_official: Path) -> None:
    bundle = load_data(DataOptions("biomassters", biomassters_official, modalities=["s1", "s2"]))
    assert bundle.sensor.band_names[:2] == ["VV_asc", "VH_asc"] and "VV_desc" not in bundle.sensor.band_names
    assert "CLP" not in bundle.sensor.band_names and len(bundle.sensor.bands) == 12
    pixels, target = bundle.splits["train"][0]
    assert torch.isfinite(target).float().mean() > 0.9  # the empty descending orbit no longer hides targets
    report = check_data(DataOptions("biomassters", biomassters_official, modalities=["s1"],
                                    bands=["VV_asc", "VH_asc", "VV_desc", "VH_desc"]))
    lost = [e for e in report.errors if "labelled pixels would be dropped" in e.problem]
    assert lost and "VV_desc" in lost[0].fix
    assert check_data(DataOptions("biomassters", biomassters_official, modalities=["s1"])).errors == []


def test_biomassters_listed_file_missing_on_disk_is_an_incomplete_download(biomassters_official: Path) -> None:
    (biomassters_official / "train_features" / f"{TRAIN_CHIPS[0]}_S2_06.tif").unlink()
    with pytest.raises(InputError, match="listed in features_metadata.csv are missing"):
        load_data(DataOptions("biomassters", biomassters_official))
    (biomassters_official / "features_metadata.csv").unlink()
    with pytest.raises(InputError, match="features_metadata.csv"):
        load_data(DataOptions("biomassters", biomassters_official))


# --- Sen1Floods11 ------------------------------------------------------------------------------------

def test_sen1floods11_sample_has_no_real_zero_that_its_nodata_would_hide(s2_chip: Path) -> None:
    """The S2 files declare no-data 0 for every band; B10 (cirrus) is the band where a real 0 could occur."""
    with rasterio.open(s2_chip) as src:
        assert set(src.nodatavals) == {0.0}
        cirrus = src.read(11)
    assert cirrus.min() > 0


def test_unknown_split_scheme_is_refused(burn_root: Path, mados_root: Path) -> None:
    with pytest.raises(TrtbenchError, match="has no 'seeded' split"):
        load_data(DataOptions("mados", mados_root, split="seeded"))
    with pytest.raises(TrtbenchError, match="unknown split scheme"):
        load_data(DataOptions("hls_burn_scars", burn_root, split="random"))
