"""An exported artifact described as a STAC Item with the Machine Learning Model (MLM) extension, and back.

The item is built from what the artifact itself records (ONNX ``metadata_props`` or the engine sidecar, and
the ONNX graph's input/output signature), so ``trtbench stac`` needs only the file. Field meanings follow the
MLM README (stac-extensions/mlm v1.5.2): ``mlm:input`` holds the bands (named in the item's ``eo:bands`` with
common names and centre wavelengths), the tensor shape with ``-1`` for every dynamic dimension and its
``dim_order``, and the per-band z-score ``value_scaling`` (the artifact's mean/std in native units);
``mlm:output`` the task and, for segmentation, the classes (classification extension); the model asset
carries ``file:checksum`` (a sha2-256 multihash, file extension v2.1.0) so a reader can refuse another file.

Choices the MLM vocabulary forces, recorded here so nobody has to guess them:

- the MLM task enum has no "feature extraction": an embedding artifact is tagged ``similarity-search``,
  what its features serve, and its output ``dim_order`` names the ``embedding`` dimension;
- ``mlm:memory_size`` is the artifact's size in bytes (the weights an ONNX file or engine holds, with an ONNX
  model's external data file; what loading it takes at least, before activations);
- an ONNX model over 2 GB is two files (``model.onnx`` + ``model.onnx.data``, :mod:`trtbench.external_data`):
  the ``.onnx`` is the ``mlm:model`` asset and each external data file is an asset of its own (role
  ``weights``, no ``mlm:artifact_type``, which MLM reserves for the model asset) with its own
  ``file:size`` and ``file:checksum``, so each file is verified as the file extension means it; a reader
  of the item checks them all before running the model;
- ``mlm:framework_version`` of an ONNX file is the first ONNX release that reads it (IR version and opset), of
  an engine the TensorRT version that built it (semantic-version form: ``10.15.1+29``);
- ``mlm:accelerator`` is ``null`` for ONNX files (they run on CPU, and on GPUs where a provider exists) and
  ``cuda`` (constrained) for a TensorRT engine, with the sidecar's GPU and compute capability as the summary.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..artifact import artifact_bytes, read_artifact_metadata
from ..engine_meta import EngineSidecar, is_engine_path, read_sidecar, sidecar_path, verify_engine_file
from ..errors import InputError
from ..external_data import check_onnx_files
from ..fileio import file_sha256
from ..metadata import ModelMetadata
from ..signature import engine_source_onnx, onnx_signature
from .schema import CLASSIFICATION_SCHEMA, EO_SCHEMA, FILE_SCHEMA, MLM_SCHEMA, STAC_VERSION

MODEL_ROLE = "mlm:model"
DATA_ROLE = "weights"   # an ONNX model's external data file (STAC's common asset role for model weights)
SHA256_MULTIHASH = "1220"   # multihash prefix: sha2-256 (0x12), 32 bytes (0x20)
# The eo extension's common band names (eo v1.1.0 README); a band alias among them becomes its common_name.
EO_COMMON_NAMES = ("coastal", "blue", "green", "red", "rededge", "yellow", "pan", "nir", "nir08", "nir09",
                   "cirrus", "swir16", "swir22", "lwir", "lwir11", "lwir12")
TASKS = {"segmentation": ["semantic-segmentation", "segmentation"], "regression": ["regression"],
         "embedding": ["similarity-search"]}
# Names of each dimension of the tensors trtbench artifacts take and give (MLM "Dimension Order").
DIM_ORDERS = {"pixels": ["batch", "bands", "height", "width"], "logits": ["batch", "class", "height", "width"],
              "features": ["batch", "embedding", "height", "width"], "cls": ["batch", "embedding"],
              "values": ["batch", "channel", "height", "width"], "wavelengths": ["bands"], "gsd": []}


def mlm_item(artifact: str | Path, href: str | None = None) -> dict[str, Any]:
    """The STAC MLM Item describing ``artifact`` (an ONNX file or a TensorRT engine with its sidecar).

    ``href`` is how the item points at the artifact (default: its file name, for an item written beside it).
    """
    artifact = Path(artifact)
    if not artifact.is_file():
        raise InputError(f"artifact not found: {artifact}", "pass the .onnx file (or engine) written by "
                         "`trtbench export`")
    meta = read_artifact_metadata(artifact)
    sidecar = read_sidecar(artifact) if is_engine_path(artifact) else None
    if sidecar:
        verify_engine_file(artifact, sidecar)   # the checksum must describe the engine the sidecar describes
    onnx_file = engine_source_onnx(artifact, sidecar) if sidecar else artifact
    signature = onnx_signature(onnx_file) if onnx_file else None
    notes = [] if onnx_file else [f"the engine's source ONNX ({sidecar.source_onnx}) is not here: parameter count "
                                  "omitted, tensor shapes from the metadata"]
    properties: dict[str, Any] = {
        "datetime": _mtime(artifact),
        "description": _description(meta, sidecar),
        "mlm:name": _name(meta.model),
        "mlm:architecture": _architecture(meta),
        "mlm:tasks": TASKS[meta.task],
        "mlm:framework": "TensorRT" if sidecar else "ONNX",
        "mlm:framework_version": _semver(sidecar.runtime.tensorrt_version) if sidecar else _onnx_release(artifact),
        **({"mlm:total_parameters": _parameters(onnx_file)} if onnx_file else {}),
        "mlm:memory_size": artifact_bytes(artifact),
        "mlm:pretrained": bool(meta.checkpoint),   # seeded random weights: from scratch, source null
        "mlm:pretrained_source": meta.checkpoint,
        "mlm:batch_size_suggestion": _batch_suggestion(sidecar),
        **_accelerator(sidecar),
        "mlm:input": _inputs(meta, signature, sidecar),
        "mlm:output": _outputs(meta, signature),
        "eo:bands": _eo_bands(meta),
        "trtbench:metadata": asdict(meta),
        **({"trtbench:notes": notes} if notes else {}),
    }
    return {
        "stac_version": STAC_VERSION,
        "stac_extensions": [MLM_SCHEMA, EO_SCHEMA, FILE_SCHEMA]
        + ([CLASSIFICATION_SCHEMA] if meta.task == "segmentation" else []),
        "type": "Feature",
        "id": _name(artifact.stem),
        "geometry": None,
        "properties": properties,
        "links": [],
        "assets": _assets(artifact, sidecar, href),
    }


def write_mlm_item(artifact: str | Path, output: str | Path) -> Path:
    """Write the MLM item of ``artifact`` to ``output`` (atomically), pointing at the artifact relative to it."""
    from ..fileio import atomic_output

    artifact, output = Path(artifact), Path(output)
    href = _relative_href(artifact, output.parent)
    item = mlm_item(artifact, href)
    with atomic_output(output) as tmp:
        tmp.write_text(json.dumps(item, indent=2))
    return output


def is_mlm_item(path: str | Path) -> bool:
    """Whether ``path`` is a JSON file holding a STAC Item with the MLM extension (not an engine sidecar)."""
    path = Path(path)
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and data.get("type") == "Feature" and any(
        isinstance(e, str) and "/mlm/" in e for e in data.get("stac_extensions", []))


def artifact_from_item(path: str | Path) -> Path:
    """The artifact an MLM item points at (its ``mlm:model`` asset), after checking its ``file:checksum``.

    A relative href is read relative to the item, as STAC defines; only local files (or ``file://`` URLs) are
    opened: a model is run from disk.
    """
    path = Path(path)
    item = json.loads(path.read_text(encoding="utf-8"))
    models = [a for a in item.get("assets", {}).values() if isinstance(a, dict) and MODEL_ROLE in a.get("roles", [])]
    if len(models) != 1:
        raise InputError(f"{path} is an MLM item with {len(models)} assets of role {MODEL_ROLE}, not one",
                         "pass an item written by `trtbench stac`, or the artifact itself")
    href = str(models[0].get("href", ""))
    if re.match(r"^[a-z][a-z0-9+.-]*://", href) and not href.startswith("file://"):
        raise InputError(f"{path}: the model asset is remote ({href})", "download the artifact and point the item "
                         "at the local file, or pass the artifact itself")
    target = Path(href.removeprefix("file://"))
    target = (target if target.is_absolute() else path.parent / target).resolve()
    if not target.is_file():
        raise InputError(f"{path}: its model asset {href} does not exist ({target})",
                         "keep the artifact beside its item, or regenerate the item with `trtbench stac`")
    checksum = models[0].get("file:checksum")
    if checksum and checksum != SHA256_MULTIHASH + file_sha256(target):
        raise InputError(f"{target} differs from the file {path} describes (file:checksum mismatch)",
                         "regenerate the item with `trtbench stac`, or restore the artifact it describes")
    if not is_engine_path(target):
        _check_data_assets(path, item, target)
    return target


def _check_data_assets(item_path: Path, item: dict[str, Any], model: Path) -> None:
    """The model's external data files, whole (:func:`check_onnx_files`) and, where the item lists them as
    ``weights`` assets beside the model, with the checksums it records."""
    data_files = {f.resolve(): f for f in check_onnx_files(model)[1:]}
    for asset in item.get("assets", {}).values():
        if not isinstance(asset, dict) or MODEL_ROLE in asset.get("roles", []) or \
                DATA_ROLE not in asset.get("roles", []) or not asset.get("file:checksum"):
            continue
        target = (item_path.parent / str(asset.get("href", "")).removeprefix("file://")).resolve()
        if target in data_files and asset["file:checksum"] != SHA256_MULTIHASH + file_sha256(target):
            raise InputError(f"{target} (the weights of {model.name}) differs from the file {item_path} describes "
                             "(file:checksum mismatch)", "restore the pair the item describes, or regenerate the "
                             "item with `trtbench stac`")


def resolve_artifact(path: str | Path) -> Path:
    """``path`` itself, or the artifact it points at when it is an MLM item (``predict``/``eval`` take both)."""
    return artifact_from_item(path) if is_mlm_item(path) else Path(path)


def _parameters(path: Path) -> int:
    """Weights stored in the graph (initializer elements; INT8 Q/DQ scales and zero points included)."""
    import math

    import onnx

    graph = onnx.load(path, load_external_data=False).graph
    return sum(math.prod(t.dims) for t in graph.initializer)


def _shape(name: str, signature: dict | None, sidecar: EngineSidecar | None,
           default_rank: int) -> tuple[str, list[int]]:
    """A tensor's dtype and dims (-1 where dynamic): the graph's, narrowed by an engine's profile."""
    if signature and name in signature:
        dtype, dims = signature[name]
    else:
        dtype, dims = "float32", [-1] * default_rank
    if sidecar and name in sidecar.profiles[0]:   # an engine takes its profile's range: fixed where min == max
        span = sidecar.profiles[0][name]
        dims = [lo if lo == hi else -1 for lo, hi in zip(span["min"], span["max"])]
    return dtype, dims


def _inputs(meta: ModelMetadata, signature: dict | None, sidecar: EngineSidecar | None) -> list[dict[str, Any]]:
    inputs = []
    for name in meta.inputs:
        order = DIM_ORDERS.get(name)
        dtype, dims = _shape(name, signature, sidecar, len(order) if order else 4)
        if not dims:   # a scalar (rank 0, e.g. `gsd`): MLM shapes have at least one dimension
            dims, order = [1], ["value"]
        if order is None or len(order) != len(dims):
            order = [f"dim{i}" for i in range(len(dims))]   # not a tensor trtbench names: neutral names
        entry: dict[str, Any] = {"name": name, "bands": [], "input": {"shape": dims, "dim_order": order,
                                                                      "data_type": dtype}}
        if name == meta.inputs[0]:
            entry["bands"] = list(meta.bands)
            entry["norm_by_channel"] = True
            entry["value_scaling"] = [{"type": "z-score", "mean": float(m), "stddev": float(s)}
                                      for m, s in zip(meta.mean, meta.std)]
            entry["resize_type"] = None
            entry["description"] = _pixels_description(meta)
        elif "bands" in order:
            order[order.index("bands")] = "channel"   # "bands" is reserved for inputs that list their bands
        inputs.append(entry)
    return inputs


def _pixels_description(meta: ModelMetadata) -> str:
    edge = f"height and width multiples of {meta.patch_size} (recorded tile {meta.input_size})"
    if meta.band_mode == "dynamic":
        return (f"band-agnostic: any band set, each band's centre wavelength (µm) in `wavelengths`; the bands and "
                f"statistics listed are the default set ({meta.sensor}); {edge}")
    return f"{meta.num_bands} bands of {meta.sensor} in this order, normalised per band (z-score); {edge}"


def _outputs(meta: ModelMetadata, signature: dict | None) -> list[dict[str, Any]]:
    outputs = []
    for name in meta.outputs:
        order = DIM_ORDERS.get(name, ["batch", "channel", "height", "width"])
        dtype, dims = _shape(name, signature, None, len(order))
        if len(order) != len(dims):
            order = [f"dim{i}" for i in range(len(dims))]
        entry: dict[str, Any] = {"name": name, "tasks": TASKS[meta.task],
                                 "result": {"shape": dims, "dim_order": order, "data_type": dtype}}
        if meta.task == "segmentation" and meta.num_classes:
            names = meta.class_names or [f"class_{i}" for i in range(meta.num_classes)]
            entry["classification:classes"] = [{"value": i, "name": _class_name(n), "description": n}
                                               for i, n in enumerate(names)]
            entry["description"] = "per-class logits; the class map is their argmax over `class`"
        outputs.append(entry)
    return outputs


def _eo_bands(meta: ModelMetadata) -> list[dict[str, Any]]:
    table = meta.sensor_table()
    bands = []
    for band in table.bands:
        entry: dict[str, Any] = {"name": band.name, "center_wavelength": band.wavelength}
        common = next((a.lower() for a in (band.name, *band.aliases) if a.lower() in EO_COMMON_NAMES), None)
        if common:
            entry["common_name"] = common
        bands.append(entry)
    return bands


def _assets(artifact: Path, sidecar: EngineSidecar | None, href: str | None) -> dict[str, Any]:
    model = {
        "href": href or artifact.name, "title": f"{'TensorRT engine' if sidecar else 'ONNX model'} {artifact.name}",
        "type": "application/octet-stream; framework=tensorrt" if sidecar else
        "application/octet-stream; framework=onnx; profile=onnx",
        "roles": [MODEL_ROLE, "weights"],
        "mlm:artifact_type": "tensorrt.IRuntime.deserialize_cuda_engine" if sidecar else "onnx.save",
        "file:size": artifact.stat().st_size,
        "file:checksum": SHA256_MULTIHASH + file_sha256(artifact),
    }
    assets = {"model": model}
    base = (href or artifact.name)[: -len(artifact.name)] if (href or artifact.name).endswith(artifact.name) else ""
    data_files = [] if sidecar else check_onnx_files(artifact)[1:]
    if data_files:
        model["roles"] = [MODEL_ROLE]   # the graph; the weights are in the data file(s)
    for i, data in enumerate(data_files):
        assets["weights" if i == 0 else f"weights-{i + 1}"] = {
            "href": base + data.relative_to(artifact.parent).as_posix(),
            "title": f"external data of {artifact.name} (its weights; keep it beside the model)",
            "type": "application/octet-stream", "roles": [DATA_ROLE],
            "file:size": data.stat().st_size, "file:checksum": SHA256_MULTIHASH + file_sha256(data)}
    if sidecar:
        side = sidecar_path(artifact)
        assets["sidecar"] = {"href": base + side.name, "title": "trtbench engine sidecar (TensorRT version, GPU, "
                             "profiles, metadata)", "type": "application/json", "roles": ["metadata"],
                             "file:size": side.stat().st_size, "file:checksum": SHA256_MULTIHASH + file_sha256(side)}
    return assets


def _accelerator(sidecar: EngineSidecar | None) -> dict[str, Any]:
    if sidecar is None:
        return {"mlm:accelerator": None, "mlm:accelerator_constrained": False}
    runtime = sidecar.runtime
    return {"mlm:accelerator": "cuda", "mlm:accelerator_constrained": True, "mlm:accelerator_count": 1,
            "mlm:accelerator_summary": f"{runtime.gpu_name} (compute capability {runtime.compute_capability}), "
                                       f"TensorRT {runtime.tensorrt_version}"}


def _batch_suggestion(sidecar: EngineSidecar | None) -> int:
    """An engine's profile optimum batch; an ONNX file's predict default."""
    if sidecar:
        opt = next(iter(sidecar.profiles[0].values()))["opt"]
        return int(opt[0])
    return 4


def _description(meta: ModelMetadata, sidecar: EngineSidecar | None) -> str:
    weights = f"checkpoint {meta.checkpoint}" if meta.checkpoint else f"seeded random weights (seed {meta.seed})"
    kind = "TensorRT engine" if sidecar else "ONNX model"
    return (f"{meta.model} {meta.task} {kind} at {sidecar.precision if sidecar else meta.precision}, exported by "
            f"trtbench from {weights}")


def _architecture(meta: ModelMetadata) -> str:
    head = f" + {meta.head} head" if meta.head else ""
    try:
        from ..models.registry import get_spec

        facts = get_spec(meta.model).facts
        return f"{facts.label} {facts.variant}{' encoder' if meta.head else ''}{head}"
    except Exception:   # a model this trtbench does not register: its recorded family
        return f"{meta.family} {meta.variant}{head}"


def _name(text: str) -> str:
    """A name MLM accepts (letters first, then letters, digits, ``_.-``, ending alphanumerically)."""
    name = re.sub(r"[^a-zA-Z0-9_.-]", "-", text).strip("_.-")
    name = name if name[:1].isalpha() else f"m{name}"
    return name if len(name) >= 3 else f"{name}-model"


def _class_name(text: str) -> str:
    """A class name the classification extension accepts (letters, digits, ``-`` and ``_``)."""
    return re.sub(r"[^0-9A-Za-z_-]", "_", text) or "class"


def _semver(version: str) -> str:
    """A TensorRT version ("10.15.1.29") as the semantic version MLM requires ("10.15.1+29")."""
    parts = version.split(".")
    core = ".".join((parts + ["0", "0"])[:3])
    return core + (f"+{'.'.join(parts[3:])}" if len(parts) > 3 else "")


def _onnx_release(path: Path) -> str:
    """The first ONNX release that reads the file (its IR version and ai.onnx opset; onnx's own VERSION_TABLE):
    the version of the ONNX format the artifact needs, which is what a reader must support."""
    from onnx.helper import VERSION_TABLE

    from ..onnx_header import read_onnx_header

    header = read_onnx_header(path)
    opset = header.opsets.get("", header.opsets.get("ai.onnx", 0))
    release = next((r[0] for r in VERSION_TABLE if r[1] >= header.ir_version and r[2] >= opset), VERSION_TABLE[-1][0])
    return _semver(release)


def _mtime(path: Path) -> str:
    stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _relative_href(artifact: Path, folder: Path) -> str:
    import os

    return Path(os.path.relpath(artifact.resolve(), folder.resolve())).as_posix()
