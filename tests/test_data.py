"""Datasets in their published layouts, read from the real Sen1Floods11 and HLS Burn Scars files (the other
releases in miniature: test_datasets_official.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.windows import Window
from test_data_tiles import BANDS, SENSOR, write_floods_tiles

from trtbench.data import DataOptions, LabelSpec, few_shot, load_data, seeded_split
from trtbench.data.chips import augment
from trtbench.errors import InputError, TrtbenchError
from trtbench.sensors import get_sensor

CHIP = "Spain_7370579"


@pytest.fixture
def floods_root(data_dir: Path, tmp_path: Path) -> Path:
    """The Sen1Floods11 v1.1 hand-labelled layout, with the one real chip under three names (train/valid/test)."""
    base = tmp_path / "sen1floods11" / "v1.1"
    data = base / "data" / "flood_events" / "HandLabeled"
    for kind in ("S1Hand", "S2Hand", "LabelHand"):
        (data / kind).mkdir(parents=True)
        for split in ("train", "valid", "test"):
            shutil.copy(data_dir / "sen1floods11" / f"{CHIP}_{kind}.tif", data / kind / f"{split}_{kind}.tif")
    (base / "splits" / "flood_handlabeled").mkdir(parents=True)
    for split in ("train", "valid", "test"):
        (base / "splits" / "flood_handlabeled" / f"flood_{split}_data.csv").write_text(
            f"{split}_S1Hand.tif,{split}_LabelHand.tif\n")
    return tmp_path / "sen1floods11"


def test_sen1floods11_stacks_sar_and_optical_into_one_band_table(floods_root: Path, s1_chip: Path, s2_chip: Path) -> None:
    bundle = load_data(DataOptions("sen1floods11", floods_root, modalities=["s1", "s2"]))
    assert bundle.sensor.band_names == BANDS and bundle.class_names == ["land", "water"]
    s1, s2 = get_sensor("sentinel-1-rtc"), get_sensor("sentinel-2-l1c")
    assert bundle.sensor.wavelengths == s1.wavelengths + s2.wavelengths
    pixels, target = bundle.splits["train"][0]
    assert pixels.shape == (15, 512, 512) and target.shape == (512, 512)
    with rasterio.open(s1_chip) as a, rasterio.open(s2_chip) as b:
        raw = np.concatenate([a.read(), b.read()]).astype(np.float32)
    valid = ~np.isnan(raw).any(0) & (raw[2:] != 0).all(0)
    expected = (raw - np.array(bundle.sensor.mean)[:, None, None]) / np.array(bundle.sensor.std)[:, None, None]
    np.testing.assert_allclose(pixels.numpy()[:, valid], expected[:, valid], rtol=1e-5, atol=1e-5)
    assert (pixels.numpy()[:, ~valid] == 0).all()
    labelled = target.numpy() != -1
    assert not labelled[~valid].any()  # missing pixels are never trained on


def test_band_selection_spans_modalities_in_source_order(floods_root: Path) -> None:
    bundle = load_data(DataOptions("sen1floods11", floods_root, modalities=["s1", "s2"], bands=["B08", "VH", "B03"]))
    assert bundle.sensor.band_names == ["VH", "B08", "B03"]
    assert bundle.splits["test"][0][0].shape[0] == 3


def test_default_modality_is_optical_and_keeps_the_sensor_name(floods_root: Path) -> None:
    bundle = load_data(DataOptions("sen1floods11", floods_root))
    assert bundle.sensor.name == "sentinel-2-l1c" and len(bundle.sensor.bands) == 13


def test_missing_files_name_what_is_missing(floods_root: Path) -> None:
    (floods_root / "v1.1" / "data" / "flood_events" / "HandLabeled" / "S2Hand" / "test_S2Hand.tif").unlink()
    with pytest.raises(InputError, match="S2 chip not found"):
        load_data(DataOptions("sen1floods11", floods_root, modalities=["s2"]))
    with pytest.raises(InputError, match="dataset folder not found"):
        load_data(DataOptions("sen1floods11", floods_root / "nope"))
    for name in ("mados", "biomassters", "ai4smallfarms", "hls_burn_scars"):
        with pytest.raises(InputError, match="not found"):
            load_data(DataOptions(name, floods_root))


def test_unknown_dataset_modality_or_band_is_refused(floods_root: Path) -> None:
    with pytest.raises(TrtbenchError, match="unknown dataset"):
        load_data(DataOptions("eurosat", floods_root))
    with pytest.raises(TrtbenchError, match="no modality"):
        load_data(DataOptions("sen1floods11", floods_root, modalities=["sar"]))
    with pytest.raises(TrtbenchError, match="B99"):
        load_data(DataOptions("sen1floods11", floods_root, bands=["B99"]))
    with pytest.raises(TrtbenchError, match="nothing from the 's1' modality"):
        load_data(DataOptions("sen1floods11", floods_root, modalities=["s1", "s2"], bands=["B03"]))


def test_burn_scar_mask_decodes_to_classes_and_ignore(data_dir: Path) -> None:
    path = data_dir / "hls_burn_scars_mask" / "subsetted_512x512_HLS.S30.T10TGS.2018285.v1.4.mask.tif"
    with rasterio.open(path) as src:
        raw, nodata = src.read(1), src.nodata
    target = LabelSpec("segmentation", 2).decode(raw, nodata, path)
    counts = {v: int((target == v).sum()) for v in (-1, 0, 1)}
    assert counts[0] == int((raw == 0).sum()) and counts[1] == int((raw == 1).sum()) and counts[1] > 0
    assert sum(counts.values()) == raw.size


def test_unexpected_label_values_fail_with_the_file_and_values(data_dir: Path, tmp_path: Path) -> None:
    write_floods_tiles(data_dir, tmp_path, tile=128)
    mask = tmp_path / "masks" / "r000_c000.tif"
    with rasterio.open(mask, "r+") as dst:
        values = dst.read(1)
        values[:2, :2] = 7
        dst.write(values, 1)
    bundle = load_data(DataOptions("chips", tmp_path, sensor=SENSOR, num_classes=2))
    index = [r.name for r in bundle.splits["train"].records].index("r000_c000")
    with pytest.raises(InputError, match=r"r000_c000.tif holds unexpected value\(s\) \[7\]"):
        bundle.splits["train"][index]


def test_chips_use_split_lists_and_band_descriptions(data_dir: Path, tmp_path: Path) -> None:
    splits = write_floods_tiles(data_dir, tmp_path, tile=128)
    bundle = load_data(DataOptions("chips", tmp_path, sensor=SENSOR))
    assert {s: [r.name for r in d.records] for s, d in bundle.splits.items()} == splits
    assert bundle.sensor.band_names == BANDS and bundle.num_classes == 2  # classes inferred from the masks


def test_chips_without_splits_get_a_seeded_disjoint_split(data_dir: Path, tmp_path: Path) -> None:
    write_floods_tiles(data_dir, tmp_path, tile=64)
    shutil.rmtree(tmp_path / "splits")
    first = load_data(DataOptions("chips", tmp_path, sensor=SENSOR, split_seed=3))
    again = load_data(DataOptions("chips", tmp_path, sensor=SENSOR, split_seed=3))
    names = {s: {r.name for r in d.records} for s, d in first.splits.items()}
    assert names == {s: {r.name for r in d.records} for s, d in again.splits.items()}
    assert sum(map(len, names.values())) == 64 and not (names["train"] & names["test"])


def test_chips_with_wavelengths_normalise_with_training_statistics(data_dir: Path, tmp_path: Path) -> None:
    write_floods_tiles(data_dir, tmp_path, tile=128)
    waves = get_sensor("sentinel-1-rtc").wavelengths + get_sensor("sentinel-2-l1c").wavelengths
    bundle = load_data(DataOptions("chips", tmp_path, wavelengths=waves))
    assert bundle.sensor.name == "custom" and bundle.sensor.band_names == BANDS
    train = torch.stack([bundle.splits["train"][i][0] for i in range(len(bundle.splits["train"]))])
    assert train.mean(dim=(0, 2, 3)).abs().max() < 0.05  # zero mean over the training chips, per band


def test_chips_layout_errors(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="images folder not found"):
        load_data(DataOptions("chips", tmp_path, sensor=SENSOR))
    write_floods_tiles(data_dir, tmp_path, tile=128)
    (tmp_path / "masks" / "r128_c128.tif").unlink()
    with pytest.raises(InputError, match="r128_c128"):
        load_data(DataOptions("chips", tmp_path, sensor=SENSOR))


def test_seeded_split_is_reproducible_and_complete() -> None:
    names = [f"chip{i}" for i in range(20)]
    split = seeded_split(names, seed=1)
    assert split == seeded_split(names, seed=1) and split != seeded_split(names, seed=2)
    assert sorted(sum(split.values(), [])) == sorted(names) and len(split["test"]) == 3
    with pytest.raises(TrtbenchError):
        seeded_split(names[:2], seed=0)


def test_few_shot_takes_the_fraction_per_stratum() -> None:
    strata = [0] * 80 + [1] * 20
    chosen = few_shot(100, 0.1, seed=0, stratum=strata.__getitem__)
    assert len(chosen) == 10 and sum(strata[i] for i in chosen) == 2
    assert chosen == few_shot(100, 0.1, seed=0, stratum=strata.__getitem__)
    rare = few_shot(100, 0.01, seed=0, stratum=strata.__getitem__)
    assert {strata[i] for i in rare} == {0, 1}  # a rare stratum is never dropped
    with pytest.raises(TrtbenchError):
        few_shot(10, 1.5, seed=0)


def test_augmentation_moves_pixels_and_labels_together(s2_chip: Path) -> None:
    with rasterio.open(s2_chip) as src:
        band = torch.from_numpy(src.read(3, window=Window(0, 0, 64, 64)).astype(np.int64))
    torch.manual_seed(0)
    for _ in range(8):
        pixels, target = augment(band[None].float(), band)
        assert torch.equal(pixels[0].long(), target)
    assert any(not torch.equal(augment(band[None].float(), band)[1], band) for _ in range(8))



def _write(path: Path, data: np.ndarray, nodata: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[-2], width=data.shape[-1], count=data.shape[0],
                       dtype=data.dtype, nodata=nodata) as dst:
        dst.write(data)


@pytest.fixture
def biomassters_root(s1_chip: Path, s2_chip: Path, tmp_path: Path) -> Path:
    """BioMassters with PANGAEA-bench's chip lists ``{train,val,test}_Data_list.csv`` (column ``chip_id``;
    val reads the train folders) from the real chips: S1 as ascending + descending VV/VH, 10 S2 bands plus
    a cloud layer, and the NIR reflectance as a stand-in per-pixel regression target. The release's own
    ``features_metadata.csv`` layout is in test_datasets_official.py."""
    with rasterio.open(s1_chip) as a, rasterio.open(s2_chip) as b:
        s1 = np.nan_to_num(a.read(), nan=-9999.0)
        s2 = b.read().astype(np.float32)
    l2a = [1, 2, 3, 4, 5, 6, 7, 8, 11, 12]
    for i, chip in enumerate(["aa", "bb", "cc"]):
        window = (slice(None), slice(128 * i, 128 * i + 128), slice(0, 128))
        folder = "test" if chip == "cc" else "train"
        _write(tmp_path / f"{folder}_features" / f"{chip}_S1_06.tif", np.concatenate([s1, s1])[window])
        _write(tmp_path / f"{folder}_features" / f"{chip}_S2_06.tif",
               np.concatenate([s2[l2a], np.zeros_like(s2[:1])])[window])
        _write(tmp_path / f"{folder}_agbm" / f"{chip}_agbm.tif", (s2[7:8] / 100)[window].astype(np.float32))
    for split, chip in (("train", "aa"), ("val", "bb"), ("test", "cc")):
        (tmp_path / f"{split}_Data_list.csv").write_text(f"chip_id\n{chip}\n")
    return tmp_path


def test_biomassters_chip_lists_stack_the_ascending_pair_and_drop_the_cloud_layer(biomassters_root: Path) -> None:
    bundle = load_data(DataOptions("biomassters", biomassters_root, modalities=["s1", "s2"]))
    assert bundle.task == "regression" and bundle.num_classes is None
    assert bundle.sensor.band_names[:2] == ["VV_asc", "VH_asc"] and "VV_desc" not in bundle.sensor.band_names
    assert "CLP" not in bundle.sensor.band_names and len(bundle.sensor.bands) == 12
    assert [r.name for r in bundle.splits["val"].records] == ["bb"]
    pixels, target = bundle.splits["val"][0]
    assert pixels.shape == (12, 128, 128) and target.dtype == torch.float32
    assert torch.isfinite(target).all() and target.max() > 0
    both = load_data(DataOptions("biomassters", biomassters_root, modalities=["s1"],
                                 bands=["VV_asc", "VH_asc", "VV_desc", "VH_desc"]))
    assert both.sensor.band_names == ["VV_asc", "VH_asc", "VV_desc", "VH_desc"]


def test_stacked_registered_sources_keep_their_stack_name_so_models_know_each_modality_s_bands():
    from trtbench.data.sources import sensor_from_spec
    from trtbench.models import create_model

    table = sensor_from_spec("sentinel-1-rtc+sentinel-2-l1c")
    assert table.name == "sentinel-1-rtc+sentinel-2-l1c" and table.band_names[:3] == ["VV", "VH", "B01"]
    meta = create_model("clay_tiny", sensor=table, bands=["VV", "VH", "B04"]).metadata
    assert meta.modalities == {"sentinel-1-rtc": ["VV", "VH"], "sentinel-2-l1c": ["B04"]}
    assert meta.sensor_table().band_names == ["VV", "VH", "B04"]       # rebuilt from the registry by name
