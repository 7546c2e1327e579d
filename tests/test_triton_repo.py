"""Triton model repositories: ``trtbench triton`` writes REPO/NAME/config.pbtxt + REPO/NAME/1/model.*, and the
config, parsed with Triton's own ``ModelConfig`` protobuf, matches what the artifact takes and gives (read here
with ONNX Runtime, independently of trtbench's reading of the graph)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import onnxruntime as ort
import pytest
from cli_helpers import run_cli
from engine_helpers import fabricate_engine
from predict_support import conv_artifact
from serve_support import band_agnostic_onnx

from trtbench.artifact import read_artifact_metadata
from trtbench.engine_meta import read_sidecar
from trtbench.sensors import get_sensor

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
