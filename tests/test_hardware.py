"""The machine, as trtbench sees it: ISA and peaks, the `auto` backend rule, bf16 refusal, and the CPU runners
issue 16 adds (OpenVINO bf16 and int8, ONNX Runtime with transformer fusions), each checked against PyTorch.

Speeds are never asserted here (benchmarks/ measures them side by side); fabricated CPUs stand in for the
Intel machines with AVX-512/AMX this AVX2 machine cannot be.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import run_cli

from trtbench.backends import backend_unavailable_reason, runner_for_artifact
from trtbench.backends.auto import BackendChoice, Runtimes, choose_backend
from trtbench.backends.openvino_runner import OpenVinoFromOnnx
from trtbench.backends.torch_runner import TorchRunner
from trtbench.bench.run import tolerances
from trtbench.errors import TrtbenchError
from trtbench.evaluate import evaluate, make_reference_runner, normalised_tiles
from trtbench.hardware import CpuFeatures, measure_gemm_ceiling, read_cpu_features, require_precision
from trtbench.metadata import read_onnx_metadata
from trtbench.parity import ParityAccumulator

AVX2 = CpuFeatures.from_flags(["avx", "avx2", "fma"], model="AVX2-only", cores=2, ghz=2.0)
SAPPHIRE_RAPIDS = CpuFeatures.from_flags(["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile",
                                          "amx_bf16", "amx_int8"], model="Xeon with AMX", cores=2, ghz=2.0)
CASCADE_LAKE = CpuFeatures.from_flags(["avx2", "fma", "avx512f", "avx512_vnni"], model="Xeon with VNNI", cores=2, ghz=2.0)
ALL = Runtimes.of(["onnxruntime", "openvino", "torch"])
THIS_CPU = read_cpu_features()


def _kernel_flags() -> set[str]:
    """This machine's flags, read here independently of trtbench.hardware."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _rel_max(expected: dict, actual: dict, name: str) -> float:
    acc = ParityAccumulator(name)
    acc.update(expected[name], actual[name])
    return acc.result().rel_max


# --- know the machine -------------------------------------------------------------------------------------

def test_cpuinfo_flags_cores_and_clock_are_read_from_the_kernel(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test Xeon\nsiblings\t: 4\ncpu cores\t: 2\ncpu MHz\t\t: 2100.000\n"
                       "flags\t\t: fpu avx2 fma avx512f amx_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    cpu = read_cpu_features(cpuinfo, tmp_path / "no-cpufreq")
    assert cpu.model == "Test Xeon" and cpu.isa == ["AVX2", "FMA", "AVX-512", "AMX-BF16"]
    assert cpu.ghz == 2.1 and "cpu MHz" in cpu.ghz_source
    assert cpu.physical_cores == max(1, cpu.logical_cpus // 2)   # two hyperthreads share one core's FMA units
    (tmp_path / "max_freq").write_text("3500000\n")
    assert read_cpu_features(cpuinfo, tmp_path / "max_freq").ghz == 3.5


def test_this_machines_isa_is_the_kernels_flag_list():
    flags = _kernel_flags()
    assert THIS_CPU.flags == frozenset(flags)
    assert ("AVX2" in THIS_CPU.isa) == ("avx2" in flags) and ("AMX-BF16" in THIS_CPU.isa) == ("amx_bf16" in flags)
    assert THIS_CPU.accelerated("bf16") == bool({"amx_bf16", "avx512_bf16"} & flags)


def test_theoretical_peaks_follow_the_instruction_sets():
    # 2 cores x 2 GHz x FLOP (or op) per cycle per core: AVX-512 64, AVX2 32, AMX 1024 bf16 / 2048 int8, VNNI 256
    assert SAPPHIRE_RAPIDS.peak_gflops("fp32") == 256 and AVX2.peak_gflops("fp32") == 128
    assert SAPPHIRE_RAPIDS.peak_gflops("bf16") == 4096 and SAPPHIRE_RAPIDS.peak_gflops("int8") == 8192
    assert CASCADE_LAKE.peak_gflops("int8") == 1024 and CASCADE_LAKE.peak_gflops("bf16") is None
    assert AVX2.peak_gflops("bf16") is None and AVX2.peak_gflops("int8") is None
    assert AVX2.precisions()["bf16"].startswith("not accelerated")
    assert SAPPHIRE_RAPIDS.precisions()["bf16"].startswith("AMX-BF16")


def test_gemm_ceiling_measures_fp32_and_reports_what_this_cpu_does_not_accelerate():
    ceiling = measure_gemm_ceiling(AVX2, n=128, reps=1)
    assert ceiling.gflops["fp32"] > 0 and set(ceiling.unavailable) == {"bf16", "int8"}
    # The bf16 (torch) and int8 (ONNX Runtime MatMulInteger) paths run wherever the CPU claims them.
    claimed = measure_gemm_ceiling(SAPPHIRE_RAPIDS, n=64, reps=1)
    assert set(claimed.gflops) == {"fp32", "bf16", "int8"} and not claimed.unavailable


def test_doctor_shows_the_isa_and_the_precisions_this_cpu_accelerates(capsys):
    result = run_cli(capsys, "doctor", "--json", "-")
    info = json.loads(result.out)
    assert info["cpu_isa"] == THIS_CPU.isa
    assert info["cpu_precisions"]["bf16"].startswith("not accelerated") != THIS_CPU.accelerated("bf16")


# --- the auto rule ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("cpu", "precision", "runtimes", "expected"), [
    (AVX2, "fp32", ALL, "onnxruntime"),
    (CASCADE_LAKE, "fp32", ALL, "openvino"),
    (SAPPHIRE_RAPIDS, "fp32", ALL, "openvino"),
    (CASCADE_LAKE, "int8", ALL, "openvino"),
    (AVX2, "int8", ALL, "onnxruntime"),
    (CASCADE_LAKE, "fp32", Runtimes.of(["onnxruntime", "torch"]), "onnxruntime"),
    (AVX2, "fp32", Runtimes.of(["openvino"]), "openvino"),
    (AVX2, "fp32", Runtimes.of(["onnxruntime", "openvino"], ["CUDAExecutionProvider"], gpu_visible=True),
     "onnxruntime"),
])
def test_auto_picks_by_the_documented_rule(cpu, precision, runtimes, expected):
    choice = choose_backend(precision, features=cpu, runtimes=runtimes)
    assert choice.backend == expected and choice.reason


def test_auto_sends_engines_to_tensorrt_and_bf16_to_openvino_or_torch():
    assert choose_backend("fp16", is_engine=True, features=AVX2, runtimes=ALL).backend == "tensorrt"
    assert choose_backend("fp32", runtime_precision="bf16", features=SAPPHIRE_RAPIDS, runtimes=ALL).backend == "openvino"
    no_openvino = Runtimes.of(["onnxruntime", "torch"])
    assert choose_backend("fp32", runtime_precision="bf16", features=SAPPHIRE_RAPIDS,
                          runtimes=no_openvino).backend == "torch"
    with pytest.raises(TrtbenchError, match="bf16"):
        choose_backend("fp32", runtime_precision="bf16", features=AVX2, runtimes=ALL)
    with pytest.raises(TrtbenchError, match="no runtime"):
        choose_backend("fp32", features=AVX2, runtimes=Runtimes.of([]))


def _crop(chip: Path, dst: Path, size: int = 128) -> Path:
    """The top-left ``size`` pixels of a real chip, same bands and descriptions (one tile: a fast eval)."""
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(chip) as src:
        window = Window(0, 0, size, size)
        profile = src.profile | {"width": size, "height": size, "transform": src.window_transform(window)}
        with rasterio.open(dst, "w", **profile) as out:
            out.write(src.read(window=window))
            out.descriptions = src.descriptions
    return dst


def test_eval_defaults_to_auto_and_says_which_backend_and_why(capsys, tmp_path, tiny_water_onnx, s2_chip):
    report = tmp_path / "eval.json"
    result = run_cli(capsys, "eval", "--engine", tiny_water_onnx, "--data", _crop(s2_chip, tmp_path / "chip.tif"),
                     "--json", report)
    assert result.code == 0, result.err
    backend = json.loads(report.read_text())["backend"]
    expected = choose_backend("fp32", features=THIS_CPU, runtimes=Runtimes.on_this_machine())
    assert backend["auto"] == expected.to_dict() and backend["backend"] == expected.backend
    assert BackendChoice(**backend["auto"]).line() in result.err


def test_predict_defaults_to_auto_and_records_the_pick_in_its_summary(capsys, tmp_path, landsat_scene):
    from predict_support import LANDSAT8, conv_artifact, crop_scene
    from rasterio.windows import Window

    artifact = conv_artifact(tmp_path / "l8.onnx", LANDSAT8)
    scene = crop_scene(landsat_scene, tmp_path / "crop.tif", Window(600, 600, 128, 128))
    result = run_cli(capsys, "predict", artifact, scene, "-o", tmp_path / "out", "--quiet", "--json", "-")
    assert result.code == 0, result.err
    summary = next(iter(json.loads(result.out)["done"].values()))
    expected = choose_backend("fp32", features=THIS_CPU, runtimes=Runtimes.on_this_machine())
    assert summary["backend"]["auto"] == expected.to_dict() and summary["backend"]["backend"] == expected.backend
    assert expected.line() in result.err
    assert summary["wall_clock"]["start"] <= summary["wall_clock"]["end"]


def test_bench_accepts_auto_and_the_bf16_runner_names_with_their_tolerances():
    from trtbench.bench.run import check_backends

    check_backends(["auto", "onnxruntime-fused", "openvino-bf16", "torch-bf16"])   # no InputError
    assert tolerances("fp32", ["openvino", "openvino-bf16"], None) == {"openvino": 1e-4, "openvino-bf16": 5e-2}
    assert tolerances("int8", ["openvino-bf16"], None) == {"openvino-bf16": 1e-1}
    assert tolerances("fp32", ["openvino-bf16"], 0.3) == {"openvino-bf16": 0.3}   # --tolerance wins


def test_a_pinned_backend_is_used_as_given(tiny_water_onnx):
    runner = runner_for_artifact(tiny_water_onnx, "openvino")
    assert runner.name == "openvino" and runner.selection_info() == {}


# --- bf16 -------------------------------------------------------------------------------------------------

@pytest.mark.skipif(THIS_CPU.accelerated("bf16"), reason="this CPU has bf16 instructions: nothing to refuse")
def test_bf16_is_refused_with_exit_2_on_this_cpu_without_bf16(capsys, tmp_path, tiny_water_onnx, s2_chip):
    for backend in ("auto", "openvino", "torch"):
        result = run_cli(capsys, "eval", "--engine", tiny_water_onnx, "--data", s2_chip, "--precision", "bf16",
                         "--backend", backend)
        assert result.code == 2 and "error: this CPU" in result.err and "bf16" in result.err, result.err
        assert "  fix: " in result.err and "Traceback" not in result.err
    out = tmp_path / "out"
    result = run_cli(capsys, "predict", tiny_water_onnx, s2_chip, "-o", out, "--precision", "bf16")
    assert result.code == 2 and "bf16" in result.err and not out.exists()
    assert "bf16" in backend_unavailable_reason("openvino-bf16")   # bench/compare: skipped with the reason


def test_bf16_is_refused_on_onnxruntime_whatever_the_cpu(tiny_water_onnx):
    with pytest.raises(TrtbenchError, match="onnxruntime backend does not run bf16"):
        runner_for_artifact(tiny_water_onnx, "onnxruntime", precision="bf16")


def test_require_precision_accepts_bf16_only_with_amx_or_avx512_bf16():
    require_precision("bf16", SAPPHIRE_RAPIDS)
    with pytest.raises(TrtbenchError, match="AMX-BF16 or AVX512-BF16"):
        require_precision("bf16", CASCADE_LAKE)


def test_openvino_bf16_passes_the_inference_precision_hint(tiny_water_onnx):
    # What OpenVINO is asked to compile with (compiling it in bf16 needs a bf16 CPU: see the benchmark).
    assert OpenVinoFromOnnx(tiny_water_onnx, precision="bf16")().config["INFERENCE_PRECISION_HINT"] == "bf16"
    assert OpenVinoFromOnnx(tiny_water_onnx)().config["INFERENCE_PRECISION_HINT"] == "f32"


def test_torch_bf16_runs_the_matmuls_in_bf16_within_bf16_tolerance(monkeypatch, tiny_water_onnx):
    monkeypatch.setattr("trtbench.hardware.read_cpu_features", lambda *a, **k: SAPPHIRE_RAPIDS)
    runner = runner_for_artifact(tiny_water_onnx, "torch-bf16")   # the name `bench`/`compare` select it by
    assert isinstance(runner, TorchRunner) and runner.precision == "bf16"
    seen: list[torch.dtype] = []
    linear = torch.nn.Linear(64, 64)
    linear.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    model = torch.nn.Sequential(linear, torch.nn.LayerNorm(64))
    feed = {"x": np.random.default_rng(0).standard_normal((4, 64), dtype=np.float32)}
    with TorchRunner(lambda: model, ["x"], ["y"]) as fp32, \
            TorchRunner(lambda: model, ["x"], ["y"], precision="bf16") as bf16:
        expected, actual = fp32.infer(feed), bf16.infer(feed)
    assert seen == [torch.float32, torch.bfloat16]
    assert 0 < _rel_max(expected, actual, "y") <= tolerances("fp32", ["torch-bf16"], None)["torch-bf16"]


def test_eval_of_a_bf16_runner_uses_bf16_tolerance_and_reports_the_task_delta(monkeypatch, tmp_path, tiny_water_onnx,
                                                                              s2_chip, water_label):
    # A CPU with AMX is fabricated so the refusal lets it through; autocast then computes in bf16 here too.
    monkeypatch.setattr("trtbench.hardware.read_cpu_features", lambda *a, **k: SAPPHIRE_RAPIDS)
    result = evaluate(tiny_water_onnx, [_crop(s2_chip, tmp_path / "chip.tif")],
                      labels=[_crop(water_label, tmp_path / "label.tif")], backend="torch-bf16", progress=False)
    assert result.tolerance == 5e-2 and result.backend["precision"] == "bf16"
    assert 0 < result.parity[0].rel_max and result.passed, result.parity   # bf16 differs from fp32, within 5e-2
    assert "miou" in result.task_delta()


# --- int8 through OpenVINO, ONNX Runtime fusions ---------------------------------------------------------

@pytest.fixture(scope="module")
def water_int8(tmp_path_factory, tiny_water_onnx, s2_chip):
    from trtbench.export.precision import quantize_int8

    return quantize_int8(tiny_water_onnx, tmp_path_factory.mktemp("int8") / "water_int8.onnx", [s2_chip], samples=2)


@pytest.fixture(scope="module")
def water_feed(tiny_water_onnx, s2_chip):
    """Two real 128 x 128 Sentinel-2 L1C tiles of the Sen1Floods11 chip and the PyTorch reference's outputs."""
    meta = read_onnx_metadata(tiny_water_onnx)
    feed = {meta.inputs[0]: np.stack(list(normalised_tiles(meta, [s2_chip], 128))[:2])}
    with make_reference_runner(meta) as reference:
        return feed, reference.infer(feed)


def test_int8_qdq_artifact_runs_in_openvino_within_int8_parity(water_int8, water_feed):
    feed, expected = water_feed
    errors = {}
    for backend in ("openvino", "onnxruntime"):
        with runner_for_artifact(water_int8, backend) as runner:
            errors[backend] = _rel_max(expected, runner.infer(feed), "logits")
    assert max(errors.values()) <= tolerances("int8", ["openvino"], None)["openvino"], errors
    # The two runtimes compute the same quantised graph: their errors against fp32 are of one size.
    assert errors["openvino"] < 3 * errors["onnxruntime"] + 1e-3, errors


def test_onnxruntime_fused_graph_matches_pytorch_and_reports_its_fusions(tiny_water_onnx, water_feed):
    meta = read_onnx_metadata(tiny_water_onnx)
    feed, expected = water_feed
    with runner_for_artifact(tiny_water_onnx, "onnxruntime-fused") as runner:
        actual = runner.infer(feed)
        info = runner.describe()
    assert info["transformer_fusions"].get("SkipLayerNormalization", 0) > 0, info
    for name in meta.outputs:
        assert _rel_max(expected, actual, name) < 1e-4, name
