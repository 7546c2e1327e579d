"""The JSON sidecar beside a TensorRT engine, and the checks that refuse an engine that cannot run here.

A serialized engine runs only with the TensorRT version that built it, on GPUs of the compute
capability it was built for, and only for shapes inside its optimization profiles. TensorRT itself
reports a mismatch as a deserialization failure (or a crash); the sidecar lets trtbench say what
differs and what to do. It also records the engine's size and sha256, so a truncated or replaced
engine file is caught before TensorRT reads it, and the trtbench metadata (bands, normalization,
task) so ``eval``, ``bench`` and ``predict`` need only the engine.
"""

from __future__ import annotations

import json
import logging
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import TrtbenchError
from .export.shapes import ShapeProfile
from .fileio import atomic_output, file_sha256
from .metadata import ModelMetadata

SIDECAR_SUFFIX = ".json"
SIDECAR_FORMAT = 1
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuntimeInfo:
    """What an engine depends on: the TensorRT build and the GPU."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: str  # "8.6"


@dataclass
class EngineSidecar:
    runtime: RuntimeInfo
    precision: str
    profiles: list[dict[str, dict[str, list[int]]]]   # per optimization profile: input -> {min, opt, max}
    source_onnx: str
    source_onnx_sha256: str
    engine_bytes: int
    engine_sha256: str
    metadata: dict[str, Any]                          # ModelMetadata as a dict
    builder: dict[str, Any] = field(default_factory=dict)   # workspace, optimization level, timing cache ...
    plugins: list[str] = field(default_factory=list)        # plugin libraries needed to deserialize
    format_version: int = SIDECAR_FORMAT

    def shape_profiles(self, index: int = 0) -> list[ShapeProfile]:
        return [ShapeProfile.from_dict(name, shapes) for name, shapes in self.profiles[index].items()]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "sidecar") -> EngineSidecar:
        """The sidecar in ``text``; JSON that is not a sidecar of this format is refused naming ``source``."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise _unreadable(source, f"not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise _unreadable(source, f"a JSON {type(data).__name__}, not an engine sidecar")
        version = data.get("format_version", 0)
        if isinstance(version, int) and version > SIDECAR_FORMAT:
            raise TrtbenchError(f"engine sidecar {source} has format {version}, newer than this trtbench",
                                "upgrade trtbench")
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise _unreadable(source, f"it lacks {', '.join(missing)}")
        runtime = data["runtime"]
        if not isinstance(runtime, dict) or set(runtime) != {f.name for f in fields(RuntimeInfo)}:
            raise _unreadable(source, f"runtime is {runtime!r}")
        known = {f.name for f in fields(cls)}
        sidecar = cls(**{k: v for k, v in data.items() if k in known} | {"runtime": RuntimeInfo(**runtime)})
        if not isinstance(sidecar.engine_bytes, int) or not isinstance(sidecar.metadata, dict) \
                or not isinstance(sidecar.profiles, list) or not sidecar.profiles:
            raise _unreadable(source, "engine_bytes, metadata or profiles has the wrong type")
        return sidecar


def _unreadable(source: str, problem: str) -> TrtbenchError:
    return TrtbenchError(f"engine sidecar {source} is unreadable: {problem}",
                         "copy the engine with its own .json sidecar, or rebuild both with "
                         "`trtbench export MODEL.onnx --format engine`")


def sidecar_path(engine: str | Path) -> Path:
    engine = Path(engine)
    return engine.with_name(engine.name + SIDECAR_SUFFIX)


def is_engine_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in ENGINE_SUFFIXES


def write_sidecar(engine: str | Path, sidecar: EngineSidecar) -> Path:
    path = sidecar_path(engine)
    with atomic_output(path) as tmp:
        tmp.write_text(sidecar.to_json())
    return path


def read_sidecar(engine: str | Path) -> EngineSidecar:
    """The sidecar of ``engine``; an engine without one is refused (nothing says what it expects)."""
    path = sidecar_path(engine)
    if not Path(engine).is_file():
        raise TrtbenchError(f"engine file not found: {engine}", "check the path")
    if not path.is_file():
        raise TrtbenchError(f"{engine} has no sidecar {path.name}: its TensorRT version, GPU, profiles and model "
                            "metadata are unknown", "build engines with `trtbench export --format engine`, which "
                            "writes the sidecar, and keep it beside the engine")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _unreadable(str(path), "it is binary, not JSON text") from None
    if not text.strip():
        raise _unreadable(str(path), "it is empty")
    return EngineSidecar.from_json(text, str(path))


def verify_engine_file(engine: str | Path, sidecar: EngineSidecar) -> None:
    """Refuse an empty, truncated or replaced engine file (its size or sha256 differs from the sidecar's)."""
    size = Path(engine).stat().st_size
    if size != sidecar.engine_bytes:
        state = "empty" if size == 0 else "truncated or was replaced"
        raise TrtbenchError(f"{engine} is {size} bytes but was built as {sidecar.engine_bytes} bytes: the file is "
                            f"{state}", "copy the engine again, or rebuild it")
    if file_sha256(engine) != sidecar.engine_sha256:
        raise TrtbenchError(f"{engine} differs from the engine its sidecar describes (sha256 mismatch)",
                            "copy the engine and its .json sidecar together, or rebuild it")


def check_runtime(sidecar: EngineSidecar, here: RuntimeInfo, engine: str | Path = "engine") -> None:
    """Refuse an engine from another TensorRT version or GPU architecture; warn on another GPU model.

    TensorRT engines are not portable across TensorRT versions nor compute capabilities (unless built
    with version/hardware compatibility, which trtbench does not request), so either mismatch is fatal.
    Same compute capability on a different GPU model deserializes, but its tactics were timed elsewhere.
    """
    built = sidecar.runtime
    if built.tensorrt_version != here.tensorrt_version:
        raise TrtbenchError(f"{engine} was built with TensorRT {built.tensorrt_version}; this machine has "
                            f"TensorRT {here.tensorrt_version}", "rebuild the engine here with `trtbench export "
                            f"{sidecar.source_onnx} --format engine` (engines are TensorRT-version specific)")
    if built.compute_capability != here.compute_capability:
        raise TrtbenchError(f"{engine} was built for compute capability {built.compute_capability} "
                            f"({built.gpu_name}); this GPU ({here.gpu_name}) is {here.compute_capability}",
                            "rebuild the engine on this GPU with `trtbench export ... --format engine`")
    if built.gpu_name != here.gpu_name:
        log.warning("%s was built on %s and runs on %s (same compute capability %s): it works, but rebuild it "
                    "here for tactics timed on this GPU", engine, built.gpu_name, here.gpu_name, here.compute_capability)


def read_engine_metadata(engine: str | Path) -> ModelMetadata:
    """The trtbench metadata of an engine (from its sidecar), with the engine's precision."""
    sidecar = read_sidecar(engine)
    if Path(engine).stat().st_size != sidecar.engine_bytes:  # cheap; the full hash is checked on load
        verify_engine_file(engine, sidecar)
    meta = ModelMetadata.from_dict(sidecar.metadata, str(sidecar_path(engine)))
    return meta.with_(precision=sidecar.precision)
