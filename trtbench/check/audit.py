"""Static TensorRT readiness audit of an ONNX file: what TensorRT's parser would reject, and why.

Runs anywhere (no TensorRT): the opset range, every node against the support table of
:mod:`trtbench.check.support` (op supported, input types, inputs that must be build-time constants,
Q/DQ zero points, output counts, attribute values, ranks), convolutions whose input channel count is
not static (TensorRT needs it at build time), data-dependent shapes, graph inputs that need an
optimization profile, and op types the parser would hand to its plugin fallback, checked against
what that fallback accepts (plugin name = op type, version and namespace from the ``plugin_version``
and ``plugin_namespace`` attributes; scalar/list/tensor attributes only). ONNX local functions are
inlined before the audit, as TensorRT's parser does, so their bodies are audited node by node; the
function itself is reported, since a registered plugin of the same name takes precedence (TRT >= 10.7).
A model with external data (over 2 GB) is audited from its graph: the data file is checked (there, whole)
and only the small constants the audit reads by value are loaded from it, never the weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.inliner
from onnx import AttributeProto, TensorProto, numpy_helper
from onnx.external_data_helper import load_external_data_for_tensor

from ..errors import InputError
from ..external_data import check_onnx_files
from ..onnx_header import read_onnx_header
from .support import OpSupport, SupportTable, load_table

SMALL_CONSTANT = 4096   # elements: constants read by value (zero points, axes, shapes); weights never are
TYPE_NAMES = {
    TensorProto.FLOAT: "FP32", TensorProto.FLOAT16: "FP16", TensorProto.BFLOAT16: "BF16",
    TensorProto.DOUBLE: "DOUBLE", TensorProto.INT8: "INT8", TensorProto.UINT8: "UINT8", TensorProto.INT32: "INT32",
    TensorProto.INT64: "INT64", TensorProto.BOOL: "BOOL", TensorProto.FLOAT8E4M3FN: "FP8", TensorProto.INT4: "INT4",
    TensorProto.FLOAT4E2M1: "FP4",
}
# The parser's plugin fallback maps these attribute types to plugin fields; anything else is rejected.
PLUGIN_ATTR_TYPES = {AttributeProto.FLOAT, AttributeProto.INT, AttributeProto.STRING, AttributeProto.FLOATS,
                     AttributeProto.INTS, AttributeProto.TENSOR}
PLUGIN_REJECTED_TENSOR_TYPES = {TensorProto.INT64, TensorProto.BOOL, TensorProto.UINT8}
PLUGIN_META_ATTRS = ("plugin_version", "plugin_namespace")
SEVERITIES = ("error", "plugin", "warning", "info")


@dataclass(frozen=True)
class Finding:
    severity: str    # error: the parser/builder would fail; plugin: needs a registered plugin; warning; info
    node: str        # node name ("" for graph-level findings)
    op_type: str
    message: str

    def __str__(self) -> str:
        where = f"node '{self.node}' ({self.op_type}): " if self.node else ""
        return f"{self.severity.upper():>7}  {where}{self.message}"


@dataclass
class Audit:
    path: str
    tensorrt: str
    opset: int
    nodes: int
    findings: list[Finding] = field(default_factory=list)
    plugins: list[dict[str, str]] = field(default_factory=list)   # name, version, namespace of needed plugins

    def by(self, severity: str) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]

    def passed(self, registered_plugins: tuple[str, ...] = ()) -> bool:
        """No errors, and every needed plugin is declared as registered."""
        return not self.by("error") and all(p["name"] in registered_plugins for p in self.plugins)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def audit_onnx(path: str | Path, table: SupportTable | None = None) -> Audit:
    """Audit ``path`` against ``table`` (default: the vendored TensorRT table)."""
    table = table or load_table()
    model = _load(path)
    audit = Audit(str(path), table.tensorrt, _opset(model), 0)
    _check_opset(audit, table)
    functions = {(f.domain, f.name) for f in model.functions}
    audit.findings += list(_function_calls(model.graph, functions))
    if model.functions:
        model = onnx.inliner.inline_local_functions(model)
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as exc:  # noqa: BLE001 - the audit goes on without types and shapes
        audit.findings.append(Finding("warning", "", "", f"shape inference failed ({str(exc)[:200]}); type, rank "
                                      "and channel checks are incomplete"))
    _check_graph_inputs(audit, model.graph)
    _GraphAuditor(audit, table, model).run(model.graph)
    return audit


def _load(path: str | Path) -> onnx.ModelProto:
    read_onnx_header(path)  # an empty, truncated or foreign file is refused naming what is wrong with it
    external = len(check_onnx_files(path)) > 1   # a missing or cut external data file is named
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - any decode failure means "not an ONNX file"
        raise InputError(f"{path} is not a readable ONNX file ({type(exc).__name__})",
                         "pass a .onnx model (e.g. from `trtbench export`)") from None
    if external:
        for tensor in model.graph.initializer:   # zero points, axes, shapes: what the audit reads by value
            if tensor.data_location == TensorProto.EXTERNAL and _elements(tensor) <= SMALL_CONSTANT:
                load_external_data_for_tensor(tensor, str(Path(path).parent))
                tensor.data_location = TensorProto.DEFAULT
                del tensor.external_data[:]
    return model


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _check_opset(audit: Audit, table: SupportTable) -> None:
    if not table.opset_min <= audit.opset <= table.opset_max:
        audit.findings.append(Finding("error", "", "", f"opset {audit.opset} is outside TensorRT {table.tensorrt}'s "
                                      f"range {table.opset_min}..{table.opset_max}: re-export at a supported opset"))


def _function_calls(graph: onnx.GraphProto, functions: set[tuple[str, str]]) -> Iterator[Finding]:
    for node in graph.node:
        if (node.domain, node.op_type) in functions:
            yield Finding("info", node.name, node.op_type, f"local function {node.domain}::{node.op_type}: TensorRT "
                          "inlines its body (audited below); a registered plugin of this name replaces it (TRT >= 10.7)")
            yield from (Finding("warning", node.name, node.op_type, m) for m in _plugin_attr_problems(node))


def _check_graph_inputs(audit: Audit, graph: onnx.GraphProto) -> None:
    initializers = {i.name for i in graph.initializer}
    for value in graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        if not tensor.HasField("shape"):
            audit.findings.append(Finding("error", "", "", f"input '{value.name}' has no known rank; TensorRT needs "
                                          "the rank of every network input: re-export with shapes"))
            continue
        dynamic = [d.dim_param or "?" for d in tensor.shape.dim if not d.HasField("dim_value")]
        if dynamic:
            audit.findings.append(Finding("info", "", "", f"input '{value.name}' has dynamic dims "
                                          f"({', '.join(dynamic)}): the engine needs an optimization profile "
                                          "(trtbench export --shapes min=..,opt=..,max=..)"))
        if tensor.elem_type == TensorProto.DOUBLE:
            audit.findings.append(Finding("warning", "", "", f"input '{value.name}' is DOUBLE: TensorRT casts it to "
                                          "FP32, clamping to +-FLT_MAX"))


class _GraphAuditor:
    """Walks a graph (and its subgraphs) with the types, shapes and constants known at each tensor."""

    def __init__(self, audit: Audit, table: SupportTable, model: onnx.ModelProto):
        self.audit = audit
        self.table = table
        self.opset = audit.opset
        self.values: dict[str, onnx.TypeProto.Tensor] = {}
        self.constants: dict[str, np.ndarray | None] = {}   # build-time constants (value, when small)
        self.consumed: set[str] = set()
        self._index(model.graph)

    def _index(self, graph: onnx.GraphProto) -> None:
        for value in (*graph.input, *graph.value_info, *graph.output):
            if value.type.HasField("tensor_type"):
                self.values[value.name] = value.type.tensor_type
        for init in graph.initializer:
            self.constants[init.name] = numpy_helper.to_array(init) if _small(init) else None
        self.consumed |= {i for n in graph.node for i in n.input} | {o.name for o in graph.output}

    def run(self, graph: onnx.GraphProto) -> None:
        for node in graph.node:
            self.audit.nodes += 1
            self._track_constant(node)
            self._check(node)
            for attr in node.attribute:
                for sub in ([attr.g] if attr.type == AttributeProto.GRAPH else list(attr.graphs)):
                    self._index(sub)
                    self.run(sub)

    def _track_constant(self, node: onnx.NodeProto) -> None:
        # A node whose inputs are all constants is folded by TensorRT: its outputs are build-time constants.
        if node.op_type == "Constant":
            attr = next((a for a in node.attribute if a.name == "value"), None)
            self.constants[node.output[0]] = (numpy_helper.to_array(attr.t) if attr is not None and _small(attr.t)
                                              else None)
        elif node.input and not node.op_type.startswith("Random") and all(
                i in self.constants for i in node.input if i):
            self.constants.update({o: None for o in node.output})

    def _check(self, node: onnx.NodeProto) -> None:
        spec = self.table.ops.get(node.op_type)
        if spec is None:
            self._plugin(node)
        elif not spec.supported:
            self._add("error", node, f"TensorRT {self.table.tensorrt} does not support {node.op_type}"
                      + (f" ({spec.note})" if spec.note else ""))
        else:
            for message in self._restrictions(node, spec):
                self._add("error", node, message)
            if spec.data_dependent:
                self._add("warning", node, "its output shape depends on the data: TensorRT needs an output "
                          "allocator and cannot fuse across it")

    def _restrictions(self, node: onnx.NodeProto, spec: OpSupport) -> Iterator[str]:
        dtype = self._type(node.input[0]) if node.input and node.input[0] else None
        if spec.types is not None and dtype and dtype not in spec.types and dtype != "DOUBLE":
            yield f"input type {dtype} is not supported (TensorRT {self.table.tensorrt}: {', '.join(sorted(spec.types))})"
        names = self._input_names(node)
        for name in spec.const_inputs:
            tensor = names.get(name)
            if tensor and tensor not in self.constants:
                yield f"input '{name}' ({tensor}) must be a build-time constant; fold constants or make it an initializer"
        for name in spec.zero_inputs:
            value = self.constants.get(names.get(name, ""))
            if value is not None and np.any(value != 0):
                yield f"'{name}' must be zero (TensorRT takes symmetric quantization only)"
        used = [o for o in node.output if o and o in self.consumed]
        if spec.max_outputs is not None and len(used) > spec.max_outputs:
            yield f"only its first {spec.max_outputs} output(s) are supported, {len(used)} are used"
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        for name in spec.ones_attrs:
            if name in attrs and any(v != 1 for v in attrs[name]):
                yield f"attribute {name}={list(attrs[name])} must be all ones"
        for name, allowed in spec.allowed.items():
            value = attrs.get(name)
            value = value.decode() if isinstance(value, bytes) else value
            if value is not None and value not in allowed:
                yield f"attribute {name}={value!r} is unsupported (allowed: {', '.join(map(str, allowed))})"
        for name in spec.forbidden_attrs:
            if name in attrs:
                yield f"attribute '{name}' is unsupported"
        shape = self._shape(node.input[0]) if node.input else None
        if spec.rank and shape is not None and len(shape) not in spec.rank:
            yield f"input rank {len(shape)} is unsupported (allowed: {', '.join(map(str, spec.rank))})"
        if spec.static_channels:
            yield from self._channels(node, shape)

    def _channels(self, node: onnx.NodeProto, shape: list[int | str | None] | None) -> Iterator[str]:
        if shape is None or len(shape) < 2:
            self._add("warning", node, "input shape unknown: cannot prove its channel count is static, which "
                      "TensorRT requires")
        elif not isinstance(shape[1], int):
            yield (f"input channel count is dynamic ({shape[1] or 'unknown'}); TensorRT needs it at build time: "
                   "fix the band count, or express the op as patchify + MatMul (band-agnostic export)")

    def _plugin(self, node: onnx.NodeProto) -> None:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        version = _text(attrs.get("plugin_version", b"1"))
        namespace = _text(attrs.get("plugin_namespace", b""))
        self.audit.plugins.append({"name": node.op_type, "version": version, "namespace": namespace})
        self._add("plugin", node, f"not an ONNX op TensorRT {self.table.tensorrt} implements: needs plugin "
                  f"{node.op_type} version {version} namespace {namespace!r} registered (load its library first)")
        for message in _plugin_attr_problems(node):
            self._add("error", node, message)

    def _add(self, severity: str, node: onnx.NodeProto, message: str) -> None:
        self.audit.findings.append(Finding(severity, node.name, node.op_type, message))

    def _input_names(self, node: onnx.NodeProto) -> dict[str, str]:
        try:
            schema = onnx.defs.get_schema(node.op_type, self.opset, node.domain)
        except onnx.defs.SchemaError:
            return {}
        return {formal.name: actual for formal, actual in zip(schema.inputs, node.input) if actual}

    def _type(self, name: str) -> str | None:
        value = self.values.get(name)
        return TYPE_NAMES.get(value.elem_type) if value is not None and value.elem_type else None

    def _shape(self, name: str) -> list[int | str | None] | None:
        value = self.values.get(name)
        if value is None or not value.HasField("shape"):
            return None
        return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in value.shape.dim]


def _plugin_attr_problems(node: onnx.NodeProto) -> Iterator[str]:
    """Attributes the parser's plugin fallback cannot turn into plugin fields."""
    for attr in node.attribute:
        if attr.name in PLUGIN_META_ATTRS:
            continue
        if attr.type not in PLUGIN_ATTR_TYPES:
            yield (f"attribute '{attr.name}' of type {AttributeProto.AttributeType.Name(attr.type)} cannot become a "
                   "plugin field (use FLOAT, INT, STRING, FLOATS, INTS or a tensor)")
        elif attr.type == AttributeProto.TENSOR and attr.t.data_type in PLUGIN_REJECTED_TENSOR_TYPES:
            yield (f"tensor attribute '{attr.name}' is {TensorProto.DataType.Name(attr.t.data_type)}, which the "
                   "plugin fallback rejects (use FLOAT or INT32 tensors)")


def _small(tensor: onnx.TensorProto) -> bool:
    # Zero points and axes are small; weights are never needed by value, so skip decoding them.
    return _elements(tensor) <= SMALL_CONSTANT and not tensor.data_location


def _elements(tensor: onnx.TensorProto) -> int:
    return int(np.prod(tensor.dims, dtype=np.int64))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
