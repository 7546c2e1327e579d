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
