"""`trtbench check`: a static TensorRT readiness audit that names the node at fault."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from trtbench.check import audit_onnx, format_audit, load_table
from trtbench.cli import cli


def _save(tmp_path, nodes, inputs, outputs, initializers=(), functions=(), opset=18, name="m.onnx"):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    helper.make_opsetid("trtbench", 1)], functions=list(functions))
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def _vi(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def _conv(tmp_path, channels):
    weight = numpy_helper.from_array(np.zeros((4, 3, 8, 8), np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="patch_embed", strides=[8, 8])
    return _save(tmp_path, [node], [_vi("x", ["batch", channels, 64, 64])], [_vi("y", None)], [weight])


def test_table_records_the_tensorrt_version_and_opset_range():
    table = load_table()
    assert (table.tensorrt, table.opset_min, table.opset_max) == ("10.15", 9, 24)
    assert table.ops["LayerNormalization"].max_outputs == 1 and not table.ops["Unique"].supported


@pytest.mark.parametrize("fixture", ["tiny_embedding_onnx", "tiny_water_onnx"])
def test_clay_exports_are_ready_for_tensorrt(request, fixture):
    audit = audit_onnx(request.getfixturevalue(fixture))
    assert audit.passed(), format_audit(audit)
    assert audit.nodes > 100 and not audit.plugins


def test_dynamic_input_channels_of_a_convolution_are_an_error_naming_the_node(tmp_path):
    assert audit_onnx(_conv(tmp_path, 3)).passed()
    audit = audit_onnx(_conv(tmp_path, "bands"))
    (error,) = audit.by("error")
    assert error.node == "patch_embed" and "channel count is dynamic (bands)" in error.message


def test_unsupported_op_is_an_error_naming_the_node(tmp_path):
    node = helper.make_node("Unique", ["x"], ["y"], name="dedupe")
    audit = audit_onnx(_save(tmp_path, [node], [_vi("x", [8])], [_vi("y", None)]))
    assert [(f.node, f.op_type) for f in audit.by("error")] == [("dedupe", "Unique")]
    assert "NOT READY" in format_audit(audit) and "node 'dedupe' (Unique)" in format_audit(audit)


def test_restrictions_from_the_table_are_checked(tmp_path):
    nodes = [
        helper.make_node("ReduceMean", ["x", "axes"], ["m"], name="mean_dynamic_axes"),
        helper.make_node("LayerNormalization", ["x", "g", "b"], ["y", "mu", "rstd"], name="ln_three_outputs"),
        helper.make_node("Resize", ["x", "", "scales"], ["r"], name="cubic", mode="cubic"),
    ]
    inits = [numpy_helper.from_array(np.ones(4, np.float32), n) for n in ("g", "b", "scales")]
    outputs = [_vi(n, None) for n in ("m", "y", "mu", "rstd", "r")]
    audit = audit_onnx(_save(tmp_path, nodes, [_vi("x", [1, 2, 4, 4]), _vi("axes", [1], TensorProto.INT64)],
                             outputs, inits))
    messages = {f.node: f.message for f in audit.by("error")}
    assert "must be a build-time constant" in messages["mean_dynamic_axes"]
    assert "only its first 1 output(s)" in messages["ln_three_outputs"]
    assert "mode='cubic'" in messages["cubic"]


def test_asymmetric_quantization_is_an_error(tmp_path):
    inits = [numpy_helper.from_array(np.array(0.1, np.float32), "s"), numpy_helper.from_array(np.array(3, np.int8), "z")]
    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q_asym")
    audit = audit_onnx(_save(tmp_path, [node], [_vi("x", [4])], [_vi("q", None, TensorProto.INT8)], inits))
    assert [f.node for f in audit.by("error")] == ["q_asym"]


def test_custom_op_needs_a_plugin_and_its_attributes_are_checked(tmp_path):
    ok = helper.make_node("DynamicPatchEmbed", ["x"], ["y"], name="dpe", domain="trtbench", patch_size=8,
                          scale=0.02, plugin_version="2", plugin_namespace="trtbench")
    bad = helper.make_node("DynamicPatchEmbed", ["y"], ["z"], name="dpe_bad", domain="trtbench",
                           modes=["a", "b"], table=numpy_helper.from_array(np.arange(3, dtype=np.int64)))
    audit = audit_onnx(_save(tmp_path, [ok, bad], [_vi("x", [1, 10, 64, 64])], [_vi("z", None)]))
    assert audit.plugins[0] == {"name": "DynamicPatchEmbed", "version": "2", "namespace": "trtbench"}
    assert "needs plugin DynamicPatchEmbed version 2 namespace 'trtbench'" in audit.by("plugin")[0].message
    errors = {f.message.split("'")[1] for f in audit.by("error")}
    assert errors == {"modes", "table"} and {f.node for f in audit.by("error")} == {"dpe_bad"}
    assert not audit.passed() and not audit.passed(("DynamicPatchEmbed",))


def test_local_function_bodies_are_audited(tmp_path):
    body = [helper.make_node("Conv", ["pixels", "w"], ["out"], name="body_conv", strides=[8, 8])]
    function = helper.make_function("trtbench", "DynamicPatchEmbed", ["pixels", "w"], ["out"], body,
                                    [helper.make_opsetid("", 18)])
    call = helper.make_node("DynamicPatchEmbed", ["x", "w"], ["y"], name="embed", domain="trtbench")
    weight = numpy_helper.from_array(np.zeros((4, 3, 8, 8), np.float32), "w")
    audit = audit_onnx(_save(tmp_path, [call], [_vi("x", [1, "bands", 64, 64])], [_vi("y", None)], [weight],
                             [function]))
    assert any(f.node == "embed" and "local function" in f.message for f in audit.by("info"))
    assert not audit.plugins                     # a local function is not a plugin requirement
    (error,) = audit.by("error")
    assert "body_conv" in error.node and "channel count is dynamic" in error.message


def test_opset_outside_the_tables_range_is_an_error(tiny_embedding_onnx):
    table = dataclasses.replace(load_table(), opset_max=17)
    audit = audit_onnx(tiny_embedding_onnx, table)
    assert any("opset 18 is outside TensorRT 10.15's range 9..17" in f.message for f in audit.by("error"))


def test_check_command_exit_codes(tmp_path, tiny_embedding_onnx):
    runner = CliRunner()
    ready = runner.invoke(cli, ["check", str(tiny_embedding_onnx)])
    assert ready.exit_code == 0 and "READY for TensorRT" in ready.output
    broken = runner.invoke(cli, ["check", str(_conv(tmp_path, "bands"))])
    assert broken.exit_code == 1 and "node 'patch_embed' (Conv)" in broken.output
