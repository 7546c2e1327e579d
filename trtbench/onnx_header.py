"""An ONNX file's top-level fields (IR version, opsets, ``metadata_props``) without parsing its graph.

``onnx.load`` parses the whole ``ModelProto``, weights included: seconds for a few hundred MB, and
models over protobuf's 2 GB limit keep their weights in external data anyway. Every command that
needs only the trtbench metadata reads the file with the protobuf wire format instead: a ModelProto is
a sequence of ``(field number, wire type)`` tags, and the ``graph`` field (number 7) is length-
prefixed, so it is skipped with one seek whatever its size. The walk also tells an empty, truncated
or non-ONNX file apart, which ``onnx.load`` does not (it returns an empty model for an empty file and
raises protobuf's ``DecodeError`` for the rest).

Field numbers are those of ``onnx.proto`` (``ModelProto``, ``OperatorSetIdProto``,
``StringStringEntryProto``).
"""

from __future__ import annotations

import io
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
