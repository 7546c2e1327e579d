"""Engine build inputs and the engine sidecar: everything checkable without libnvinfer, plus GPU builds."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
from types import SimpleNamespace

import pytest
from engine_helpers import BUILT, fabricate_engine, gpu, tensorrt_unusable_reason

from trtbench.artifact import read_artifact_metadata
from trtbench.engine_meta import check_runtime, read_sidecar, sidecar_path, verify_engine_file
from trtbench.errors import BackendUnavailable, InputError, TrtbenchError
from trtbench.export.engine import static_input_dims
from trtbench.export.pipeline import ExportRequest, export_artifact
from trtbench.export.shapes import ShapeProfile, default_profile, parse_shapes, validate_profile
from trtbench.fileio import file_sha256
from trtbench.metadata import read_onnx_metadata

# --- shape profiles -------------------------------------------------------------------------------------

def test_shapes_parse_min_opt_max_for_the_first_input():
    (profile,) = parse_shapes("min=1x10x224x224,opt=8x10x256x256,max=32x10x512x512", ["pixels"])
    assert profile == ShapeProfile("pixels", (1, 10, 224, 224), (8, 10, 256, 256), (32, 10, 512, 512))
    assert profile.contains((4, 10, 384, 256)) and not profile.contains((64, 10, 256, 256))


def test_shapes_can_name_inputs():
    profiles = parse_shapes("pixels:min=1x2x8x8,opt=1x2x8x8,max=2x2x8x8; waves:min=2,opt=2,max=2", ["pixels", "waves"])
    assert [p.name for p in profiles] == ["pixels", "waves"]


@pytest.mark.parametrize("text, problem", [
    ("min=1x10x224x224,max=32x10x512x512", "lacks opt"),
    ("min=1x10x224x224,opt=8x10xAx256,max=32x10x512x512", "not a shape"),
    ("min=0x10x224x224,opt=8x10x256x256,max=32x10x512x512", "below 1"),
    ("latlon:min=1x4,opt=1x4,max=1x4", "names input 'latlon'"),
    ("size=1x10x224x224", "cannot read"),
])
def test_shapes_refuse_malformed_text(text, problem):
    with pytest.raises(InputError, match=problem):
        parse_shapes(text, ["pixels"])


@pytest.fixture(scope="module")
def tiny_meta(tiny_embedding_onnx):
    return read_onnx_metadata(tiny_embedding_onnx)


@pytest.mark.parametrize("text, problem", [
    ("min=1x9x224x224,opt=8x10x256x256,max=32x10x512x512", "has 9 bands; the model takes exactly 10"),
    ("min=1x10x220x224,opt=8x10x256x256,max=32x10x512x512", "multiples of the patch size 8"),
    ("min=1x10x224x224,opt=8x10x256x256,max=4x10x512x512", "opt <= max"),
    ("min=1x10x224,opt=8x10x256,max=32x10x512", "has 3 dimensions"),
])
def test_profiles_outside_the_models_constraints_are_refused(tiny_meta, text, problem):
    (profile,) = parse_shapes(text, tiny_meta.inputs)
    with pytest.raises(InputError, match=problem):
        validate_profile(profile, tiny_meta)


def test_profile_must_agree_with_static_onnx_dims(tiny_meta, tiny_embedding_onnx):
    static = static_input_dims(tiny_embedding_onnx)["pixels"]
    assert static[1] == tiny_meta.num_bands and static[0] is None   # bands fixed, batch dynamic
    validate_profile(default_profile(tiny_meta), tiny_meta, static)
    with pytest.raises(InputError, match="fixed at 4"):
        validate_profile(ShapeProfile("pixels", *((1, 10, 64, 64),) * 3), tiny_meta, [None, 10, 4, None])


def test_default_profile_is_dynamic_batch_at_the_recorded_tile(tiny_meta):
    profile = default_profile(tiny_meta)
    assert profile.min[0] < profile.opt[0] < profile.max[0]
    assert profile.min[1:] == profile.max[1:] == (tiny_meta.num_bands, tiny_meta.input_size, tiny_meta.input_size)


# --- sidecar ---------------------------------------------------------------------------------------------

def test_sidecar_round_trips_and_carries_the_model_metadata(tmp_path, tiny_embedding_onnx):
    engine = fabricate_engine(tmp_path, tiny_embedding_onnx)
    sidecar = read_sidecar(engine)
    assert sidecar.runtime == BUILT and sidecar_path(engine).name == "model.engine.json"
    assert sidecar.shape_profiles()[0] == default_profile(read_onnx_metadata(tiny_embedding_onnx))
    meta = read_artifact_metadata(engine)
    assert meta.precision == "fp16" and meta.bands == read_onnx_metadata(tiny_embedding_onnx).bands


def test_engine_without_sidecar_is_refused(tmp_path):
    engine = tmp_path / "orphan.plan"
    engine.write_bytes(b"plan")
    with pytest.raises(TrtbenchError, match="has no sidecar"):
        read_artifact_metadata(engine)


def test_truncated_engine_is_detected_from_the_sidecar(tmp_path, tiny_embedding_onnx):
    engine = fabricate_engine(tmp_path, tiny_embedding_onnx)
    engine.write_bytes(engine.read_bytes()[:-100])
    with pytest.raises(TrtbenchError, match="truncated"):
        verify_engine_file(engine, read_sidecar(engine))
    with pytest.raises(TrtbenchError, match="truncated"):
        read_artifact_metadata(engine)


def test_replaced_engine_of_the_same_size_is_detected(tmp_path, tiny_embedding_onnx):
    engine = fabricate_engine(tmp_path, tiny_embedding_onnx)
    engine.write_bytes(bytes(reversed(engine.read_bytes())))
    with pytest.raises(TrtbenchError, match="sha256"):
        verify_engine_file(engine, read_sidecar(engine))


@pytest.mark.parametrize("here, problem", [
    (dataclasses.replace(BUILT, tensorrt_version="11.4.0.106"), "built with TensorRT 10.15.1.29"),
    (dataclasses.replace(BUILT, gpu_name="NVIDIA A100", compute_capability="8.0"), "compute capability 8.9"),
])
def test_engine_from_another_tensorrt_or_gpu_architecture_is_refused(tmp_path, tiny_embedding_onnx, here, problem):
    sidecar = read_sidecar(fabricate_engine(tmp_path, tiny_embedding_onnx))
    with pytest.raises(TrtbenchError, match=problem) as info:
        check_runtime(sidecar, here)
    assert "rebuild" in info.value.fix


def test_same_architecture_other_gpu_model_only_warns(tmp_path, tiny_embedding_onnx, caplog):
    sidecar = read_sidecar(fabricate_engine(tmp_path, tiny_embedding_onnx))
    with caplog.at_level(logging.WARNING):
        check_runtime(sidecar, dataclasses.replace(BUILT, gpu_name="NVIDIA RTX 4090"))
    assert "NVIDIA L4" in caplog.text


# --- the export pipeline refuses bad requests before doing any work ---------------------------------------

@pytest.mark.parametrize("request_, output, error, problem", [
    (ExportRequest(precision="int8"), "out.onnx", InputError, "calibration data"),
    (ExportRequest(precision="fp16", shapes="min=1x10x8x8,opt=1x10x8x8,max=1x10x8x8"), "out.onnx", InputError,
     "optimization profile"),
    (ExportRequest(format="engine"), "out.onnx", InputError, "does not end in .engine"),
    (ExportRequest(format="onnx"), "out.onnx", InputError, "already an fp32 ONNX"),
])
def test_export_refuses_bad_requests_and_writes_nothing(tmp_path, tiny_embedding_onnx, request_, output, error, problem):
    with pytest.raises(error, match=problem):
        export_artifact(tiny_embedding_onnx, tmp_path / output, request_)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(tensorrt_unusable_reason() is None, reason="TensorRT is usable here")
def test_engine_export_without_tensorrt_fails_before_any_work(tmp_path, tiny_embedding_onnx, s2_chip):
    request = ExportRequest(format="engine", precision="int8", calib_data=[str(s2_chip)])
    with pytest.raises(BackendUnavailable, match="TensorRT cannot run here"):
        export_artifact(tiny_embedding_onnx, tmp_path / "m.engine", request)
    assert list(tmp_path.iterdir()) == []


def test_cli_reports_bad_shapes_with_exit_code_2(tmp_path, tiny_embedding_onnx):
    result = subprocess.run([sys.executable, "-m", "trtbench.cli", "export", str(tiny_embedding_onnx), "--format",
                             "engine", "--shapes", "min=1x3x64x64,opt=1x3x64x64,max=1x3x64x64", "-o",
                             str(tmp_path / "m.engine")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "has 3 bands; the model takes exactly 10" in result.stderr and "fix:" in result.stderr


# --- GPU: real builds ----------------------------------------------------------------------------------------

@pytest.mark.gpu
@gpu
def test_engine_build_writes_engine_sidecar_and_timing_cache(tmp_path, tiny_embedding_onnx):
    from trtbench.export.engine import build_engine

    profile = parse_shapes("min=1x10x64x64,opt=2x10x128x128,max=4x10x256x256", ["pixels"])
    cache = tmp_path / "timing.cache"
    engine = build_engine(tiny_embedding_onnx, tmp_path / "tiny.engine", profiles=profile, opt_level=0,
                          timing_cache=cache)
    sidecar = read_sidecar(engine)
    verify_engine_file(engine, sidecar)
    assert cache.stat().st_size > 0
    assert sidecar.source_onnx_sha256 == file_sha256(tiny_embedding_onnx)
    assert sidecar.shape_profiles() == profile and sidecar.builder["strongly_typed"]
    assert sidecar.precision == "fp32" and sidecar.builder["tf32"] is False and sidecar.builder["plugin_layers"] == []


class FakeBuilderConfig:
    """IBuilderConfig's timing-cache calls: ``set_timing_cache`` answers False to a foreign cache; a corrupt
    blob makes ``create_timing_cache`` raise (``corrupt="raise"``) or return no cache (``corrupt="none"``)."""

    def __init__(self, corrupt: str | None = None):
        self.corrupt, self.attached = corrupt, None

    def create_timing_cache(self, blob: bytes):
        if self.corrupt == "raise" and blob:
            raise RuntimeError("invalid timing cache")
        if self.corrupt == "none" and blob:
            return None
        return {"blob": blob}

    def set_timing_cache(self, cache, ignore_mismatch: bool) -> bool:
        self.attached = cache
        return cache["blob"] in (b"", b"ours")


@pytest.mark.parametrize("saved,corrupt", [(b"from another GPU", None), (b"garbage", "raise"), (b"garbage", "none")])
def test_a_foreign_or_corrupt_timing_cache_is_replaced_not_reused(tmp_path, caplog, saved, corrupt):
    from trtbench.export.engine import attach_timing_cache

    path = tmp_path / "timing.cache"
    path.write_bytes(saved)
    config = FakeBuilderConfig(corrupt)
    with caplog.at_level(logging.WARNING):
        cache = attach_timing_cache(config, path)
    assert cache == config.attached == {"blob": b""}
    assert "starting a new one" in caplog.text


def test_a_timing_cache_from_this_gpu_is_reused(tmp_path):
    from trtbench.export.engine import attach_timing_cache

    path = tmp_path / "timing.cache"
    path.write_bytes(b"ours")
    assert attach_timing_cache(FakeBuilderConfig(), path) == {"blob": b"ours"}


# --- supported TensorRT versions, TF32, plugin layers (TensorRT stand-ins) ----------------------------------

@pytest.mark.parametrize("version", ["10.9.0.34", "10.15.1.29", "10.16.1.11"])
def test_tensorrt_10_9_to_10_x_is_supported(version):
    from trtbench.export.engine import check_tensorrt_version

    check_tensorrt_version(version)


@pytest.mark.parametrize("version, problem", [
    ("10.8.0.43", "TensorRT 10.8.0.43 is not supported: trtbench supports TensorRT >= 10.9, < 11"),
    ("11.4.0.106", "TensorRT 11.4.0.106 is not supported"),
    ("9.3.0", "TensorRT 9.3.0 is not supported"),
    ("unknown", "cannot read the TensorRT version 'unknown'"),
])
def test_other_tensorrt_versions_are_refused_with_the_supported_range(version, problem):
    from trtbench.export.engine import check_tensorrt_version

    with pytest.raises(BackendUnavailable, match=problem) as info:
        check_tensorrt_version(version)
    assert "pip install" in info.value.fix


def test_gpu_extra_asks_for_the_supported_tensorrt_range():
    import re
    import tomllib
    from pathlib import Path

    from trtbench.tensorrt_support import SUPPORTED_TENSORRT

    (low, high) = SUPPORTED_TENSORRT
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    [spec] = [r for r in project["optional-dependencies"]["gpu"] if re.match(r"tensorrt\b", r)]
    assert spec.replace(" ", "").startswith(f"tensorrt>={low[0]}.{low[1]},<{high[0]}")


def test_the_check_tables_tensorrt_release_is_a_supported_one():
    from trtbench.check.support import load_table
    from trtbench.export.engine import check_tensorrt_version

    check_tensorrt_version(load_table().tensorrt)     # `trtbench check` audits against a release we support


class FakeFlags:
    """IBuilderConfig's flags: TF32 set, as TensorRT's builder config starts."""

    def __init__(self):
        self.flags = {"TF32"}

    def clear_flag(self, flag):
        self.flags.discard(flag)


FAKE_TRT = SimpleNamespace(BuilderFlag=SimpleNamespace(TF32="TF32"),
                           LayerType=SimpleNamespace(PLUGIN="P1", PLUGIN_V2="P2", PLUGIN_V3="P3", CONVOLUTION="C",
                                                     MATRIX_MULTIPLY="M"))


@pytest.mark.parametrize("precision, tf32", [("fp32", False), ("fp16", True), ("int8", True)])
def test_tf32_is_cleared_for_fp32_engines_only(precision, tf32):
    from trtbench.export.engine import allow_tf32

    config = FakeFlags()
    assert allow_tf32(config, FAKE_TRT, precision) is tf32
    assert ("TF32" in config.flags) is tf32


def test_plugin_layers_of_the_parsed_network_are_named():
    from trtbench.export.engine import plugin_layer_names

    layers = [SimpleNamespace(name="patchify", type="M"), SimpleNamespace(name="DynamicPatchEmbed_0", type="P3"),
              SimpleNamespace(name="old", type="P2"), SimpleNamespace(name="conv", type="C")]
    network = SimpleNamespace(num_layers=len(layers), get_layer=layers.__getitem__)
    assert plugin_layer_names(FAKE_TRT, network) == ["DynamicPatchEmbed_0", "old"]
    assert plugin_layer_names(FAKE_TRT, SimpleNamespace(num_layers=2, get_layer=[layers[0], layers[3]].__getitem__)) == []


@pytest.mark.parametrize(("version", "available"), [("10.15.1", True), ("11.1.0", False), ("10.8.0", False)])
def test_doctor_calls_available_only_a_tensorrt_that_export_accepts(monkeypatch, version, available):
    import trtbench.doctor as doctor

    monkeypatch.setattr(doctor, "installed_version", lambda name: version if name == "tensorrt" else None)
    summary = doctor.tensorrt_summary(["NVIDIA H200"])
    assert summary["available"] is available
    assert available or "not supported" in summary["reason"]
