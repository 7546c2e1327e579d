"""`trtbench export` and `trtbench eval` end to end on real chips, and the bad-input catalogue."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import rasterio
import torch
from cli_helpers import run_cli
from rasterio.transform import from_origin


def test_export_then_eval_reports_parity_and_task_metrics_on_the_real_flood_chip(
        capsys, tmp_path, tiny_water_onnx, s2_chip, water_label):
    report = tmp_path / "eval.json"
    markdown = tmp_path / "eval.md"
    result = run_cli(capsys, "eval", "--engine", tiny_water_onnx, "--data", s2_chip, "--labels", water_label,
                     "--json", report, "--markdown", markdown)
    assert result.code == 0, result.err
    assert "PARITY OK" in result.out
    data = json.loads(report.read_text())
    assert data["passed"] and data["tiles"] == 16  # 512x512 chip in 128x128 tiles (the artifact's input size)
    logits = data["parity"][0]
    assert logits["output"] == "logits" and logits["rel_max"] <= 1e-4 and logits["cosine"] > 0.9999
    assert set(data["task"]["reference"]) >= {"miou", "f1", "accuracy", "iou_class0", "iou_class1"}
    assert abs(data["task_delta"]["miou"]) <= 1e-3
    assert "## Task metrics" in markdown.read_text()


def test_cli_export_writes_metadata_for_the_selected_bands(capsys, tmp_path):
    out = tmp_path / "clay6.onnx"
    result = run_cli(capsys, "export", "clay", "--variant", "tiny", "--random-init", "--sensor", "sentinel-2-l1c",
                     "--bands", "B02,B03,B04,B8A,B11,B12", "-o", out)
    assert result.code == 0, result.err
    from trtbench.metadata import read_onnx_metadata

    meta = read_onnx_metadata(out)
    assert meta.bands == ["B02", "B03", "B04", "B8A", "B11", "B12"] and meta.seed == 0
    assert meta.wavelengths == [0.493, 0.56, 0.665, 0.865, 1.61, 2.19]


def test_eval_selects_the_models_bands_from_a_13_band_file_by_description(capsys, tiny_embedding_onnx, s2_chip):
    result = run_cli(capsys, "eval", "--engine", tiny_embedding_onnx, "--data", s2_chip, "--tile", "128")
    assert result.code == 0, result.err
    assert "features" in result.out and "cls" in result.out


def test_eval_fails_when_parity_is_worse_than_the_tolerance(capsys, tiny_embedding_onnx, s2_chip):
    result = run_cli(capsys, "eval", "--engine", tiny_embedding_onnx, "--data", s2_chip, "--tile", "256",
                     "--tolerance", "0")
    assert result.code == 1 and "PARITY FAILED" in result.out


def test_doctor_names_the_backends_and_why_tensorrt_is_missing(capsys):
    result = run_cli(capsys, "doctor", "--json")
    info = json.loads(result.out)
    assert "CPUExecutionProvider" in info["onnxruntime_providers"]
    # What this machine has, found independently of doctor: TensorRT builds only with the package and a CUDA GPU.
    has_package, has_gpu = importlib.util.find_spec("tensorrt") is not None, torch.cuda.is_available()
    assert info["tensorrt"]["available"] is (has_package and has_gpu)
    if not has_package:
        assert "tensorrt Python package is not importable" in info["tensorrt"]["reason"]
    elif not has_gpu:
        assert "no CUDA GPU" in info["tensorrt"]["reason"]


# --- bad input catalogue: clear message, exit code 2, no output file left behind ---------------------------

def write_tif(path, array, nodata=None, descriptions=None):
    with rasterio.open(path, "w", driver="GTiff", count=array.shape[0], height=array.shape[1], width=array.shape[2],
                       dtype=array.dtype, crs="EPSG:32632", transform=from_origin(500000, 4000000, 10, 10),
                       nodata=nodata) as dst:
        dst.write(array)
        if descriptions:
            dst.descriptions = descriptions
    return path


def truncated_copy(src, dst):
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 3])
    return dst


BAD_DATA = {
    "missing file": (lambda tmp, chip: tmp / "nope.tif", "file not found"),
    "not a GeoTIFF": (lambda tmp, chip: (tmp / "notes.tif").write_text("hello") and tmp / "notes.tif",
                      "not a readable GeoTIFF"),
    "corrupt GeoTIFF": (lambda tmp, chip: truncated_copy(chip, tmp / "cut.tif"), "corrupt"),
    "wrong band count": (lambda tmp, chip: write_tif(tmp / "four.tif", np.ones((4, 64, 64), np.uint16)),
                         "four.tif has 4 bands but the model expects 10"),
    "NaN pixels": (lambda tmp, chip: write_tif(tmp / "nan.tif", np.where(np.eye(64, dtype=bool), np.nan, 1.0)
                                               .astype(np.float32)[None].repeat(10, 0)), "NaN pixel values"),
}


@pytest.mark.parametrize("case", BAD_DATA)
def test_eval_bad_data_gives_a_clear_error_and_no_output(capsys, tmp_path, tiny_embedding_onnx, s2_chip, case):
    make, message = BAD_DATA[case]
    data = make(tmp_path, s2_chip)
    report = tmp_path / "report.json"
    result = run_cli(capsys, "eval", "--engine", tiny_embedding_onnx, "--data", data, "--json", report)
    assert result.code == 2
    assert message in result.err and "fix:" in result.err
    assert not report.exists()
    assert not list(tmp_path.glob(".report.json*"))


def test_eval_tile_not_a_multiple_of_the_patch_is_rejected(capsys, tmp_path, tiny_embedding_onnx, s2_chip):
    result = run_cli(capsys, "eval", "--engine", tiny_embedding_onnx, "--data", s2_chip, "--tile", "100")
    assert result.code == 2 and "not a multiple of the patch size 8" in result.err


@pytest.mark.parametrize("args, message", [
    (["--sensor", "sentinel-9"], "unknown sensor 'sentinel-9'"),
    (["--sensor", "sentinel-2-l1c", "--bands", "B02,B99"], "has no band 'B99'"),
    (["--variant", "huge"], "unknown Clay variant 'huge'"),
    ([], "pass exactly one of --checkpoint or --random-init"),
])
def test_export_bad_arguments_give_a_clear_error_and_no_file(capsys, tmp_path, args, message):
    out = tmp_path / "x.onnx"
    base = ["export", "clay", "-o", out] + (["--variant", "tiny", "--random-init"] if args and args[0] != "--variant"
                                             else ["--random-init"] if args else ["--variant", "tiny"])
    result = run_cli(capsys, *base, *args)
    assert result.code == 2 and message in result.err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_export_from_a_missing_checkpoint_names_the_path(capsys, tmp_path):
    result = run_cli(capsys, "export", "clay", "--variant", "tiny", "--checkpoint", tmp_path / "gone.ckpt",
                     "-o", tmp_path / "x.onnx")
    assert result.code == 2 and "checkpoint not found" in result.err


def test_export_from_an_official_checkpoint_and_eval_against_it(capsys, tmp_path, s2_chip):
    from clay_spec import write_official_checkpoint

    ckpt = write_official_checkpoint(tmp_path / "clay-tiny.ckpt", "tiny", seed=7)
    out = tmp_path / "clay_s2.onnx"
    assert run_cli(capsys, "export", "clay", "--variant", "tiny", "--checkpoint", ckpt, "--sensor",
                   "sentinel-2-l2a", "-o", out).code == 0
    moved = tmp_path / "moved.ckpt"
    ckpt.rename(moved)  # the recorded path is gone: --reference points at the same file elsewhere
    result = run_cli(capsys, "eval", "--engine", out, "--data", s2_chip, "--tile", "256", "--reference", moved)
    assert result.code == 0 and "PARITY OK" in result.out
    other = write_official_checkpoint(tmp_path / "other.ckpt", "tiny", seed=8)
    result = run_cli(capsys, "eval", "--engine", out, "--data", s2_chip, "--reference", other)
    assert result.code == 2 and "not the checkpoint this artifact was exported from" in result.err


def split_into_files(src, folder, size=256):
    """The real chip cut into size x size GeoTIFFs named q0.tif, q1.tif ... in ``folder``."""
    from rasterio.windows import Window

    folder.mkdir()
    with rasterio.open(src) as ds:
        profile = ds.profile | {"width": size, "height": size}
        for i, (row, col) in enumerate([(r, c) for r in (0, size) for c in (0, size)]):
            window = Window(col, row, size, size)
            with rasterio.open(folder / f"q{i}.tif", "w", **profile | {"transform": ds.window_transform(window)}) as dst:
                dst.write(ds.read(window=window))
                dst.descriptions = ds.descriptions
    return folder


def test_eval_takes_folders_of_chips_and_labels_matched_by_name(capsys, tmp_path, tiny_water_onnx, s2_chip,
                                                                  water_label):
    chips = split_into_files(s2_chip, tmp_path / "chips")
    masks = split_into_files(water_label, tmp_path / "masks")
    report = tmp_path / "r.json"
    result = run_cli(capsys, "eval", "--engine", tiny_water_onnx, "--data", chips, "--labels", masks,
                     "--json", report)
    assert result.code == 0, result.err
    whole = tmp_path / "whole.json"
    run_cli(capsys, "eval", "--engine", tiny_water_onnx, "--data", s2_chip, "--labels", water_label, "--json", whole)
    split, single = json.loads(report.read_text()), json.loads(whole.read_text())
    assert split["tiles"] == single["tiles"] == 16
    assert split["task"]["reference"]["miou"] == pytest.approx(single["task"]["reference"]["miou"], abs=1e-9)
    (masks / "q3.tif").unlink()
    result = run_cli(capsys, "eval", "--engine", tiny_water_onnx, "--data", chips, "--labels", masks)
    assert result.code == 2 and "has no q3.tif" in result.err
