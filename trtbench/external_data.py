"""ONNX models stored as two files: ``model.onnx`` (the graph) and ``model.onnx.data`` (the weights).

A serialized ONNX ``ModelProto`` cannot exceed protobuf's 2 GB limit, so larger models (Prithvi-EO-2.0
600M, TerraMind large in fp32) keep their tensors in an external data file; each tensor records its
``location`` (a path relative to the model's folder), ``offset`` and ``length`` (onnx.proto,
``TensorProto.external_data``; onnx's "External Data" documentation). ONNX Runtime, OpenVINO and
TensorRT's ``parse_from_file`` resolve the location against the model's folder, so the pair moves
together. This module is where trtbench treats the pair as one artifact:

- :func:`check_onnx_files` refuses a model whose data file is missing, empty or shorter than its tensors
  need (found from the graph's structure alone, :func:`trtbench.onnx_header.read_external_data`), naming
  the data file, before any runtime reports it as an opaque load failure;
- :func:`onnx_sha256` is the artifact's identity: a file's sha256 when it is one file (unchanged from
  before), else the sha256 of the member files' sha256 hex digests, one per line, model first
  (``sha256sum model.onnx model.onnx.data | cut -d' ' -f1 | sha256sum`` computes the same), so a changed
  data file changes it;
- :func:`copy_onnx` copies the pair (the data file keeps the name the graph records);
- :func:`save_onnx` writes a ``ModelProto`` as one file or as the pair, atomically;
- :func:`needs_external_data` says when the one-file form is impossible.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING

from .errors import InputError
from .fileio import current_umask, file_sha256
from .onnx_header import ExternalTensor, read_external_data

if TYPE_CHECKING:
    import onnx

PROTOBUF_LIMIT = 2**31 - 1           # bytes: the largest message protobuf serializes
GRAPH_ALLOWANCE = 64 * 2**20          # room kept for the graph's structure next to the weights
SIZE_THRESHOLD = 1024                 # tensors smaller than this stay in the graph (onnx's default)


def data_file_name(model_path: str | Path) -> str:
    """The external data file written for ``model_path``: its name plus ``.data`` (``model.onnx.data``)."""
    return f"{Path(model_path).name}.data"


def check_onnx_files(path: str | Path) -> list[Path]:
    """The files the ONNX model at ``path`` is made of (itself first, then its data files in the order its
    tensors name them), after checking that each data file is there and long enough for its tensors.

    A missing, empty or truncated data file, or a location outside the model's folder, is an
    :class:`InputError` naming the data file and the model."""
    path = Path(path)
    tensors = read_external_data(path)
    by_file: dict[str, list[ExternalTensor]] = {}
    for tensor in tensors:
        by_file.setdefault(tensor.location, []).append(tensor)
    return [path, *(_checked_data_file(path, location, used) for location, used in by_file.items())]


def _checked_data_file(model: Path, location: str, tensors: list[ExternalTensor]) -> Path:
    keep = (f"an ONNX model with external data is two files: keep {location} in the folder of {model.name} "
            "(copy or move both together)")
    if PurePosixPath(location).is_absolute() or PureWindowsPath(location).is_absolute() \
            or ".." in PurePosixPath(location.replace("\\", "/")).parts:
        raise InputError(f"{model} points at its weights outside its folder ({location})",
                         "re-export the model (trtbench writes a relative location beside the model)")
    data = model.parent / location
    if not data.is_file():
        raise InputError(f"the weights of {model} are in {data}, which is missing", keep)
    size = data.stat().st_size
    if size == 0:
        raise InputError(f"the weights file {data} of {model} is empty (0 bytes)",
                         f"copy {location} again from where the model was exported, or export again; {keep}")
    needed = max((t.end for t in tensors if t.end is not None), default=0)
    if size < needed:
        cut = next(t for t in tensors if t.end is not None and t.end > size)
        raise InputError(f"the weights file {data} of {model} is truncated: {size} bytes, but tensor "
                         f"'{cut.name}' needs bytes up to {needed}",
                         f"copy {location} again completely, or export again; {keep}")
    return data


def onnx_sha256(path: str | Path) -> str:
    """The identity of an ONNX artifact: the file's sha256, or for a model with external data the sha256 of
    its files' sha256 digests (model first), so a changed weights file changes it (data files checked)."""
    files = check_onnx_files(path)
    if len(files) == 1:
        return file_sha256(path)
    return hashlib.sha256("".join(f"{file_sha256(f)}\n" for f in files).encode()).hexdigest()


def copy_onnx(src: str | Path, dst: str | Path) -> list[Path]:
    """Copy the ONNX model ``src`` to ``dst`` with its data files beside it (under the names its graph
    records, so ``dst`` may be renamed); returns the files written, ``dst`` first."""
    src, dst = Path(src), Path(dst)
    files = check_onnx_files(src)
    written = [dst]
    shutil.copyfile(src, dst)
    for data in files[1:]:
        target = dst.parent / data.relative_to(src.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data, target)
        written.append(target)
    return written


def needs_external_data(proto: onnx.ModelProto) -> bool:
    """Whether ``proto``'s tensors are too large to serialize as one protobuf message."""
    return _tensor_bytes(proto) > PROTOBUF_LIMIT - GRAPH_ALLOWANCE


def _tensor_bytes(proto: onnx.ModelProto) -> int:
    return sum(t.ByteSize() for t in _initializers(proto.graph))


def _initializers(graph: onnx.GraphProto):
    """The graph's initializers and those of its subgraphs (where exporters put the weights)."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            for sub in [attr.g, *attr.graphs] if attr.HasField("g") else attr.graphs:
                yield from _initializers(sub)


def save_onnx(proto: onnx.ModelProto, path: str | Path, *, external: bool = False, check: bool = True) -> Path:
    """Write ``proto`` to ``path``: one file, or with ``external`` (forced when it needs it) the pair
    ``path`` + ``path.data`` (every tensor of at least 1 KiB in the one data file, by relative location).

    Both files are written in a temporary folder beside ``path`` and checked there (``onnx.checker``'s
    full check, which reads the pair by path), then renamed into place, data file first, so a failure
    leaves nothing and a reader never sees a model without its weights. Written as a pair, ``proto``'s
    tensors are moved out to the data file (onnx converts in place; not copied, since a model near 2 GB
    would need its weights twice in memory): callers do not use it afterwards.
    """
    import onnx

    path = Path(path)
    external = external or needs_external_data(proto)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"output folder does not exist: {parent}", "create it first or choose another -o")
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=parent))
    try:
        staged = work / path.name
        if external:
            location = data_file_name(path)
            onnx.save_model(proto, str(staged), save_as_external_data=True, all_tensors_to_one_file=True,
                            location=location, size_threshold=SIZE_THRESHOLD, convert_attribute=False)
        else:
            onnx.save_model(proto, str(staged))
        if check:
            onnx.checker.check_model(str(staged), full_check=True)
        mode = 0o666 & ~current_umask()
        members = [staged.with_name(data_file_name(path))] if external else []
        for member in [*members, staged]:
            if member.exists():
                member.chmod(mode)
                os.replace(member, parent / member.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path
