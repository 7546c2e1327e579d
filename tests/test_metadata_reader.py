"""The ONNX header reader (:mod:`trtbench.onnx_header`) gives what ``onnx.load`` gives, without the graph.

Correctness only: ``benchmarks/metadata_speed.py`` measures the speed (timings are not asserted in tests).
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from bad_inputs import onnx_with_props
from onnx import TensorProto, helper, numpy_helper
from predict_support import conv_artifact

from trtbench.errors import InputError, TrtbenchError
from trtbench.metadata import ONNX_KEY, read_onnx_metadata
from trtbench.onnx_header import read_onnx_header
from trtbench.sensors import get_sensor


def _with_weights(props: dict[str, str], weights: int = 4096) -> onnx.ModelProto:
    """A model whose graph holds an initializer of ``weights`` floats (the part the reader skips)."""
    import numpy as np

    init = numpy_helper.from_array(np.arange(weights, dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("Add", ["pixels", "w"], ["features"])], "g",
                              [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [weights])],
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, [weights])], [init])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.x", 1)],
                              producer_name="maker")
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model


def _as_onnx_load_sees_it(path: Path) -> dict:
    model = onnx.load(str(path), load_external_data=False)
    return {"ir_version": model.ir_version, "producer_name": model.producer_name,
            "opsets": {o.domain: o.version for o in model.opset_import},
            "metadata_props": {p.key: p.value for p in model.metadata_props}}


def _as_header_sees_it(path: Path) -> dict:
    header = read_onnx_header(path)
    return {"ir_version": header.ir_version, "producer_name": header.producer_name, "opsets": header.opsets,
            "metadata_props": header.metadata_props}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artifact written by trtbench's ONNX writer (metadata, checked save), built node by node: instant."""
    return conv_artifact(tmp_path_factory.mktemp("onnx") / "conv.onnx", get_sensor("sentinel-2-l1c"))


def test_trtbench_artifact_header_matches_onnx_load(artifact):
    assert _as_header_sees_it(artifact) == _as_onnx_load_sees_it(artifact)
    assert ONNX_KEY in read_onnx_header(artifact).metadata_props
    assert read_onnx_metadata(artifact).model == "convnet_test"


def test_several_props_and_utf8_values_match_onnx_load(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_with_weights({"a": "1", "wavelength_units": "µm", "": "empty key"}), str(path))
    assert _as_header_sees_it(path) == _as_onnx_load_sees_it(path)
    assert read_onnx_header(path).metadata_props["wavelength_units"] == "µm"


def test_field_order_does_not_matter(tmp_path):
    # Protobuf merges concatenated messages: metadata written before the graph is as valid as after it.
    model = _with_weights({"k": "v"})
    props_only = onnx.ModelProto()
    props_only.metadata_props.extend(model.metadata_props)
    del model.metadata_props[:]
    path = tmp_path / "reordered.onnx"
    path.write_bytes(props_only.SerializeToString() + model.SerializeToString())
    assert _as_header_sees_it(path) == _as_onnx_load_sees_it(path)
    assert read_onnx_header(path).metadata_props == {"k": "v"}


def test_external_data_is_never_opened(tmp_path):
    path = tmp_path / "external.onnx"
    onnx.save(_with_weights({"k": "v"}, weights=300_000), str(path), save_as_external_data=True,
              all_tensors_to_one_file=True, location="external.onnx.data", size_threshold=1024)
    (tmp_path / "external.onnx.data").unlink()   # a model over 2 GB keeps its weights there
    assert read_onnx_header(path).metadata_props == {"k": "v"}


@pytest.mark.parametrize("keep", [0.3, 0.9, -1])
def test_truncated_file_is_a_clear_error(artifact, tmp_path, keep):
    data = artifact.read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[:-1] if keep == -1 else data[: int(len(data) * keep)])
    with pytest.raises(InputError, match=r"cut\.onnx is not a valid ONNX model: .*truncated") as caught:
        read_onnx_header(cut)
    assert caught.value.fix


def test_empty_file_is_named_empty_not_without_metadata(tmp_path):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.onnx is empty \(0 bytes\)"):
        read_onnx_metadata(empty)


def test_model_without_trtbench_metadata_says_so(tmp_path):
    path = onnx_with_props(tmp_path, "plain.onnx", {"other": "x"})
    with pytest.raises(TrtbenchError, match="plain.onnx is an ONNX model without trtbench metadata"):
        read_onnx_metadata(path)


@pytest.mark.parametrize("content", [b"<html>not found</html>", b"\x08\x07" + b"\x00" * 8, b"\xff" * 64])
def test_other_bytes_are_not_onnx(tmp_path, content):
    path = tmp_path / "x.onnx"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"x\.onnx is not a valid ONNX model"):
        read_onnx_header(path)
