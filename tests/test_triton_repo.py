"""Triton model repositories: ``trtbench triton`` writes REPO/NAME/config.pbtxt + REPO/NAME/1/model.*, and the
config, parsed with Triton's own ``ModelConfig`` protobuf, matches what the artifact takes and gives (read here
with ONNX Runtime, independently of trtbench's reading of the graph)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import onnx
import onnxruntime as ort
import pytest
from cli_helpers import run_cli
from engine_helpers import fabricate_engine, gpu
from predict_support import conv_artifact
from serve_support import band_agnostic_onnx

from trtbench.artifact import read_artifact_metadata
from trtbench.engine_meta import read_sidecar
from trtbench.sensors import get_sensor
from trtbench.serve.export_target import default_model_name

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2",
                                       reason="parsing Triton configs needs tritonclient[grpc] (the `serve` extra)")
from google.protobuf import text_format  # noqa: E402  (installed with tritonclient)

S2 = get_sensor("sentinel-2-l1c")
ORT_DTYPES = {"tensor(float)": "TYPE_FP32", "tensor(float16)": "TYPE_FP16"}


def parse_config(folder: Path):
    return text_format.Parse((folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def dtype_name(value: int) -> str:
    return model_config_pb2.DataType.Name(value)


def ort_signature(path: Path) -> dict[str, tuple[str, list[int]]]:
    """Names, dtypes and shapes (-1 where symbolic) as ONNX Runtime sees them."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return {t.name: (ORT_DTYPES[t.type], [d if isinstance(d, int) else -1 for d in t.shape])
            for t in [*session.get_inputs(), *session.get_outputs()]}


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from trtbench.export.precision import convert_precision

    folder = tmp_path_factory.mktemp("triton")
    fixed = conv_artifact(folder / "seg.onnx", S2, num_classes=3)
    return {"fixed": fixed, "fp16": convert_precision(fixed, folder / "seg_fp16.onnx", "fp16")}


@pytest.mark.parametrize("kind", ["fixed", "fp16"])
def test_onnx_repository_matches_the_artifact(onnx_files, kind, tmp_path, capsys):
    artifact = onnx_files[kind]
    result = run_cli(capsys, "triton", artifact, "-o", tmp_path / "repo")
    assert result.code == 0, result.err
    folder = tmp_path / "repo" / artifact.stem
    assert (folder / "1" / "model.onnx").read_bytes() == artifact.read_bytes()
    config = parse_config(folder)
    assert (config.name, config.backend, config.platform) == (artifact.stem, "onnxruntime", "onnxruntime_onnx")
    assert config.max_batch_size == 8
    signature = ort_signature(artifact)
    for tensors in (config.input, config.output):
        for tensor in tensors:   # batched: Triton's dims leave the batch dimension out
            dtype, shape = signature.pop(tensor.name)
            assert (dtype_name(tensor.data_type), list(tensor.dims)) == (dtype, shape[1:]), tensor.name
    assert signature == {}, "every tensor of the artifact is in the config"
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]
    assert [(g.count, model_config_pb2.ModelInstanceGroup.Kind.Name(g.kind)) for g in config.instance_group] == [
        (1, "KIND_AUTO")]
    assert json.loads(config.parameters["trtbench.metadata"].string_value) == dataclasses.asdict(
        read_artifact_metadata(artifact))


def test_engine_repository_keeps_the_plan_and_the_sidecar_facts(onnx_files, tmp_path, capsys):
    engine = fabricate_engine(tmp_path, onnx_files["fp16"])
    sidecar = read_sidecar(engine)
    result = run_cli(capsys, "triton", engine, "-o", tmp_path / "repo", "--name", "seg_trt")
    assert result.code == 0, result.err
    folder = tmp_path / "repo" / "seg_trt"
    assert (folder / "1" / "model.plan").read_bytes() == engine.read_bytes()
    assert json.loads((folder / "1" / "model.plan.json").read_text()) == json.loads(
        engine.with_name(engine.name + ".json").read_text())
    config = parse_config(folder)
    assert (config.backend, config.platform) == ("tensorrt", "tensorrt_plan")
    span = sidecar.profiles[0]["pixels"]
    assert config.max_batch_size == span["max"][0]
    assert list(config.dynamic_batching.preferred_batch_size) == sorted({span["opt"][0], span["max"][0]})
    pixels = config.input[0]
    assert list(pixels.dims) == [lo if lo == hi else -1 for lo, hi in zip(span["min"][1:], span["max"][1:])]
    assert [o.name for o in config.output] == ["logits"]
    assert model_config_pb2.ModelInstanceGroup.Kind.Name(config.instance_group[0].kind) == "KIND_GPU"
    params = {k: v.string_value for k, v in config.parameters.items()}
    assert params["trtbench.tensorrt_version"] == sidecar.runtime.tensorrt_version
    assert params["trtbench.compute_capability"] == sidecar.runtime.compute_capability
    assert params["trtbench.engine_sha256"] == sidecar.engine_sha256 and params["trtbench.precision"] == "fp16"


def test_band_agnostic_inputs_are_unbatched_with_a_reshaped_scalar(tmp_path, capsys):
    """A band-agnostic graph's ``wavelengths [bands]`` and ``gsd []`` have no batch dimension: the config
    gives full shapes (max_batch_size 0) and feeds the scalar through ``reshape { shape: [] }``."""
    artifact = band_agnostic_onnx(tmp_path / "any.onnx")
    assert run_cli(capsys, "triton", artifact, "-o", tmp_path / "repo").code == 0
    config = parse_config(tmp_path / "repo" / "any")
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
    dims = {t.name: list(t.dims) for t in config.input}
    assert dims == {"pixels": [-1, -1, -1, -1], "wavelengths": [-1], "gsd": [1]}
    gsd = next(t for t in config.input if t.name == "gsd")
    assert gsd.HasField("reshape") and list(gsd.reshape.shape) == []


def test_options_set_batching_and_instances(onnx_files, tmp_path, capsys):
    result = run_cli(capsys, "triton", onnx_files["fixed"], "-o", tmp_path, "--name", "water", "--max-batch", "16",
                     "--preferred-batch", "2,16", "--instances", "3", "--kind", "cpu", "--queue-delay-us", "500")
    assert result.code == 0, result.err
    config = parse_config(tmp_path / "water")
    assert config.max_batch_size == 16 and list(config.dynamic_batching.preferred_batch_size) == [2, 16]
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    assert [(g.count, model_config_pb2.ModelInstanceGroup.Kind.Name(g.kind)) for g in config.instance_group] == [
        (3, "KIND_CPU")]


def test_mistakes_stop_before_anything_is_written(onnx_files, tmp_path, capsys):
    repo = tmp_path / "repo"
    bad = run_cli(capsys, "triton", onnx_files["fixed"], "-o", repo, "--preferred-batch", "4,32")
    assert bad.code == 2 and "--preferred-batch 32" in bad.err and "fix:" in bad.err
    assert not repo.exists()
    assert run_cli(capsys, "triton", onnx_files["fixed"], "-o", repo).code == 0
    before = (repo / "seg" / "config.pbtxt").read_text()
    again = run_cli(capsys, "triton", onnx_files["fp16"], "-o", repo, "--name", "seg")
    assert again.code == 2 and "already exists" in again.err
    assert (repo / "seg" / "config.pbtxt").read_text() == before
    engine = fabricate_engine(tmp_path, onnx_files["fp16"])
    engine.write_bytes(engine.read_bytes()[:100])   # truncated after its sidecar was written
    truncated = run_cli(capsys, "triton", engine, "-o", repo)
    assert truncated.code == 2 and "truncated" in truncated.err
    assert sorted(p.name for p in repo.iterdir()) == ["seg"]   # no partial model folder


# `trtbench export ... --format triton -o REPO/`: the export itself lands in the repository, packaged by the
# same code as `trtbench triton`.

def check_matches_artifact(folder: Path) -> None:
    """The config's tensors are the packaged model's (read by ONNX Runtime), batch dimension left out."""
    config = parse_config(folder)
    signature = ort_signature(folder / "1" / "model.onnx")
    for tensor in (*config.input, *config.output):
        dtype, shape = signature.pop(tensor.name)
        assert (dtype_name(tensor.data_type), list(tensor.dims)) == (dtype, shape[1:]), tensor.name
    assert signature == {}, "every tensor of the artifact is in the config"
    assert json.loads(config.parameters["trtbench.metadata"].string_value) == dataclasses.asdict(
        read_artifact_metadata(folder / "1" / "model.onnx"))


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_export_format_triton_writes_a_repository_at_each_precision(onnx_files, precision, s2_chip, tmp_path,
                                                                    capsys):
    calib = ["--calib-data", s2_chip, "--calib-samples", "4"] if precision == "int8" else []
    result = run_cli(capsys, "export", onnx_files["fixed"], "--format", "triton", "--precision", precision,
                     *calib, "-o", tmp_path / "repo")
    assert result.code == 0, result.err
    name = "seg" if precision == "fp32" else f"seg_{precision}"
    folder = tmp_path / "repo" / name
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == ["1", "1/model.onnx", "config.pbtxt"]
    assert parse_config(folder).name == name and f"{folder}/config.pbtxt" in result.out
    check_matches_artifact(folder)
    model = read_artifact_metadata(folder / "1" / "model.onnx")
    assert model.precision == precision
    ops = {node.op_type for node in onnx.load(folder / "1" / "model.onnx").graph.node}
    assert ("QuantizeLinear" in ops) == (precision == "int8")
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == [name]   # no work files left in the repository


def test_export_format_triton_names_the_model_after_it_unless_told():
    """Several builds of one model share a repository: the precision (unless fp32) and _trt tell them apart."""
    assert default_model_name("clay", "tiny", "fp32", "onnxruntime") == "clay_tiny"
    assert default_model_name("clay", "tiny", "fp16", "tensorrt") == "clay_tiny_fp16_trt"
    assert default_model_name("runs/water.ckpt", None, "int8", "onnxruntime") == "water_int8"


def test_export_format_triton_refuses_an_existing_model_before_any_work(onnx_files, tmp_path, capsys):
    (tmp_path / "seg_fp16").mkdir()
    (tmp_path / "seg_fp16" / "config.pbtxt").write_text("served")
    again = run_cli(capsys, "export", onnx_files["fixed"], "--format", "triton", "--precision", "fp16", "-o", tmp_path)
    assert again.code == 2 and "seg_fp16 already exists" in again.err and "--name" in again.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg_fp16"]
    assert (tmp_path / "seg_fp16" / "config.pbtxt").read_text() == "served"
    stac = run_cli(capsys, "export", onnx_files["fixed"], "--format", "triton", "--stac", "-o", tmp_path / "r")
    assert stac.code == 2 and "fix:" in stac.err and not (tmp_path / "r").exists()
    misplaced = run_cli(capsys, "export", onnx_files["fixed"], "--precision", "fp16", "--name", "x",
                        "-o", tmp_path / "x.onnx")
    assert misplaced.code == 2 and "--format triton" in misplaced.err and not (tmp_path / "x.onnx").exists()
    renamed = run_cli(capsys, "export", onnx_files["fixed"], "--format", "triton", "--precision", "fp16",
                      "--name", "seg_half", "-o", tmp_path)
    assert renamed.code == 0, renamed.err
    assert parse_config(tmp_path / "seg_half").name == "seg_half"


@gpu
@pytest.mark.gpu
def test_export_format_triton_with_the_tensorrt_backend_writes_a_plan(onnx_files, tmp_path, capsys):
    result = run_cli(capsys, "export", onnx_files["fixed"], "--format", "triton", "--backend", "tensorrt",
                     "--precision", "fp16", "--shapes", "min=1x13x64x64,opt=4x13x128x128,max=8x13x256x256",
                     "-o", tmp_path)
    assert result.code == 0, result.err
    folder = tmp_path / "seg_fp16_trt"
    assert sorted(p.name for p in (folder / "1").iterdir()) == ["model.plan", "model.plan.json"]
    config = parse_config(folder)
    assert (config.backend, config.platform, config.max_batch_size) == ("tensorrt", "tensorrt_plan", 8)
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]
    assert list(config.input[0].dims) == [13, -1, -1] and [o.name for o in config.output] == ["logits"]
    sidecar = json.loads((folder / "1" / "model.plan.json").read_text())
    assert config.parameters["trtbench.engine_sha256"].string_value == sidecar["engine_sha256"]
