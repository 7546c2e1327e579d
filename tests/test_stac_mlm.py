"""STAC MLM items: every artifact kind describes itself as a STAC Item that validates against the stored MLM
v1.5.2 and STAC Item v1.0.0 schemas (offline), says what the artifact records, and stands for the artifact
in ``predict``/``eval``."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from engine_helpers import fabricate_engine
from onnx import load, numpy_helper
from predict_support import conv_artifact, crop_scene
from rasterio.windows import Window
from serve_support import band_agnostic_onnx

from trtbench.artifact import read_artifact_metadata
from trtbench.engine_meta import read_sidecar
from trtbench.fileio import file_sha256
from trtbench.sensors import get_sensor
from trtbench.stac.mlm import SHA256_MULTIHASH, mlm_item
from trtbench.stac.schema import MLM_SCHEMA

pytest.importorskip("jsonschema", reason="validating STAC items needs jsonschema (the `stac` extra)")
from trtbench.stac.schema import validation_errors  # noqa: E402

S2 = get_sensor("sentinel-2-l1c")
KINDS = ("fixed", "band-agnostic", "fp16", "int8", "engine")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory, s2_chip: Path) -> dict[str, Path]:
    """One artifact of each kind: a fixed-band segmentation ONNX (13 Sentinel-2 L1C bands), its fp16 and int8
    (calibrated on the real Sentinel-2 chip) conversions, an engine with its sidecar (the plan bytes are a
    stand-in: no TensorRT here), and a graph with a band-agnostic export's signature and metadata."""
    from trtbench.export.precision import convert_precision

    folder = tmp_path_factory.mktemp("mlm")
    fixed = conv_artifact(folder / "seg.onnx", S2, num_classes=3)
    fp16 = convert_precision(fixed, folder / "seg_fp16.onnx", "fp16")
    int8 = convert_precision(fixed, folder / "seg_int8.onnx", "int8", calib_data=[s2_chip], calib_samples=2)
    engine_dir = folder / "engine"
    engine_dir.mkdir()
    engine = fabricate_engine(engine_dir, fp16)
    agnostic = band_agnostic_onnx(folder / "any.onnx")
    return {"fixed": fixed, "band-agnostic": agnostic, "fp16": fp16, "int8": int8, "engine": engine}


@pytest.mark.parametrize("kind", KINDS)
def test_every_artifact_kind_gives_a_valid_mlm_item(artifacts, kind):
    item = mlm_item(artifacts[kind])
    assert validation_errors(item) == []
    assert MLM_SCHEMA in item["stac_extensions"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_item_says_what_the_artifact_records(artifacts, kind):
    artifact = artifacts[kind]
    meta = read_artifact_metadata(artifact)
    props = mlm_item(artifact)["properties"]
    pixels = props["mlm:input"][0]
    assert pixels["name"] == meta.inputs[0] and pixels["bands"] == meta.bands
    assert pixels["input"]["dim_order"] == ["batch", "bands", "height", "width"]
    channels = pixels["input"]["shape"][1]
    assert channels == (-1 if meta.band_mode == "dynamic" else meta.num_bands)
    assert [(s["mean"], s["stddev"]) for s in pixels["value_scaling"]] == list(zip(meta.mean, meta.std))
    eo = {b["name"]: b for b in props["eo:bands"]}
    assert [eo[b]["center_wavelength"] for b in meta.bands] == meta.wavelengths
    assert [o["name"] for o in props["mlm:output"]] == meta.outputs
    assert props["mlm:memory_size"] == artifact.stat().st_size


def test_the_model_asset_carries_the_artifacts_checksum(artifacts):
    for kind in KINDS:
        asset = mlm_item(artifacts[kind])["assets"]["model"]
        assert asset["file:checksum"] == SHA256_MULTIHASH + file_sha256(artifacts[kind]), kind
        assert "mlm:model" in asset["roles"] and asset["href"] == artifacts[kind].name


def test_parameters_are_the_weights_the_graph_stores(artifacts):
    graph = load(artifacts["fixed"]).graph
    expected = sum(numpy_helper.to_array(t).size for t in graph.initializer)
    assert mlm_item(artifacts["fixed"])["properties"]["mlm:total_parameters"] == expected == (
        13 * 16 * 9 + 16 + 16 * 16 * 9 + 16 + 16 * 3 * 9 + 3)   # three 3x3 convolutions 13 -> 16 -> 16 -> 3


def test_segmentation_output_lists_its_classes(artifacts):
    output = mlm_item(artifacts["fixed"])["properties"]["mlm:output"][0]
    assert output["tasks"] == ["semantic-segmentation", "segmentation"]
    assert output["result"]["dim_order"] == ["batch", "class", "height", "width"]
    assert output["result"]["shape"][1] == 3
    assert [c["value"] for c in output["classification:classes"]] == [0, 1, 2]


def test_band_agnostic_inputs_include_wavelengths_and_gsd(artifacts):
    inputs = {i["name"]: i for i in mlm_item(artifacts["band-agnostic"])["properties"]["mlm:input"]}
    assert set(inputs) == {"pixels", "wavelengths", "gsd"}
    assert "band-agnostic" in inputs["pixels"]["description"]
    assert inputs["wavelengths"]["bands"] == [] and inputs["wavelengths"]["input"]["shape"] == [-1]


def test_engine_item_keeps_the_sidecar_facts(artifacts):
    engine = artifacts["engine"]
    sidecar = read_sidecar(engine)
    item = mlm_item(engine)
    props = item["properties"]
    assert props["mlm:framework"] == "TensorRT" and props["mlm:framework_version"] == "10.15.1+29"
    assert props["mlm:accelerator"] == "cuda" and props["mlm:accelerator_constrained"] is True
    assert sidecar.runtime.gpu_name in props["mlm:accelerator_summary"]
    assert props["mlm:batch_size_suggestion"] == sidecar.profiles[0]["pixels"]["opt"][0]
    span = sidecar.profiles[0]["pixels"]
    assert props["mlm:input"][0]["input"]["shape"] == [lo if lo == hi else -1 for lo, hi in zip(span["min"], span["max"])]
    assert item["assets"]["sidecar"]["href"] == engine.name + ".json"
    # the source ONNX's parameters (the plan itself cannot be read without TensorRT)
    assert props["mlm:total_parameters"] == mlm_item(artifacts["fp16"])["properties"]["mlm:total_parameters"]


@pytest.mark.parametrize("mutation", [
    lambda item: item["properties"].pop("mlm:input"),
    lambda item: item["assets"]["model"].pop("mlm:artifact_type"),
    lambda item: item["properties"]["mlm:input"][0]["input"]["dim_order"].__setitem__(1, "channel"),
    lambda item: item["properties"].__setitem__("mlm:framework_version", "10.1"),
    lambda item: item["properties"].pop("datetime"),
    lambda item: item.__setitem__("stac_extensions", item["stac_extensions"][1:]),
])
def test_the_schemas_reject_a_broken_item(artifacts, mutation):
    item = copy.deepcopy(mlm_item(artifacts["fixed"]))
    mutation(item)
    assert validation_errors(item)


def test_stac_command_writes_the_item_beside_the_artifact(artifacts, capsys):
    result = run_cli(capsys, "stac", artifacts["int8"])
    assert result.code == 0, result.err
    written = artifacts["int8"].with_name("seg_int8.onnx.stac.json")
    assert json.loads(written.read_text()) == mlm_item(artifacts["int8"])
    printed = run_cli(capsys, "stac", artifacts["int8"], "-o", "-")
    assert json.loads(printed.out)["assets"]["model"]["href"] == "seg_int8.onnx"


def test_stac_command_refuses_an_engine_its_sidecar_does_not_describe(artifacts, tmp_path, capsys):
    engine = fabricate_engine(tmp_path, artifacts["fp16"])
    engine.write_bytes(engine.read_bytes()[::-1])   # same size, other bytes
    result = run_cli(capsys, "stac", engine)
    assert result.code == 2 and "sha256 mismatch" in result.err
    assert not engine.with_name(engine.name + ".stac.json").exists()


def test_stac_command_refuses_a_bad_output_before_work(artifacts, tmp_path, capsys):
    result = run_cli(capsys, "stac", artifacts["fixed"], "-o", tmp_path / "item.txt")
    assert result.code == 2 and "error: -o" in result.err and "fix:" in result.err
    assert not list(tmp_path.iterdir())


def test_export_stac_writes_the_item_of_the_exported_artifact(artifacts, tmp_path, capsys):
    out = tmp_path / "seg16.onnx"
    result = run_cli(capsys, "export", artifacts["fixed"], "--precision", "fp16", "-o", out, "--stac")
    assert result.code == 0, result.err
    item = json.loads((tmp_path / "seg16.onnx.stac.json").read_text())
    assert validation_errors(item) == []
    assert item["assets"]["model"]["file:checksum"] == SHA256_MULTIHASH + file_sha256(out)


def _item_beside(artifact: Path, folder: Path) -> Path:
    """An item in ``folder`` pointing at ``artifact`` in another folder by a relative href (as STAC allows)."""
    item = mlm_item(artifact)
    item["assets"]["model"]["href"] = os.path.relpath(artifact, folder)
    path = folder / "model.json"
    path.write_text(json.dumps(item))
    return path


def test_predict_takes_an_mlm_item_in_place_of_its_artifact(tmp_path, landsat_scene, capsys):
    (tmp_path / "art").mkdir(), (tmp_path / "items").mkdir()
    artifact = conv_artifact(tmp_path / "art" / "l8.onnx", get_sensor("landsat-c2l1").select(["B2", "B3", "B4"]),
                             nodata=0.0)
    item = _item_beside(artifact, tmp_path / "items")
    scene = crop_scene(landsat_scene, tmp_path / "scene.tif", Window(300, 300, 96, 80))
    by_item = run_cli(capsys, "predict", item, scene, "-o", tmp_path / "a", "--quiet", "--tile", "64")
    by_file = run_cli(capsys, "predict", artifact, scene, "-o", tmp_path / "b", "--quiet", "--tile", "64")
    assert by_item.code == by_file.code == 0, by_item.err
    assert (tmp_path / "a" / "scene.class.tif").read_bytes() == (tmp_path / "b" / "scene.class.tif").read_bytes()


def test_an_item_whose_artifact_changed_is_refused(artifacts, tmp_path, s2_chip, capsys):
    copy_path = tmp_path / "seg.onnx"
    copy_path.write_bytes(artifacts["fixed"].read_bytes())
    run_cli(capsys, "stac", copy_path)
    item = tmp_path / "seg.onnx.stac.json"
    copy_path.write_bytes(artifacts["fp16"].read_bytes())   # replaced after the item was written
    for args in (("predict", item, s2_chip, "-o", tmp_path / "out"), ("eval", "--engine", item, "--data", s2_chip)):
        result = run_cli(capsys, *args)
        assert result.code == 2 and "file:checksum mismatch" in result.err and "fix:" in result.err, args
    assert not (tmp_path / "out").exists()
    copy_path.unlink()
    result = run_cli(capsys, "predict", item, s2_chip, "-o", tmp_path / "out")
    assert result.code == 2 and "does not exist" in result.err


def test_eval_takes_an_mlm_item(tiny_water_onnx, tmp_path, s2_chip, capsys):
    """Clay tiny (water head) through its item, on one 64-pixel tile of the real Sentinel-2 chip: eval runs the
    artifact the item points at against the PyTorch model rebuilt from the recorded seed."""
    (tmp_path / "items").mkdir()
    item = _item_beside(tiny_water_onnx, tmp_path / "items")
    chip = crop_scene(s2_chip, tmp_path / "chip.tif", Window(128, 128, 64, 64))
    result = run_cli(capsys, "eval", "--engine", item, "--data", chip, "--tile", "64", "--json", "-")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["artifact"] == str(tiny_water_onnx) and report["passed"]
    assert all(np.isfinite(p["max_abs"]) for p in report["parity"])
