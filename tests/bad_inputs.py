"""A catalogue of bad input files, one maker per (kind, defect), for tests that every command answers them
with exit 2, a message naming the input and a fix, and no traceback.

Each :class:`BadFile` writes its file into a folder and returns the path to pass on the command line. Its
``make(folder, good)`` takes a *valid* file of the same family to damage or to borrow from:

=============  ==========================================================================================
kind           ``good`` is ...                          the returned path is ...
=============  ==========================================================================================
``geotiff``    a real GeoTIFF chip                      the bad ``.tif``
``label``      a real label GeoTIFF                     the bad label ``.tif``
``onnx``       a trtbench-exported ``.onnx``            the bad ``.onnx``
``engine``     a trtbench-exported ``.onnx`` (its       the ``.engine`` (bytes, not a TensorRT engine:
               metadata goes into the sidecar)          no TensorRT is needed to refuse any of these)
``sidecar``    as for ``engine``                        the ``.engine`` whose ``.engine.json`` is bad
``checkpoint`` a trtbench checkpoint (``.ckpt``)        the bad ``.ckpt``
=============  ==========================================================================================

Defects: ``zero-byte``, ``truncated`` (the first part of a valid file), ``junk`` (random bytes), ``text``
(an HTML error page, what a failed download leaves), ``foreign`` (a well-formed file of another kind or
origin), plus kind-specific ones (``bad-metadata-json``, ``pickled-object``, ...). Function names are a
stable interface: tests in other files build on them.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ONNX_METADATA_KEY = "trtbench.metadata"      # written here by hand, independently of the code under test
CHECKPOINT_METADATA_KEY = "trtbench_metadata"
HTML_ERROR_PAGE = ("<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n"
                   "<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>\n")
KINDS = ("geotiff", "label", "onnx", "engine", "sidecar", "checkpoint")


# -- generic damage -------------------------------------------------------------------------------------

def zero_byte(folder: Path, name: str) -> Path:
    """An empty file (an interrupted copy, ``touch``)."""
    path = Path(folder) / name
    path.write_bytes(b"")
    return path


def truncated(good: Path, folder: Path, name: str | None = None, keep: float = 0.5) -> Path:
    """The first ``keep`` fraction of ``good`` (an interrupted download)."""
    data = Path(good).read_bytes()
    path = Path(folder) / (name or f"truncated_{Path(good).name}")
    path.write_bytes(data[: max(1, int(len(data) * keep))])
    return path


def junk(folder: Path, name: str, size: int = 64 * 1024, seed: int = 0) -> Path:
    """Random bytes with the right extension."""
    path = Path(folder) / name
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def text(folder: Path, name: str) -> Path:
    """An HTML error page saved under the expected name."""
    path = Path(folder) / name
    path.write_text(HTML_ERROR_PAGE)
    return path


def zip_archive(folder: Path, name: str) -> Path:
    """A zip archive holding a README (e.g. a dataset archive saved under a .tif name)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("README.txt", "not a raster\n")
    path = Path(folder) / name
    path.write_bytes(buffer.getvalue())
    return path


# -- GeoTIFF and label ----------------------------------------------------------------------------------

def geotiff_pixels_truncated(good: Path, folder: Path, name: str = "cut_pixels.tif") -> Path:
    """A GeoTIFF whose header is intact but whose pixel blocks are cut off (opens, fails on read)."""
    return truncated(good, folder, name, keep=0.9)


def label_with_bands(good: Path, folder: Path, name: str = "three_band_label.tif") -> Path:
    """A well-formed GeoTIFF that is not a class map: the label stacked into three bands (an RGB preview)."""
    import rasterio

    with rasterio.open(good) as src:
        profile = src.profile | {"count": 3}
        data = np.repeat(src.read(1)[None], 3, axis=0)
    path = Path(folder) / name
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


# -- ONNX -----------------------------------------------------------------------------------------------

def onnx_with_props(folder: Path, name: str, props: dict[str, str] | None = None) -> Path:
    """A valid, tiny ONNX model (Identity on ``pixels``) carrying exactly ``props`` as ``metadata_props``."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["pixels"], ["features"])], "foreign",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 3, 8, 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    for key, value in (props or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    path = Path(folder) / name
    onnx.save(model, str(path))
    return path


def onnx_with_data_file(good: Path, folder: Path, name: str) -> tuple[Path, Path]:
    """``good`` re-saved as a model over 2 GB is stored: ``name`` + ``name.data`` (its weights, external data),
    written with ``onnx`` itself; returns both paths."""
    import onnx

    path = Path(folder) / name
    onnx.save_model(onnx.load(str(good)), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=f"{name}.data", size_threshold=1024)
    return path, Path(folder) / f"{name}.data"


def onnx_data_missing(good: Path, folder: Path) -> Path:
    """A model whose external data file is not beside it (only the ``.onnx`` was copied)."""
    path, data = onnx_with_data_file(good, folder, "lone.onnx")
    data.unlink()
    return path


def onnx_data_zero_byte(good: Path, folder: Path) -> Path:
    """A model whose external data file is empty (an interrupted copy of the weights)."""
    path, data = onnx_with_data_file(good, folder, "empty_data.onnx")
    data.write_bytes(b"")
    return path


def onnx_data_truncated(good: Path, folder: Path) -> Path:
    """A model whose external data file holds only its first half (an interrupted download)."""
    path, data = onnx_with_data_file(good, folder, "cut_data.onnx")
    content = data.read_bytes()
    data.write_bytes(content[: len(content) // 2])
    return path


def onnx_foreign(folder: Path, name: str = "foreign.onnx") -> Path:
    """A valid ONNX model that trtbench did not export (no trtbench metadata)."""
    return onnx_with_props(folder, name, {"producer_note": "exported elsewhere"})


def onnx_bad_metadata_json(folder: Path, name: str = "bad_metadata.onnx") -> Path:
    """A valid ONNX model whose trtbench metadata is not JSON (hand-edited, cut off)."""
    return onnx_with_props(folder, name, {ONNX_METADATA_KEY: '{"model": "clay_tiny", "bands": ["B2",'})


def onnx_metadata_not_a_record(folder: Path, name: str = "odd_metadata.onnx") -> Path:
    """A valid ONNX model whose trtbench metadata is JSON but not a metadata record."""
    return onnx_with_props(folder, name, {ONNX_METADATA_KEY: json.dumps({"hello": "world"})})


def onnx_protobuf_not_a_model(folder: Path, name: str = "tensor.onnx") -> Path:
    """A well-formed protobuf of another message type (a TensorProto) saved as ``.onnx``."""
    from onnx import numpy_helper

    path = Path(folder) / name
    path.write_bytes(numpy_helper.from_array(np.arange(16, dtype=np.float32), "w").SerializeToString())
    return path


def onnx_metadata(good: Path) -> dict:
    """The trtbench metadata record of an exported ONNX file (read with ``onnx`` itself)."""
    import onnx

    model = onnx.load(str(good), load_external_data=False)
    return json.loads({p.key: p.value for p in model.metadata_props}[ONNX_METADATA_KEY])


# -- TensorRT engine and sidecar ------------------------------------------------------------------------

def fake_engine(folder: Path, metadata: dict, name: str = "model.engine",
                payload: bytes = b"\x00fake-engine" * 64, runtime: dict | None = None) -> Path:
    """An engine file of ``payload`` bytes and the JSON sidecar that describes it (written by hand, in the
    sidecar's format, built on ``runtime``: TensorRT version, GPU, compute capability)."""
    path = Path(folder) / name
    path.write_bytes(payload)
    sidecar = {
        "runtime": runtime or {"tensorrt_version": "10.15.1", "gpu_name": "NVIDIA H100 80GB HBM3",
                               "compute_capability": "9.0"},
        "precision": metadata.get("precision", "fp32"),
        "profiles": [{"pixels": {"min": [1, len(metadata["bands"]), 64, 64],
                                 "opt": [1, len(metadata["bands"]), 128, 128],
                                 "max": [4, len(metadata["bands"]), 256, 256]}}],
        "source_onnx": "model.onnx", "source_onnx_sha256": "0" * 64,
        "engine_bytes": len(payload), "engine_sha256": hashlib.sha256(payload).hexdigest(),
        "metadata": metadata, "builder": {}, "plugins": [], "format_version": 1,
    }
    path.with_name(path.name + ".json").write_text(json.dumps(sidecar, indent=2))
    return path


def engine_without_sidecar(good: Path, folder: Path) -> Path:
    path = Path(folder) / "lonely.engine"
    path.write_bytes(b"\x00fake-engine" * 64)
    return path


def engine_zero_byte(good: Path, folder: Path) -> Path:
    path = fake_engine(folder, onnx_metadata(good), "empty.engine")
    path.write_bytes(b"")
    return path


def engine_truncated(good: Path, folder: Path) -> Path:
    path = fake_engine(folder, onnx_metadata(good), "cut.engine")
    path.write_bytes(path.read_bytes()[:100])
    return path


def engine_replaced(good: Path, folder: Path) -> Path:
    """Same size as the engine the sidecar describes, other bytes (another engine copied over it)."""
    path = fake_engine(folder, onnx_metadata(good), "replaced.engine")
    path.write_bytes(bytes(reversed(path.read_bytes())))
    return path


def engine_other_tensorrt(good: Path, folder: Path) -> Path:
    """An engine whose sidecar says it was built with another TensorRT on another GPU."""
    return fake_engine(folder, onnx_metadata(good), "old.engine",
                       runtime={"tensorrt_version": "8.6.1", "gpu_name": "Tesla T4", "compute_capability": "7.5"})


def _engine_with_sidecar_text(folder: Path, good: Path, name: str, content: str | bytes | None) -> Path:
    path = fake_engine(folder, onnx_metadata(good), name)
    sidecar = path.with_name(path.name + ".json")
    if isinstance(content, bytes):
        sidecar.write_bytes(content)
    elif content is not None:
        sidecar.write_text(content)
    return path


def sidecar_zero_byte(good: Path, folder: Path) -> Path:
    return _engine_with_sidecar_text(folder, good, "sc_empty.engine", b"")


def sidecar_truncated(good: Path, folder: Path) -> Path:
    path = _engine_with_sidecar_text(folder, good, "sc_cut.engine", None)
    sidecar = path.with_name(path.name + ".json")
    sidecar.write_bytes(sidecar.read_bytes()[:200])
    return path


def sidecar_junk(good: Path, folder: Path) -> Path:
    return _engine_with_sidecar_text(folder, good, "sc_junk.engine",
                                     np.random.default_rng(1).integers(0, 256, 2048, dtype=np.uint8).tobytes())


def sidecar_text(good: Path, folder: Path) -> Path:
    return _engine_with_sidecar_text(folder, good, "sc_html.engine", HTML_ERROR_PAGE)


def sidecar_foreign(good: Path, folder: Path) -> Path:
    """Valid JSON of another kind beside the engine (e.g. a bench report saved under the sidecar's name)."""
    return _engine_with_sidecar_text(folder, good, "sc_foreign.engine", json.dumps([{"backend": "tensorrt"}]))


def sidecar_bad_metadata(good: Path, folder: Path) -> Path:
    """A sidecar whose embedded model metadata is not a metadata record."""
    return fake_engine(folder, {"bands": ["B2"], "hello": "world"}, "sc_meta.engine")


# -- checkpoints ----------------------------------------------------------------------------------------

def checkpoint_pickled_object(folder: Path, name: str = "pickled.ckpt") -> Path:
    """A torch file holding a Python object (safe loading must refuse it, without suggesting otherwise)."""
    import torch

    path = Path(folder) / name
    torch.save({"state_dict": {}, "callback": zipfile.ZipInfo("x")}, path)
    return path


def checkpoint_not_a_dict(folder: Path, name: str = "list.ckpt") -> Path:
    import torch

    path = Path(folder) / name
    torch.save([torch.zeros(2)], path)
    return path


def checkpoint_bad_metadata_json(folder: Path, name: str = "bad_metadata.ckpt") -> Path:
    """A trtbench-style checkpoint whose metadata string is not JSON."""
    import torch

    path = Path(folder) / name
    torch.save({CHECKPOINT_METADATA_KEY: '{"model": "clay_tiny", ', "state_dict": {"w": torch.zeros(2)}}, path)
    return path


def checkpoint_metadata_not_a_record(folder: Path, name: str = "odd_metadata.ckpt") -> Path:
    import torch

    path = Path(folder) / name
    torch.save({CHECKPOINT_METADATA_KEY: json.dumps({"hello": "world"}), "state_dict": {"w": torch.zeros(2)}}, path)
    return path


def lightning_intermediate_checkpoint(folder: Path) -> Path:
    """What ``trtbench train`` leaves mid-run: ``seed_0/checkpoints/best-epoch=07.ckpt``, a Lightning
    checkpoint of the training module (``model.*`` keys, no trtbench metadata)."""
    import torch

    path = Path(folder) / "seed_0" / "checkpoints" / "best-epoch=07.ckpt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 7, "global_step": 112, "pytorch-lightning_version": "2.4.0",
                "state_dict": {"model.encoder.patch_embed.weight": torch.zeros(4, 3, 8, 8),
                               "model.head.weight": torch.zeros(2, 4, 1, 1)},
                "callbacks": {}, "optimizer_states": [], "lr_schedulers": [],
                "hyper_parameters": {"lr": 1e-4}}, path)
    return path


# -- the catalogue --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BadFile:
    """One bad input: ``make(folder, good)`` writes it into ``folder`` and returns the path to pass to a command
    (``good``: a valid file of the family, see the module docstring)."""

    kind: str
    defect: str
    make: Callable[[Path, Path], Path]

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.defect}"


def _generic(kind: str, suffix: str) -> list[BadFile]:
    return [
        BadFile(kind, "zero-byte", lambda folder, good: zero_byte(folder, f"{kind}_empty{suffix}")),
        BadFile(kind, "truncated", lambda folder, good: truncated(good, folder, f"{kind}_cut{suffix}")),
        BadFile(kind, "junk", lambda folder, good: junk(folder, f"{kind}_junk{suffix}")),
        BadFile(kind, "text", lambda folder, good: text(folder, f"{kind}_html{suffix}")),
    ]


CATALOGUE: tuple[BadFile, ...] = (
    *_generic("geotiff", ".tif"),
    BadFile("geotiff", "pixels-truncated", lambda folder, good: geotiff_pixels_truncated(good, folder)),
    BadFile("geotiff", "foreign", lambda folder, good: zip_archive(folder, "archive.tif")),
    *_generic("label", ".tif"),
    BadFile("label", "foreign", lambda folder, good: zip_archive(folder, "label_archive.tif")),
    BadFile("label", "three-bands", lambda folder, good: label_with_bands(good, folder)),
    *_generic("onnx", ".onnx"),
    BadFile("onnx", "foreign", lambda folder, good: onnx_foreign(folder)),
    BadFile("onnx", "not-a-model", lambda folder, good: onnx_protobuf_not_a_model(folder)),
    BadFile("onnx", "bad-metadata-json", lambda folder, good: onnx_bad_metadata_json(folder)),
    BadFile("onnx", "metadata-not-a-record", lambda folder, good: onnx_metadata_not_a_record(folder)),
    BadFile("onnx", "data-missing", lambda folder, good: onnx_data_missing(good, folder)),
    BadFile("onnx", "data-zero-byte", lambda folder, good: onnx_data_zero_byte(good, folder)),
    BadFile("onnx", "data-truncated", lambda folder, good: onnx_data_truncated(good, folder)),
    BadFile("engine", "no-sidecar", lambda folder, good: engine_without_sidecar(good, folder)),
    BadFile("engine", "zero-byte", lambda folder, good: engine_zero_byte(good, folder)),
    BadFile("engine", "truncated", lambda folder, good: engine_truncated(good, folder)),
    BadFile("engine", "replaced", lambda folder, good: engine_replaced(good, folder)),
    BadFile("engine", "other-tensorrt", lambda folder, good: engine_other_tensorrt(good, folder)),
    BadFile("sidecar", "zero-byte", lambda folder, good: sidecar_zero_byte(good, folder)),
    BadFile("sidecar", "truncated", lambda folder, good: sidecar_truncated(good, folder)),
    BadFile("sidecar", "junk", lambda folder, good: sidecar_junk(good, folder)),
    BadFile("sidecar", "text", lambda folder, good: sidecar_text(good, folder)),
    BadFile("sidecar", "foreign", lambda folder, good: sidecar_foreign(good, folder)),
    BadFile("sidecar", "bad-metadata", lambda folder, good: sidecar_bad_metadata(good, folder)),
    *_generic("checkpoint", ".ckpt"),
    BadFile("checkpoint", "pickled-object", lambda folder, good: checkpoint_pickled_object(folder)),
    BadFile("checkpoint", "not-a-dict", lambda folder, good: checkpoint_not_a_dict(folder)),
    BadFile("checkpoint", "bad-metadata-json", lambda folder, good: checkpoint_bad_metadata_json(folder)),
    BadFile("checkpoint", "metadata-not-a-record", lambda folder, good: checkpoint_metadata_not_a_record(folder)),
)


def catalogue(kind: str | None = None) -> list[BadFile]:
    """Every bad file, or those of one kind (see :data:`KINDS`)."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")
    return [b for b in CATALOGUE if kind is None or b.kind == kind]
