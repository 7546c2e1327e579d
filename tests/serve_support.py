"""A band-agnostic artifact built node by node (no tests here): the signature of a ``--dynamic-bands`` export
(``pixels [batch, bands, h, w]``, ``wavelengths [bands]``, scalar ``gsd``) in a one-node graph, so the tests of
artifact descriptions (STAC MLM items, Triton configs) need no Clay export."""

from __future__ import annotations

from pathlib import Path

from onnx import TensorProto, helper
from predict_support import conv_artifact

from trtbench.artifact import read_artifact_metadata
from trtbench.export.onnx_proto import save_checked, write_metadata
from trtbench.sensors import get_sensor


def band_agnostic_onnx(path: Path) -> Path:
    sensor = get_sensor("sentinel-2-l2a")
    inputs = [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", "bands", "h", "w"]),
              helper.make_tensor_value_info("wavelengths", TensorProto.FLOAT, ["bands"]),
              helper.make_tensor_value_info("gsd", TensorProto.FLOAT, [])]
    nodes = [helper.make_node("ReduceMean", ["pixels"], ["features"], keepdims=1, axes=[1])]
    graph = helper.make_graph(nodes, "agnostic", inputs,
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 1, "h", "w"])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    seed = conv_artifact(path.with_name(f"{path.stem}.seed.onnx"), sensor, task="embedding")
    meta = read_artifact_metadata(seed).with_(band_mode="dynamic", inputs=["pixels", "wavelengths", "gsd"],
                                              outputs=["features"], wavelength_convention="clay", max_bands=16)
    seed.unlink()
    write_metadata(proto, meta)
    return save_checked(proto, path)


def wavelength_weighted_onnx(path: Path) -> Path:
    """A band-agnostic artifact whose features depend on both the bands fed and their wavelengths: the patch
    means of ``sum_b wavelength_b * pixels_b`` (+ gsd), trained range 0.45-2.5 µm, at most 8 bands. It runs a
    512-pixel scene in a blink, so a test can tell which band set reached it (a Clay export takes ~15 s)."""
    sensor = get_sensor("sentinel-2-l2a")
    inputs = [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", "bands", "h", "w"]),
              helper.make_tensor_value_info("wavelengths", TensorProto.FLOAT, ["bands"]),
              helper.make_tensor_value_info("gsd", TensorProto.FLOAT, [])]
    shape = helper.make_tensor("shape", TensorProto.INT64, [4], [1, -1, 1, 1])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [helper.make_node("Reshape", ["wavelengths", "shape"], ["weights"]),
             helper.make_node("Mul", ["pixels", "weights"], ["weighted"]),
             helper.make_node("ReduceSum", ["weighted", "axes"], ["summed"], keepdims=1),
             helper.make_node("AveragePool", ["summed"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
             helper.make_node("Add", ["pooled", "gsd"], ["features"])]
    graph = helper.make_graph(nodes, "wavelength_weighted", inputs,
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                                             ["batch", 1, "grid_h", "grid_w"])], [shape, axes])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    seed = conv_artifact(path.with_name(f"{path.stem}.seed.onnx"), sensor, task="embedding", embed_dim=1)
    meta = read_artifact_metadata(seed).with_(band_mode="dynamic", inputs=["pixels", "wavelengths", "gsd"],
                                              outputs=["features"], wavelength_convention="clay", max_bands=8,
                                              wavelength_range=[0.45, 2.5])
    seed.unlink()
    write_metadata(proto, meta)
    return save_checked(proto, path)
