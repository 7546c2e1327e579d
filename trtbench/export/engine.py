"""ONNX -> serialized TensorRT engine (+ JSON sidecar), through TensorRT's documented Python API.

Supported: TensorRT >= 10.9, < 11 (:data:`trtbench.tensorrt_support.SUPPORTED_TENSORRT`, the ``gpu`` extra's range; 10.9 brings the
Python AOT plugin's ``aot_impl``, and ``trtbench check`` transcribes 10.15). TensorRT 11 is refused with
a clear message until it has been run here. The network is *strongly typed* (the ``STRONGLY_TYPED``
creation flag), so the precision of every layer comes from the ONNX graph itself: an FP16 graph from
:mod:`trtbench.export.precision`, INT8 from its Q/DQ nodes. TF32 (on by default for FP32 layers on
Ampere and newer) is cleared for fp32 artifacts so they keep fp32's tolerance; the sidecar records it.
This module parses, sets the optimization profiles, workspace, optimization level and timing cache,
builds, and records what the engine depends on, including which layers are plugins (so a plugin taking
precedence over an ONNX local function's body is visible). The model is parsed with
``OnnxParser.parse_from_file`` (never from bytes): the parser then finds an external data file (a model
over 2 GB) relative to the model's folder, which it cannot do for a serialized buffer; the pair is checked
first and the sidecar's ``source_onnx_sha256`` covers both files. Needs libnvinfer and a GPU; everything it
validates first runs on CPU.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import onnx

from ..engine_meta import EngineSidecar, RuntimeInfo, write_sidecar
from ..errors import BackendUnavailable, InputError, TrtbenchError
from ..external_data import check_onnx_files, onnx_sha256
from ..fileio import atomic_output, file_sha256
from ..metadata import read_onnx_metadata
from ..tensorrt_support import check_tensorrt_version
from .shapes import ShapeProfile, default_profile, validate_profile, with_derived_profiles

log = logging.getLogger(__name__)
DEFAULT_OPT_LEVEL = 3  # TensorRT's own default; 0..5 trades build time for tactic search
_LOADED_PLUGINS: set[Path] = set()


def import_tensorrt() -> Any:
    """``tensorrt`` on a machine with a CUDA GPU, else :class:`BackendUnavailable` saying why not."""
    from ..doctor import tensorrt_status

    status = tensorrt_status()
    if not status["available"]:
        raise BackendUnavailable(f"TensorRT cannot run here: {status['reason']}",
                                 "build and run engines on the target GPU machine; on this one, `trtbench check "
                                 "MODEL.onnx` audits the ONNX file and the FP16/INT8 ONNX files run in ONNX Runtime")
    import tensorrt as trt

    check_tensorrt_version(trt.__version__)
    return trt


def runtime_info(trt: Any) -> RuntimeInfo:
    """The TensorRT version and the current CUDA device, as recorded in (and checked against) sidecars."""
    import torch

    major, minor = torch.cuda.get_device_capability()
    return RuntimeInfo(trt.__version__, torch.cuda.get_device_name(), f"{major}.{minor}")


def load_plugins(trt: Any, libraries: Sequence[str | Path]) -> None:
    """Register plugin libraries (e.g. DynamicPatchEmbed) before parsing or deserializing.

    Once per process: TensorRT refuses a second registration, and a build followed by a run loads twice.
    """
    from ..kernels.loader import load_plugin_library

    for lib in libraries:
        path = plugin_file(lib).resolve()
        if path in _LOADED_PLUGINS:
            continue
        try:
            load_plugin_library(path)
            _LOADED_PLUGINS.add(path)
        except (FileNotFoundError, RuntimeError) as exc:
            raise TrtbenchError(f"cannot load TensorRT plugin library {lib}: {exc}",
                                "build the plugin for this TensorRT version (kernels/README.md)") from None


def plugin_file(lib: str | Path) -> Path:
    """The plugin library named by ``--plugin``: the file itself, or the build folder holding it."""
    from ..kernels.loader import plugin_library_path

    path = Path(lib)
    if path.is_dir():
        try:
            return plugin_library_path(path)
        except FileNotFoundError as exc:
            raise InputError(str(exc), "build the plugin on the GPU machine, or pass the library file") from None
    if not path.is_file():
        raise InputError(f"TensorRT plugin library not found: {path}",
                         "build it (kernels/README.md: cmake -S kernels/plugin -B build/plugin ...) and pass the "
                         "library or its build folder")
    return path


def build_engine(onnx_path: str | Path, output: str | Path, *, profiles: Sequence[ShapeProfile] | None = None,
                 workspace_gib: float | None = None, opt_level: int = DEFAULT_OPT_LEVEL,
                 timing_cache: str | Path | None = None, plugins: Sequence[str | Path] = ()) -> Path:
    """Build ``output`` (a serialized engine) from ``onnx_path`` and write its sidecar beside it."""
    onnx_path = Path(onnx_path)
    meta = read_onnx_metadata(onnx_path)
    check_onnx_files(onnx_path)   # external data beside it, whole: TensorRT's own error would not say which file
    profiles = list(profiles or [default_profile(meta)])
    static = static_input_dims(onnx_path)
    for profile in profiles:
        if profile.name not in static:
            raise InputError(f"--shapes names '{profile.name}', not an input of {onnx_path.name}",
                             f"inputs: {', '.join(static)}")
        validate_profile(profile, meta, static[profile.name])
    if not 0 <= opt_level <= 5:
        raise InputError(f"--opt-level {opt_level} is outside TensorRT's 0..5", "pass 0 (fast build) .. 5 (slow build)")
    trt = import_tensorrt()
    load_plugins(trt, plugins)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    log.info("parsing %s", onnx_path)
    if not parser.parse_from_file(str(onnx_path)):
        raise TrtbenchError(f"TensorRT {trt.__version__} cannot parse {onnx_path.name}:\n  " + "\n  ".join(
            _parser_errors(parser)), f"run `trtbench check {onnx_path}` for a node-by-node audit")
    plugin_layers = plugin_layer_names(trt, network)
    config = builder.create_builder_config()
    tf32 = allow_tf32(config, trt, meta.precision)
    if workspace_gib:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * 2**30))
    config.builder_optimization_level = opt_level
    profiles = with_derived_profiles(profiles, meta)
    trt_profile = builder.create_optimization_profile()   # one profile holds the ranges of every input
    for profile in profiles:
        trt_profile.set_shape(profile.name, profile.min, profile.opt, profile.max)
    config.add_optimization_profile(trt_profile)
    cache = attach_timing_cache(config, timing_cache)
    log.info("building the engine (minutes for large models at --opt-level %d)", opt_level)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise TrtbenchError(f"TensorRT failed to build an engine from {onnx_path.name} (see its log above)",
                            "lower --opt-level, raise --workspace, or narrow --shapes; `trtbench check` the ONNX")
    output = Path(output)
    with atomic_output(output) as tmp:
        tmp.write_bytes(memoryview(plan))
    if timing_cache:
        with atomic_output(timing_cache) as tmp:
            tmp.write_bytes(memoryview(cache.serialize()))
    write_sidecar(output, EngineSidecar(
        runtime=runtime_info(trt), precision=meta.precision,
        profiles=[{p.name: p.to_dict() for p in profiles}], source_onnx=str(onnx_path.resolve()),
        source_onnx_sha256=onnx_sha256(onnx_path), engine_bytes=output.stat().st_size,
        engine_sha256=file_sha256(output), metadata=asdict(meta),
        builder={"workspace_gib": workspace_gib, "opt_level": opt_level, "strongly_typed": True, "tf32": tf32,
                 "plugin_layers": plugin_layers, "timing_cache": str(timing_cache) if timing_cache else None},
        plugins=[str(plugin_file(p).resolve()) for p in plugins]))
    return output


def static_input_dims(onnx_path: str | Path) -> dict[str, list[int | None]]:
    """Graph input name -> its dims (None where symbolic): a profile must agree with the static ones."""
    model = onnx.load(str(onnx_path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    return {i.name: [d.dim_value if d.HasField("dim_value") else None for d in i.type.tensor_type.shape.dim]
            for i in model.graph.input if i.name not in initializers}


def allow_tf32(config: Any, trt: Any, precision: str) -> bool:
    """Clear TF32 (on by default) for fp32 artifacts; keep it for fp16/int8, whose tolerance covers it.

    TF32 rounds FP32 matmul/conv inputs to a 10-bit mantissa (fp16's), ~1e-3 relative: an fp32 engine
    built with it would fail fp32's 1e-4 parity tolerance. Returns whether TF32 stays allowed (recorded).
    """
    if precision == "fp32":
        config.clear_flag(trt.BuilderFlag.TF32)
        return False
    return True


def plugin_layer_names(trt: Any, network: Any) -> list[str]:
    """Names of the parsed network's plugin layers: where a registered plugin replaced an ONNX node or local
    function (TensorRT >= 10.7 prefers a plugin over a same-named local function's body)."""
    kinds = {getattr(trt.LayerType, name) for name in ("PLUGIN", "PLUGIN_V2", "PLUGIN_V3")
             if hasattr(trt.LayerType, name)}
    return [layer.name for layer in (network.get_layer(i) for i in range(network.num_layers)) if layer.type in kinds]


def _parser_errors(parser: Any) -> list[str]:
    out = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        node = err.node_name() if hasattr(err, "node_name") else err.node()
        op = err.node_operator() if hasattr(err, "node_operator") else ""
        out.append(f"node {node} ({op}): {err.desc()}" if op else f"node {node}: {err.desc()}")
    return out


def attach_timing_cache(config: Any, path: str | Path | None) -> Any:
    """A persistent timing cache: reuse tactic timings of earlier builds on this GPU (much faster rebuilds)."""
    previous = Path(path).read_bytes() if path and Path(path).is_file() else b""
    try:
        cache = config.create_timing_cache(previous)
    except Exception:  # noqa: BLE001 - whatever TensorRT raises for a corrupt blob, the remedy is a new cache
        cache = None
    if cache is None:  # a corrupt cache file (an exception, or no cache returned): start afresh, not fail
        log.warning("timing cache %s is unreadable; starting a new one", path)
        cache = config.create_timing_cache(b"")
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        # Built on another GPU or TensorRT: its timings do not apply here, and writing it back would keep them.
        log.warning("timing cache %s is from another GPU or TensorRT version; starting a new one", path)
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    return cache
