"""The TensorRT ONNX-parser support table (our own data file, with the TensorRT version it describes)."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

TABLE_FILE = "tensorrt_10_15.toml"


@dataclass(frozen=True)
class OpSupport:
    op_type: str
    supported: bool = True
    types: frozenset[str] | None = None          # input-0 element types; None = not restricted by the table
    const_inputs: tuple[str, ...] = ()
    zero_inputs: tuple[str, ...] = ()
    max_outputs: int | None = None
    ones_attrs: tuple[str, ...] = ()
    allowed: dict[str, list[Any]] = field(default_factory=dict)
    forbidden_attrs: tuple[str, ...] = ()
    rank: tuple[int, ...] = ()
    static_channels: bool = False
    static_input: bool = False
    data_dependent: bool = False
    note: str = ""


@dataclass(frozen=True)
class SupportTable:
    tensorrt: str
    opset_min: int
    opset_max: int
    source: str
    ops: dict[str, OpSupport]


@functools.cache
def load_table() -> SupportTable:
    data = tomllib.loads(resources.files("trtbench.check").joinpath(TABLE_FILE).read_text())
    meta = data["table"]
    ops = {}
    for name, entry in data["ops"].items():
        entry = dict(entry)
        if "types" in entry:
            entry["types"] = frozenset(entry["types"].split())
        for key in ("const_inputs", "zero_inputs", "ones_attrs", "forbidden_attrs", "rank"):
            if key in entry:
                entry[key] = tuple(entry[key])
        ops[name] = OpSupport(name, **entry)
    return SupportTable(meta["tensorrt"], meta["opset_min"], meta["opset_max"], meta["source"], ops)
