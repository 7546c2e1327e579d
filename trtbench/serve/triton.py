"""An exported artifact as a Triton Inference Server model repository.

Layout and fields follow Triton's model repository and model configuration documentation
(triton-inference-server/server ``docs/user_guide/model_repository.md`` and ``model_configuration.md``, and
the ``ModelConfig`` message of ``model_config.proto``)::

    REPO/NAME/config.pbtxt
    REPO/NAME/1/model.onnx     (backend "onnxruntime")   or   REPO/NAME/1/model.plan   (backend "tensorrt")

- Inputs and outputs take their names, dtypes and dims from the artifact (the ONNX graph; for an engine, the
  ONNX it was built from and its optimization profile: a dimension fixed in the profile stays fixed, the others
  are -1). With ``max_batch_size > 0`` Triton adds the batch dimension itself, so ``dims`` leave it out.
- A band-agnostic artifact's ``wavelengths`` (one per band) and ``gsd`` (a scalar) have no batch dimension, so
  its config has ``max_batch_size: 0`` (full shapes, batch included; no dynamic batching, which needs a
  batch dimension), and the scalar is declared ``dims: [1]`` with ``reshape { shape: [] }``, Triton's way
  to feed a rank-0 tensor.
- Dynamic batching uses the preferred sizes from the engine profile (its opt batch, and its max) or, for ONNX,
  the ones given (default: ``predict``'s batch of 4 and the maximum).
- The trtbench metadata (bands, normalisation, task, classes) travels as the ``trtbench.metadata`` parameter,
  and for an engine the sidecar's facts (TensorRT version, GPU, compute capability, precision, hash) as
  parameters too; the sidecar file is kept beside the plan, so ``trtbench`` can still check the engine.
- An ONNX model over 2 GB comes with its external data file (``NAME.onnx.data``): it is copied into the version
  folder beside ``model.onnx`` under the name the graph records, where ONNX Runtime looks for it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..artifact import read_artifact_metadata
from ..engine_meta import EngineSidecar, is_engine_path, read_sidecar, sidecar_path, verify_engine_file
from ..errors import InputError
from ..external_data import copy_onnx
from ..metadata import ModelMetadata
from ..signature import engine_source_onnx, onnx_signature

# numpy dtype name -> Triton DataType enum name (model_config.proto).
TRITON_DTYPES = {"bool": "TYPE_BOOL", "uint8": "TYPE_UINT8", "uint16": "TYPE_UINT16", "uint32": "TYPE_UINT32",
                 "uint64": "TYPE_UINT64", "int8": "TYPE_INT8", "int16": "TYPE_INT16", "int32": "TYPE_INT32",
                 "int64": "TYPE_INT64", "float16": "TYPE_FP16", "float32": "TYPE_FP32", "float64": "TYPE_FP64"}
KINDS = {"auto": "KIND_AUTO", "cpu": "KIND_CPU", "gpu": "KIND_GPU"}
VERSION = "1"


@dataclass(frozen=True)
class ServeOptions:
    """How Triton should run the model: batching and instances (the ``trtbench triton`` options)."""

    name: str | None = None               # default: the artifact's file stem
    max_batch: int = 8                    # ONNX only; an engine's is its profile's max batch
    preferred: tuple[int, ...] = ()       # ONNX only; default (4, max_batch)
    queue_delay_us: int = 100
    instances: int = 1
    kind: str = "auto"                    # auto: GPU for engines, Triton's choice for ONNX


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str        # numpy dtype name
    dims: list[int]   # full shape (batch first for batched tensors), -1 where dynamic


def model_name(artifact: Path, options: ServeOptions) -> str:
    name = options.name or re.sub(r"[^A-Za-z0-9_.-]", "_", artifact.stem)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name in (".", ".."):
        raise InputError(f"--name {name!r} is not a usable Triton model (folder) name",
                         "use letters, digits, '_', '-' and '.'")
    return name


def triton_config(artifact: str | Path, options: ServeOptions = ServeOptions()) -> str:
    """The ``config.pbtxt`` text for ``artifact`` (protobuf text format of Triton's ``ModelConfig``)."""
    artifact = Path(artifact)
    meta = read_artifact_metadata(artifact)
    sidecar = read_sidecar(artifact) if is_engine_path(artifact) else None
    inputs, outputs = _tensors(artifact, meta, sidecar)
    batched = all(t.dims and t.dims[0] == -1 for t in inputs) and meta.band_mode != "dynamic"
    max_batch, preferred = _batching(sidecar, options) if batched else (0, ())
    lines = [f'name: "{model_name(artifact, options)}"',
             f'backend: "{"tensorrt" if sidecar else "onnxruntime"}"',
             f'platform: "{"tensorrt_plan" if sidecar else "onnxruntime_onnx"}"',
             f"max_batch_size: {max_batch}"]
    lines += [_tensor_block("input", t, batched) for t in inputs]
    lines += [_tensor_block("output", t, batched) for t in outputs]
    if batched:
        lines.append(f"dynamic_batching {{ preferred_batch_size: [ {', '.join(map(str, preferred))} ] "
                     f"max_queue_delay_microseconds: {options.queue_delay_us} }}")
    kind = KINDS[options.kind] if options.kind != "auto" else ("KIND_GPU" if sidecar else "KIND_AUTO")
    lines.append(f"instance_group [ {{ count: {options.instances} kind: {kind} }} ]")
    for key, value in _parameters(meta, sidecar).items():
        lines.append(f'parameters {{ key: "{key}" value {{ string_value: {_quoted(value)} }} }}')
    return "\n".join(lines) + "\n"


def write_repository(artifact: str | Path, repo: str | Path, options: ServeOptions = ServeOptions()) -> Path:
    """Write ``REPO/NAME/`` (config and version 1 of the model) for ``artifact``; returns the model folder.

    The folder is assembled under a temporary name inside ``REPO`` and renamed into place when complete,
    so Triton (which may poll the repository) never sees half a model; an existing model folder is refused.
    """
    artifact, repo = Path(artifact), Path(repo)
    if not artifact.is_file():
        raise InputError(f"artifact not found: {artifact}", "pass the .onnx file (or engine) written by "
                         "`trtbench export`")
    name = model_name(artifact, options)
    target = repo / name
    if target.exists():
        raise InputError(f"{target} already exists in the model repository",
                         "remove it, or choose another --name (Triton serves one model per folder)")
    sidecar = read_sidecar(artifact) if is_engine_path(artifact) else None
    if sidecar:
        verify_engine_file(artifact, sidecar)   # never package a truncated or replaced plan
    config = triton_config(artifact, options)
    repo.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=repo))
    try:
        version = work / VERSION
        version.mkdir()
        model_file = version / ("model.plan" if sidecar else "model.onnx")
        if sidecar:
            shutil.copyfile(artifact, model_file)
        else:   # with its external data file, under the name its graph records (ONNX Runtime finds it there)
            copy_onnx(artifact, model_file)
        if sidecar:
            shutil.copyfile(sidecar_path(artifact), version / "model.plan.json")
        (work / "config.pbtxt").write_text(config)
        work.chmod(0o777 & ~_umask())
        os.replace(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _tensors(artifact: Path, meta: ModelMetadata, sidecar: EngineSidecar | None) -> tuple[list[Tensor], list[Tensor]]:
    source = engine_source_onnx(artifact, sidecar) if sidecar else artifact
    if source is None:
        raise InputError(f"the ONNX file {artifact} was built from ({sidecar.source_onnx}) is not here, so its "
                         "output shapes and dtypes are unknown",
                         f"keep {Path(sidecar.source_onnx).name} beside the engine (export leaves it there)")
    signature = onnx_signature(source)
    missing = [n for n in [*meta.inputs, *meta.outputs] if n not in signature]
    if missing:
        raise InputError(f"{source} has no tensor named {', '.join(missing)} that its metadata lists",
                         "re-export the artifact with `trtbench export`")
    inputs = []
    for name in meta.inputs:
        dtype, dims = signature[name]
        if sidecar and name in sidecar.profiles[0]:
            span = sidecar.profiles[0][name]
            dims = [lo if lo == hi else -1 for lo, hi in zip(span["min"], span["max"])]
        inputs.append(Tensor(name, dtype, dims))
    outputs = [Tensor(name, *signature[name]) for name in meta.outputs]
    return inputs, outputs


def _batching(sidecar: EngineSidecar | None, options: ServeOptions) -> tuple[int, tuple[int, ...]]:
    if sidecar:
        span = next(iter(sidecar.profiles[0].values()))
        top = int(span["max"][0])
        return top, tuple(sorted({int(span["opt"][0]), top}))
    if options.max_batch < 1:
        raise InputError(f"--max-batch {options.max_batch} is not a batch size", "pass --max-batch 1 or more")
    preferred = options.preferred or tuple(sorted({min(4, options.max_batch), options.max_batch}))
    too_big = [b for b in preferred if not 1 <= b <= options.max_batch]
    if too_big:
        raise InputError(f"--preferred-batch {','.join(map(str, too_big))} is outside 1..{options.max_batch}",
                         "give preferred batch sizes no larger than --max-batch")
    return options.max_batch, tuple(preferred)


def _tensor_block(kind: str, tensor: Tensor, batched: bool) -> str:
    if tensor.dtype not in TRITON_DTYPES:
        raise InputError(f"{kind} {tensor.name} has dtype {tensor.dtype}, which Triton cannot carry",
                         "export the artifact with `trtbench export` (float inputs and outputs)")
    dims = tensor.dims[1:] if batched else tensor.dims
    reshape = ""
    if not dims:   # a scalar: Triton needs at least one dimension, reshaped away for the model
        dims, reshape = [1], " reshape { shape: [ ] }"
    return (f'{kind} [ {{ name: "{tensor.name}" data_type: {TRITON_DTYPES[tensor.dtype]} '
            f"dims: [ {', '.join(map(str, dims))} ]{reshape} }} ]")


def _parameters(meta: ModelMetadata, sidecar: EngineSidecar | None) -> dict[str, str]:
    params = {"trtbench.metadata": json.dumps(asdict(meta), sort_keys=True)}
    if sidecar:
        runtime = sidecar.runtime
        params |= {"trtbench.tensorrt_version": runtime.tensorrt_version, "trtbench.gpu": runtime.gpu_name,
                   "trtbench.compute_capability": runtime.compute_capability, "trtbench.precision": sidecar.precision,
                   "trtbench.engine_sha256": sidecar.engine_sha256}
    return params


def _quoted(text: str) -> str:
    """``text`` as a protobuf text-format string: C escapes, and every non-ASCII byte of its UTF-8 in octal
    (the one escape every protobuf text parser reads)."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
