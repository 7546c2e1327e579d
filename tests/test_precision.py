"""FP16 and INT8 ONNX artifacts, measured on real chips against the fp32 PyTorch reference (CPU proxies)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from predict_support import crop_scene
from rasterio.windows import Window

from trtbench.check import audit_onnx
from trtbench.errors import InputError
from trtbench.evaluate import evaluate, normalised_tiles
from trtbench.export.precision import (
    KEEP_FP32_OPS,
    ChipCalibrationReader,
    calibration_band_set,
    calibration_tiles,
    convert_fp16,
    pixel_independent_nodes,
    quantize_int8,
)
from trtbench.metadata import read_onnx_metadata
from trtbench.parity import DEFAULT_TOLERANCE
from trtbench.preprocess import normalize
from trtbench.raster import read_chip
from trtbench.sensors import get_sensor


@pytest.fixture(scope="module")
def tiny_fp16(tmp_path_factory, tiny_embedding_onnx):
    return convert_fp16(tiny_embedding_onnx, tmp_path_factory.mktemp("fp16") / "tiny_fp16.onnx")


@pytest.fixture(scope="module")
def tiny_int8(tmp_path_factory, tiny_embedding_onnx, s2_chip, hls_chip):
    return quantize_int8(tiny_embedding_onnx, tmp_path_factory.mktemp("int8") / "tiny_int8.onnx",
                         [s2_chip, hls_chip], samples=8)


def _typed_inputs(path):
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    types = {v.name: v.type.tensor_type.elem_type for v in (*model.graph.value_info, *model.graph.input)}
    types |= {i.name: i.data_type for i in model.graph.initializer}
    return model, types


def test_fp16_keeps_layernorm_softmax_and_generators_in_fp32(tiny_fp16, tiny_embedding_onnx):
    model, types = _typed_inputs(tiny_fp16)
    assert read_onnx_metadata(tiny_fp16).precision == "fp16"
    for node in model.graph.node:
        if node.op_type in KEEP_FP32_OPS or node.op_type in ("Sin", "Cos"):
            assert types[node.input[0]] == onnx.TensorProto.FLOAT, node.name
    matmul_weights = [types[n.input[1]] for n in model.graph.node if n.op_type == "MatMul"]
    assert matmul_weights.count(onnx.TensorProto.FLOAT16) > len(matmul_weights) // 2
    # The position embedding's generator nodes never depend on pixel values.
    fp32 = onnx.load(str(tiny_embedding_onnx))
    sin_nodes = {n.name for n in fp32.graph.node if n.op_type in ("Sin", "Cos")}
    assert sin_nodes and sin_nodes <= pixel_independent_nodes(fp32.graph, "pixels")


def test_fp16_is_close_to_the_fp32_reference_on_real_chips(tiny_fp16, s2_chip):
    result = evaluate(tiny_fp16, [s2_chip], progress=False)
    assert result.tolerance == DEFAULT_TOLERANCE["fp16"] and result.passed
    for parity in result.parity:
        assert 0 < parity.max_abs and parity.cosine >= 0.9999


def test_int8_is_symmetric_qdq_that_tensorrt_accepts(tiny_int8):
    model = onnx.load(str(tiny_int8))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > ops.count("QuantizeLinear")
    zero_points = {n.input[2] for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")}
    for init in model.graph.initializer:
        if init.name in zero_points:
            assert not np.any(onnx.numpy_helper.to_array(init))
    audit = audit_onnx(tiny_int8)
    assert audit.passed(), [str(f) for f in audit.findings]


def test_int8_runs_in_onnxruntime_cpu_close_to_the_reference(tiny_int8, s2_chip, hls_chip):
    result = evaluate(tiny_int8, [s2_chip, hls_chip], progress=False)
    assert read_onnx_metadata(tiny_int8).precision == "int8" and result.passed
    assert all(p.cosine >= 0.99 for p in result.parity)


def test_int8_task_delta_on_the_labelled_water_chip(tmp_path, tiny_water_onnx, s2_chip, water_label):
    int8 = quantize_int8(tiny_water_onnx, tmp_path / "water_int8.onnx", [s2_chip], samples=4)
    result = evaluate(int8, [s2_chip], labels=[water_label], progress=False)
    delta = result.task_delta()
    assert {"miou", "f1", "accuracy"} <= set(delta)
    assert abs(delta["miou"]) <= 0.05


def test_calibration_tiles_are_normalised_exactly_as_eval_feeds_them(tiny_embedding_onnx, s2_chip):
    meta = read_onnx_metadata(tiny_embedding_onnx)
    tiles = calibration_tiles(meta, [s2_chip], samples=2)
    chip = read_chip(s2_chip)
    pixels = chip.pixels[chip.match(meta).indices]
    expected, _ = normalize(meta, pixels[:, :meta.input_size, :meta.input_size], chip.nodata)
    np.testing.assert_array_equal(tiles[0], expected)
    np.testing.assert_array_equal(tiles[1], next(iter(list(normalised_tiles(meta, [s2_chip]))[1:])))
    reader = ChipCalibrationReader(meta, tiles)
    batches = iter(reader.get_next, None)
    assert [b["pixels"].shape for b in batches] == [(1, *tiles[0].shape)] * 2


def test_int8_needs_real_calibration_data(tmp_path, tiny_embedding_onnx):
    with pytest.raises(InputError, match="INT8 needs calibration data"):
        quantize_int8(tiny_embedding_onnx, tmp_path / "x.onnx", [])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no .tif"):
        quantize_int8(tiny_embedding_onnx, tmp_path / "x.onnx", [tmp_path / "empty"])
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.slow
def test_clay_base_fp16_and_int8_on_real_chips(tmp_path, s2_chip, hls_chip):
    """Acceptance: FP16 cosine >= 0.999 on the encoder output; INT8 runs; both report error vs fp32."""
    from trtbench.export import export_onnx
    from trtbench.models import create_model

    fp32 = export_onnx(create_model("clay_base", sensor="sentinel-2-l2a", seed=0, input_size=224), tmp_path / "b.onnx")
    fp16 = convert_fp16(fp32, tmp_path / "b16.onnx")
    int8 = quantize_int8(fp32, tmp_path / "b8.onnx", [hls_chip, s2_chip], samples=3)
    for path in (fp16, int8):
        result = evaluate(path, [s2_chip], progress=False)
        features = next(p for p in result.parity if p.output == "features")
        print(f"{path.name}: features max|diff| {features.max_abs:.4g} cosine {features.cosine:.6f}")
        assert result.passed
        if path == fp16:
            assert features.cosine >= 0.999


@pytest.mark.slow   # two exports (the band-agnostic one takes ~10 s of CPU) and two INT8 calibrations
def test_int8_of_a_band_agnostic_artifact_calibrates_on_a_band_set_with_the_generator_in_float(tmp_path, s2_chip):
    """The calibration feeds a band-agnostic artifact pixels, wavelengths and GSD of its default band set (or of
    the sensor --data-bands names), and leaves the weight generator in float: the INT8 file is then as close to
    PyTorch as the fixed-band INT8 file of the same model, calibrated on the same tiles."""
    from trtbench.export import export_onnx
    from trtbench.export.dynamic_bands import band_agnostic_metadata
    from trtbench.models import create_model

    model = create_model("clay_tiny", sensor="sentinel-2-l2a", seed=0, input_size=64)
    meta = band_agnostic_metadata(model.metadata)
    assert calibration_band_set(meta, None) == meta
    assert calibration_band_set(meta, ["sentinel-2-l1c"]).bands == get_sensor("sentinel-2-l1c").band_names
    assert calibration_band_set(model.metadata, ["sentinel-2-l1c"]) == model.metadata   # fixed bands: its own
    chip = crop_scene(s2_chip, tmp_path / "chip.tif", Window(128, 128, 128, 128))   # 4 calibration tiles of 64
    rel = {}
    for name, dynamic in (("dynamic", True), ("fixed", False)):
        fp32 = export_onnx(model, tmp_path / f"{name}.onnx", dynamic_bands=dynamic)
        int8 = quantize_int8(fp32, tmp_path / f"{name}_int8.onnx", [chip], samples=4)
        assert read_onnx_metadata(int8).band_mode == read_onnx_metadata(fp32).band_mode
        rel[name] = {p.output: p.rel_max for p in evaluate(int8, [chip], tile=128, progress=False).parity}
    graph = onnx.load(str(tmp_path / "dynamic_int8.onnx")).graph
    generator = pixel_independent_nodes(graph, "pixels")
    dequantized = {out for n in graph.node if n.op_type == "DequantizeLinear" for out in n.output}
    generator_matmuls = [n for n in graph.node if n.name in generator and n.op_type in ("MatMul", "Gemm")]
    assert generator_matmuls and not [n.name for n in generator_matmuls if dequantized & set(n.input)]
    for output, fixed_error in rel["fixed"].items():
        assert rel["dynamic"][output] <= 1.1 * fixed_error, rel
