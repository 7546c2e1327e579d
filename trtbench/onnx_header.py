"""An ONNX file's top-level fields (IR version, opsets, ``metadata_props``) without parsing its graph.

``onnx.load`` parses the whole ``ModelProto``, weights included: seconds for a few hundred MB, and
models over protobuf's 2 GB limit keep their weights in external data anyway. Every command that
needs only the trtbench metadata reads the file with the protobuf wire format instead: a ModelProto is
a sequence of ``(field number, wire type)`` tags, and the ``graph`` field (number 7) is length-
prefixed, so it is skipped with one seek whatever its size. The walk also tells an empty, truncated
or non-ONNX file apart, which ``onnx.load`` does not (it returns an empty model for an empty file and
raises protobuf's ``DecodeError`` for the rest).

Models over 2 GB keep their weights in external data files beside the ``.onnx``;
:func:`read_external_data` lists which file, offset and length each tensor uses by walking the graph the
same way (into initializers, node attributes and subgraphs, seeking past every weight and never opening
the data files), so the pair can be checked, hashed and copied without loading either.

Field numbers are those of ``onnx.proto`` (``ModelProto``, ``OperatorSetIdProto``,
``StringStringEntryProto``, ``GraphProto``, ``NodeProto``, ``AttributeProto``, ``TensorProto``,
``SparseTensorProto``, ``FunctionProto``).
"""

from __future__ import annotations

import io
import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .errors import InputError

# ModelProto fields
IR_VERSION, PRODUCER_NAME, GRAPH, OPSET_IMPORT, METADATA_PROPS = 1, 2, 7, 8, 14
LENGTH_DELIMITED_FIELDS = {2, 3, 4, 6, 7, 8, 14, 20, 25, 26}   # strings and sub-messages of ModelProto
VARINT_FIELDS = {1, 5}                                       # ir_version, model_version
VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5
SMALL_FIELD = 1 << 20   # a field other than the graph larger than this is skipped, not read
# Where tensors sit inside a ModelProto: message kind -> {field number: kind of the sub-message}.
TENSOR_PATHS = {
    "model": {GRAPH: "graph", 25: "function"},                      # ModelProto.graph, .functions
    "function": {7: "node"},                                        # FunctionProto.node
    "graph": {1: "node", 5: "tensor", 15: "sparse"},                # GraphProto.node, .initializer, .sparse_initializer
    "node": {5: "attribute"},                                       # NodeProto.attribute
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},  # t g tensors graphs
    "sparse": {1: "tensor", 2: "tensor"},                           # SparseTensorProto.values, .indices
}
TENSOR_NAME, TENSOR_EXTERNAL_DATA, TENSOR_DATA_LOCATION, EXTERNAL = 8, 13, 14, 1   # TensorProto fields; EXTERNAL = 1


class NotOnnx(ValueError):
    """The bytes are not a serialized ``ModelProto`` (the message says where the walk failed)."""


@dataclass
class OnnxHeader:
    """What an ONNX file says about itself outside its graph."""

    ir_version: int
    producer_name: str = ""
    opsets: dict[str, int] = field(default_factory=dict)           # domain ("" = ai.onnx) -> version
    metadata_props: dict[str, str] = field(default_factory=dict)
    graph_bytes: int = 0


@dataclass(frozen=True)
class ExternalTensor:
    """One tensor whose bytes live in an external data file (``location`` relative to the model's folder)."""

    name: str
    location: str
    offset: int = 0
    length: int | None = None   # None: to the end of the file

    @property
    def end(self) -> int | None:
        """The byte the data file must reach for this tensor (None when the length is not recorded)."""
        return None if self.length is None else self.offset + self.length


def read_onnx_header(path: str | Path) -> OnnxHeader:
    """The header of the ONNX file at ``path``; a missing, empty, truncated or foreign file is an
    :class:`InputError` naming it."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"ONNX file not found: {path}", "check the path")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not an ONNX file", "pass the .onnx file itself")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path} is empty (0 bytes)",
                         "copy or export it again (`trtbench export ... -o FILE.onnx`); the write was interrupted")
    try:
        with open(path, "rb") as fh:
            return parse_header(fh, size)
    except NotOnnx as exc:
        raise InputError(f"{path} is not a valid ONNX model: {exc}",
                         "pass an .onnx file written by `trtbench export`; if it is one, it is damaged or "
                         "incompletely copied: copy or export it again") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", "check the file's permissions") from None


def read_external_data(path: str | Path) -> list[ExternalTensor]:
    """Every tensor of the ONNX file at ``path`` stored in external data, in file order ([] for a one-file
    model). Only the graph's structure is read (the file is memory-mapped and weights stored inline are
    stepped over, so their pages are never read) and the data files are not opened. A missing, empty,
    truncated or foreign file is an :class:`InputError` naming it."""
    path = Path(path)
    read_onnx_header(path)   # the same refusals, worded for the user
    tensors: list[ExternalTensor] = []
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            _walk(buf, 0, len(buf), "model", tensors)
    except NotOnnx as exc:
        raise InputError(f"{path} is not a valid ONNX model: {exc}",
                         "copy or export it again; the graph is damaged") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", "check the file's permissions") from None
    return tensors


def _walk(buf: mmap.mmap, pos: int, end: int, kind: str, tensors: list[ExternalTensor]) -> None:
    """Visit the fields of a ``kind`` message in ``buf[pos:end]``, descending only where tensors can be."""
    children = TENSOR_PATHS.get(kind, {})
    fields: dict[int, Any] = {}
    entries: list[bytes] = []
    while pos < end:
        key, pos = _buffer_varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            fields[number], pos = _buffer_varint(buf, pos, end)
        elif wire in (FIXED64, FIXED32):
            pos += 8 if wire == FIXED64 else 4
        elif wire == LENGTH_DELIMITED:
            length, pos = _buffer_varint(buf, pos, end)
            stop = pos + length
            if stop > end:
                raise NotOnnx(f"a {kind} field needs {length} bytes from byte {pos}, past its end (truncated)")
            if number in children:
                _walk(buf, pos, stop, children[number], tensors)
            elif kind == "tensor" and number == TENSOR_NAME and length <= SMALL_FIELD:
                fields[number] = _text(buf[pos:stop], "tensor name")
            elif kind == "tensor" and number == TENSOR_EXTERNAL_DATA and length <= SMALL_FIELD:
                entries.append(buf[pos:stop])
            pos = stop
        else:
            raise NotOnnx(f"byte {pos} holds an invalid protobuf tag (wire type {wire}) in a {kind}")
    if pos > end:
        raise NotOnnx(f"a {kind} ends inside a fixed-width field (truncated)")
    if kind == "tensor" and fields.get(TENSOR_DATA_LOCATION) == EXTERNAL:
        tensors.append(_external_tensor(str(fields.get(TENSOR_NAME, "")), entries))


def _buffer_varint(buf: mmap.mmap, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 64:
            raise NotOnnx(f"byte {pos} holds a varint longer than 10 bytes")
    raise NotOnnx(f"a field is cut short at byte {end} (truncated)")


def _external_tensor(name: str, entries: list[bytes]) -> ExternalTensor:
    info: dict[str, str] = {}
    for data in entries:
        entry = _submessage(data)
        info[_text(entry.get((1, LENGTH_DELIMITED), b""), "external data key")] = \
            _text(entry.get((2, LENGTH_DELIMITED), b""), "external data value")
    if not info.get("location"):
        raise NotOnnx(f"tensor '{name}' is stored externally but names no location")
    try:
        length = int(info["length"]) if "length" in info else None
        return ExternalTensor(name, info["location"], int(info.get("offset", 0)), length)
    except ValueError:
        raise NotOnnx(f"tensor '{name}' has a non-numeric external data offset or length") from None


def parse_header(fh: BinaryIO, size: int) -> OnnxHeader:
    """Walk the top-level fields of a serialized ModelProto of ``size`` bytes read from ``fh``."""
    ir_version = None
    header = OnnxHeader(ir_version=0)
    while fh.tell() < size:
        start = fh.tell()
        number, wire = _tag(fh, size)
        if number in VARINT_FIELDS and wire != VARINT or number in LENGTH_DELIMITED_FIELDS and wire != LENGTH_DELIMITED:
            raise NotOnnx(f"field {number} at byte {start} has the wrong wire type {wire}")
        if wire == VARINT:
            value = _varint(fh, size)
            if number == IR_VERSION:
                ir_version = value
        elif wire in (FIXED64, FIXED32):
            width = 8 if wire == FIXED64 else 4
            if fh.tell() + width > size:
                raise NotOnnx(f"the file ends inside field {number} (truncated?)")
            fh.seek(width, os.SEEK_CUR)
        elif wire == LENGTH_DELIMITED:
            length = _varint(fh, size)
            end = fh.tell() + length
            if end > size:
                what = "the graph" if number == GRAPH else f"field {number}"
                raise NotOnnx(f"{what} needs {length} bytes from byte {fh.tell()} but the file has {size} "
                              "(truncated)")
            if number == GRAPH:
                header.graph_bytes = length
                fh.seek(end)
            elif number in (PRODUCER_NAME, OPSET_IMPORT, METADATA_PROPS) and length <= SMALL_FIELD:
                _read_field(header, number, fh.read(length))
            else:
                fh.seek(end)
        else:
            raise NotOnnx(f"byte {start} holds an invalid protobuf tag (wire type {wire})")
    if ir_version is None or not header.graph_bytes:
        missing = " and ".join(n for n, ok in (("ir_version", ir_version is not None), ("graph", header.graph_bytes))
                               if not ok)
        raise NotOnnx(f"it has no {missing} (another kind of file, or cut short)")
    header.ir_version = ir_version
    return header


def _read_field(header: OnnxHeader, number: int, data: bytes) -> None:
    if number == PRODUCER_NAME:
        header.producer_name = _text(data, "producer_name")
        return
    entry = _submessage(data)
    if number == OPSET_IMPORT:
        domain = _text(entry.get((1, LENGTH_DELIMITED), b""), "opset domain")
        header.opsets[domain] = entry.get((2, VARINT), 0)
    else:
        key = _text(entry.get((1, LENGTH_DELIMITED), b""), "metadata key")
        header.metadata_props[key] = _text(entry.get((2, LENGTH_DELIMITED), b""), f"metadata '{key}'")


def _submessage(data: bytes) -> dict[tuple[int, int], Any]:
    """The varint and length-delimited fields of a small message (last value wins, as in protobuf)."""
    fh = io.BytesIO(data)
    fields: dict[tuple[int, int], Any] = {}
    while fh.tell() < len(data):
        number, wire = _tag(fh, len(data))
        if wire == VARINT:
            fields[(number, wire)] = _varint(fh, len(data))
        elif wire == LENGTH_DELIMITED:
            length = _varint(fh, len(data))
            if fh.tell() + length > len(data):
                raise NotOnnx("an opset or metadata entry is cut short")
            fields[(number, wire)] = fh.read(length)
        else:
            raise NotOnnx(f"an opset or metadata entry holds wire type {wire}")
    return fields


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotOnnx(f"{what} is not UTF-8 text") from None


def _tag(fh: BinaryIO, size: int) -> tuple[int, int]:
    key = _varint(fh, size)
    number, wire = key >> 3, key & 7
    if number == 0:
        raise NotOnnx(f"byte {fh.tell() - 1} holds field number 0, which protobuf never writes")
    return number, wire


def _varint(fh: BinaryIO, size: int) -> int:
    value = shift = 0
    while True:
        byte = fh.read(1)
        if not byte:
            raise NotOnnx(f"the file ends inside a field at byte {size} (truncated)")
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
        if shift >= 64:
            raise NotOnnx(f"byte {fh.tell()} holds a varint longer than 10 bytes")
