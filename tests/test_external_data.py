"""ONNX models over 2 GB: the weights in an external data file beside the graph (``model.onnx`` +
``model.onnx.data``), through every command.

A real > 2 GB model takes minutes and gigabytes to export, so these tests force external data on a tiny model
(the export's save step with ``external=True``, and ``export --external-data``): every code path that reads,
checks, converts, hashes or copies the pair is the same one a 2.4 GB Prithvi-600M takes. The one real > 2 GB
export is the ``slow`` test at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from cli_helpers import run_cli
from engine_helpers import gpu
from onnx.external_data_helper import ExternalDataInfo, uses_external_data
from predict_support import crop_scene
from rasterio.windows import Window

from trtbench.artifact import artifact_bytes, artifact_sha256
from trtbench.cli_options import EXIT_USER_MISTAKE
from trtbench.onnx_header import read_external_data

S2_BANDS = "B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12"   # Sen1Floods11's S2 chip, in file order
WINDOW = Window(128, 128, 128, 128)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _outputs(model_path: Path, pixels: np.ndarray) -> list[np.ndarray]:
    """ONNX Runtime's outputs for the model at ``model_path`` (read by path, as every runner does)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return session.run(None, {"pixels": pixels})


@pytest.fixture(scope="module")
def exported(tiny_water_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's clay_tiny water model (13 S2 L1C bands, 2 classes) written by the export's save step as a
    pair, ``export/water.onnx`` + ``export/water.onnx.data`` (a fresh export would cost seconds for nothing:
    ``export_onnx`` hands its ModelProto to this same function)."""
    from trtbench.external_data import save_onnx

    folder = tmp_path_factory.mktemp("export")
    return save_onnx(onnx.load(str(tiny_water_onnx)), folder / "water.onnx", external=True)


@pytest.fixture(scope="module")
def pair(exported: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The exported pair moved, both files together, to another folder (the model file renamed too): every
    command below runs on this one, so each shows that the pair is self-contained."""
    folder = tmp_path_factory.mktemp("moved")
    shutil.copyfile(exported.with_name("water.onnx.data"), folder / "water.onnx.data")
    shutil.copyfile(exported, folder / "floods.onnx")
    return folder / "floods.onnx"


@pytest.fixture(scope="module")
def one_file(tiny_water_onnx: Path) -> Path:
    """The same model as one ordinary file, as exported."""
    return tiny_water_onnx


@pytest.fixture(scope="module")
def chip(s2_chip: Path, water_label: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A real 128 x 128 crop of the Sen1Floods11 S2 chip and its hand label."""
    folder = tmp_path_factory.mktemp("chip")
    return (crop_scene(s2_chip, folder / "s2.tif", WINDOW), crop_scene(water_label, folder / "label.tif", WINDOW))


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((1, 13, 64, 64)).astype(np.float32)


def test_the_export_save_step_writes_the_graph_and_one_data_file_named_after_it_by_relative_location(exported):
    assert _listing(exported.parent) == ["water.onnx", "water.onnx.data"]   # no temporary file left
    graph = onnx.load(str(exported), load_external_data=False).graph
    external = [t for t in graph.initializer if uses_external_data(t)]
    assert len(external) > len(graph.initializer) // 3
    assert {ExternalDataInfo(t).location for t in external} == {"water.onnx.data"}
    # The header walk finds what onnx finds, with the same offsets and lengths, without loading either file.
    assert [(t.name, t.location, t.offset, t.length) for t in read_external_data(exported)] == [
        (t.name, ExternalDataInfo(t).location, ExternalDataInfo(t).offset, ExternalDataInfo(t).length)
        for t in external]
    assert exported.with_name("water.onnx.data").stat().st_size > 10 * exported.stat().st_size


def test_export_external_data_flag_writes_a_pair_even_for_a_small_model(capsys, one_file, tmp_path):
    result = run_cli(capsys, "export", one_file, "--precision", "fp16", "--external-data", "-o", tmp_path / "w.onnx")
    assert result.code == 0, result.err
    assert _listing(tmp_path) == ["w.onnx", "w.onnx.data"]
    assert {t.location for t in read_external_data(tmp_path / "w.onnx")} == {"w.onnx.data"}
    assert "wrote" in result.out and "w.onnx.data" in result.out


def test_a_model_over_the_protobuf_limit_is_written_as_a_pair_unasked(one_file, tmp_path, monkeypatch):
    from trtbench import external_data
    from trtbench.external_data import GRAPH_ALLOWANCE, save_onnx

    proto = onnx.load(str(one_file))
    save_onnx(proto, tmp_path / "small.onnx")
    assert _listing(tmp_path) == ["small.onnx"]
    monkeypatch.setattr(external_data, "PROTOBUF_LIMIT", GRAPH_ALLOWANCE + 2**20)   # "2 GB" = 1 MiB of tensors
    save_onnx(onnx.load(str(one_file)), tmp_path / "big.onnx")
    assert _listing(tmp_path) == ["big.onnx", "big.onnx.data", "small.onnx"]
    assert read_external_data(tmp_path / "big.onnx")
    assert not read_external_data(tmp_path / "small.onnx")


def test_moved_pair_evaluates_with_parity_and_task_metrics(capsys, pair, chip, tmp_path):
    image, label = chip
    result = run_cli(capsys, "eval", "--engine", pair, "--data", image, "--labels", label, "--data-bands", S2_BANDS,
                     "--tile", "64", "--json", tmp_path / "eval.json")
    assert result.code == 0, result.err
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["passed"] and report["parity"][0]["rel_max"] < 1e-4


def test_moved_pair_benches_on_onnxruntime_and_openvino(capsys, pair, tmp_path):
    result = run_cli(capsys, "bench", pair, "--backends", "onnxruntime,openvino", "--batch", "1", "--size", "64",
                     "--warmup", "0", "--min-iters", "1", "--min-time", "0", "--json", tmp_path / "bench.json")
    assert result.code == 0, result.err
    rows = json.loads((tmp_path / "bench.json").read_text())["backends"]
    assert {r["backend"] for r in rows if r["status"] == "ok" and r["valid"]} == {"onnxruntime", "openvino"}


def test_moved_pair_predicts_a_real_scene(capsys, pair, chip, tmp_path):
    import rasterio

    result = run_cli(capsys, "predict", pair, chip[0], "-o", tmp_path / "out", "--tile", "64",
                     "--data-bands", S2_BANDS, "--quiet")
    assert result.code == 0, result.err
    with rasterio.open(tmp_path / "out" / "s2.class.tif") as ds:
        assert (ds.width, ds.height) == (128, 128)
        assert set(np.unique(ds.read(1))) <= {0, 1}


def test_check_audits_the_pair(capsys, pair, tmp_path):
    result = run_cli(capsys, "check", pair, "--json", tmp_path / "check.json")
    assert result.code == 0, result.err
    assert json.loads((tmp_path / "check.json").read_text())["passed"]


def test_fp16_of_the_pair_is_a_pair_computing_what_the_one_file_conversion_computes(capsys, pair, one_file,
                                                                                    tmp_path, pixels):
    from trtbench.export.precision import convert_fp16

    result = run_cli(capsys, "export", pair, "--precision", "fp16", "-o", tmp_path / "fp16.onnx")
    assert result.code == 0, result.err
    assert _listing(tmp_path) == ["fp16.onnx", "fp16.onnx.data"]
    (tmp_path / "one").mkdir()
    reference = convert_fp16(one_file, tmp_path / "one" / "fp16.onnx")
    assert _listing(reference.parent) == ["fp16.onnx"]
    for got, want in zip(_outputs(tmp_path / "fp16.onnx", pixels), _outputs(reference, pixels), strict=True):
        np.testing.assert_array_equal(got, want)


def test_int8_of_the_pair_is_a_pair_computing_what_the_one_file_conversion_computes(capsys, pair, one_file, chip,
                                                                                    tmp_path, pixels):
    from trtbench.export.precision import quantize_int8

    result = run_cli(capsys, "export", pair, "--precision", "int8", "--calib-data", chip[0], "--calib-samples", "2",
                     "--data-bands", S2_BANDS, "-o", tmp_path / "int8.onnx")
    assert result.code == 0, result.err
    assert _listing(tmp_path) == ["int8.onnx", "int8.onnx.data"]
    (tmp_path / "one").mkdir()
    reference = quantize_int8(one_file, tmp_path / "one" / "int8.onnx", [chip[0]], samples=2,
                              data_bands=S2_BANDS.split(","))
    for got, want in zip(_outputs(tmp_path / "int8.onnx", pixels), _outputs(reference, pixels), strict=True):
        np.testing.assert_array_equal(got, want)
    assert _listing(pair.parent) == ["floods.onnx", "water.onnx.data"]   # calibration wrote nothing beside it


def test_stac_item_lists_the_data_file_as_an_asset_with_its_checksum(capsys, pair, chip, tmp_path):
    pytest.importorskip("jsonschema", reason="validating STAC items needs jsonschema (the `stac` extra)")
    from trtbench.stac.schema import validation_errors

    folder = tmp_path / "shipped"
    shutil.copytree(pair.parent, folder)
    model = folder / pair.name
    assert run_cli(capsys, "stac", model).code == 0
    item = json.loads(model.with_name(f"{model.name}.stac.json").read_text())
    assert validation_errors(item) == []
    assets = item["assets"]
    assert assets["model"]["href"] == "floods.onnx" and assets["weights"]["href"] == "water.onnx.data"
    for asset in assets.values():
        assert asset["file:checksum"] == "1220" + _sha256(folder / asset["href"])
        assert asset["file:size"] == (folder / asset["href"]).stat().st_size
    assert item["properties"]["mlm:memory_size"] == sum(p.stat().st_size for p in (model, folder / "water.onnx.data"))
    # The item stands for the pair: a changed weights file (same size) is refused before any work.
    data = bytearray((folder / "water.onnx.data").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "water.onnx.data").write_bytes(bytes(data))
    result = run_cli(capsys, "predict", model.with_name(f"{model.name}.stac.json"), chip[0], "-o", tmp_path / "out")
    assert result.code == EXIT_USER_MISTAKE
    assert "water.onnx.data" in result.err and "checksum" in result.err
    assert not (tmp_path / "out").exists()


def test_triton_repository_holds_both_files_and_serves_the_same_outputs(capsys, pair, tmp_path, pixels):
    result = run_cli(capsys, "triton", pair, "-o", tmp_path / "repo", "--name", "floods")
    assert result.code == 0, result.err
    version = tmp_path / "repo" / "floods" / "1"
    assert _listing(version) == ["model.onnx", "water.onnx.data"]
    for got, want in zip(_outputs(version / "model.onnx", pixels), _outputs(pair, pixels), strict=True):
        np.testing.assert_array_equal(got, want)


def test_identity_of_the_pair_covers_its_data_file(pair, one_file, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(pair.parent, folder)
    model, data = folder / pair.name, folder / "water.onnx.data"
    # sha256sum model data | cut -d' ' -f1 | sha256sum
    expected = hashlib.sha256(f"{_sha256(model)}\n{_sha256(data)}\n".encode()).hexdigest()
    assert artifact_sha256(model) == expected
    assert artifact_bytes(model) == model.stat().st_size + data.stat().st_size
    content = bytearray(data.read_bytes())
    content[-1] ^= 0xFF
    data.write_bytes(bytes(content))
    assert artifact_sha256(model) != expected
    assert artifact_sha256(one_file) == _sha256(one_file)   # one file: its own sha256, as before


def test_an_engine_finds_its_source_pair_only_while_its_data_file_is_unchanged(pair, tmp_path):
    from engine_helpers import fabricate_engine

    from trtbench.engine_meta import read_sidecar, sidecar_path
    from trtbench.signature import engine_source_onnx

    folder = tmp_path / "built"
    shutil.copytree(pair.parent, folder)
    source = folder / pair.name
    engine = fabricate_engine(folder, source)
    record = json.loads(sidecar_path(engine).read_text())
    record["source_onnx_sha256"] = artifact_sha256(source)   # what build_engine records for a pair
    sidecar_path(engine).write_text(json.dumps(record))
    assert engine_source_onnx(engine, read_sidecar(engine)) == source
    (folder / "water.onnx.data").write_bytes((folder / "water.onnx.data").read_bytes()[:-4] + b"\0\0\0\1")
    assert engine_source_onnx(engine, read_sidecar(engine)) is None


@pytest.mark.parametrize("damage", ["moved-alone", "zero-byte", "truncated"])
def test_a_model_without_its_whole_data_file_is_refused_naming_it(capsys, pair, chip, tmp_path, damage):
    model = tmp_path / pair.name
    shutil.copyfile(pair, model)
    if damage != "moved-alone":
        data = pair.with_name("water.onnx.data").read_bytes()
        (tmp_path / "water.onnx.data").write_bytes(b"" if damage == "zero-byte" else data[: len(data) // 2])
    result = run_cli(capsys, "eval", "--engine", model, "--data", chip[0], "--data-bands", S2_BANDS)
    assert result.code == EXIT_USER_MISTAKE
    problem, fix = result.err.splitlines()[:2]
    assert problem.startswith("error: ") and str(tmp_path / "water.onnx.data") in problem
    assert {"moved-alone": "missing", "zero-byte": "empty", "truncated": "truncated"}[damage] in problem
    assert fix.startswith("  fix: ") and "keep water.onnx.data in the folder of floods.onnx" in fix
    assert "Traceback" not in result.err


@gpu
def test_engine_builds_from_the_pair_and_records_the_pair_hash(pair, tmp_path):
    from trtbench.engine_meta import read_sidecar
    from trtbench.export.pipeline import ExportRequest, export_artifact

    [engine] = export_artifact(pair, tmp_path / "floods.engine", ExportRequest("engine", "fp32"))
    assert read_sidecar(engine).source_onnx_sha256 == artifact_sha256(pair)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("TRTBENCH_HEAVY"),
                    reason="2.4 GB export, about 2 minutes: set TRTBENCH_HEAVY=1 (kept out of CI's 20-minute budget; "
                           "benchmarks/zoo_parity.py runs the same export with eval)")
def test_prithvi_600m_fp32_is_over_2_gb_and_runs_as_a_pair_through_eval_bench_predict(capsys, s2_chip, tmp_path):
    """The real case (about 2.4 GB of fp32 weights): exported as a pair unasked, then eval (parity with
    PyTorch), bench and predict on a real 224 x 224 crop (its B02, B03, B04, B8A, B11, B12 are the HLS bands)."""
    folder = tmp_path / "model"
    folder.mkdir()
    output = folder / "prithvi600.onnx"
    result = run_cli(capsys, "export", "prithvi_eo_v2_600", "--random-init", "--sensor", "hls-s30", "-o", output)
    assert result.code == 0, result.err
    assert _listing(folder) == ["prithvi600.onnx", "prithvi600.onnx.data"]
    assert (folder / "prithvi600.onnx.data").stat().st_size > 2**31 > 100 * output.stat().st_size
    chip = crop_scene(s2_chip, tmp_path / "s2.tif", Window(0, 0, 224, 224))
    bands = ("--data-bands", S2_BANDS)
    result = run_cli(capsys, "eval", "--engine", output, "--data", chip, *bands, "--tile", "224")
    assert result.code == 0, result.err
    result = run_cli(capsys, "bench", output, "--backends", "onnxruntime", "--batch", "1", "--size", "224",
                     "--warmup", "0", "--min-iters", "1", "--min-time", "0")
    assert result.code == 0, result.err
    result = run_cli(capsys, "predict", output, chip, "-o", tmp_path / "out", *bands, "--tile", "224", "--quiet")
    assert result.code == 0, result.err
