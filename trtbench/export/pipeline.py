"""``trtbench export`` end to end: model or ONNX -> fp32 ONNX -> precision ONNX -> engine.

Every request is validated before the first minute of work (format, precision, calibration data,
shape profiles, TensorRT availability for engines), so a bad flag never costs an export, and every
file is written atomically, so a failure leaves nothing half-written. An engine's ONNX source at its
deployment precision is kept beside it (``<engine stem>.<precision>.onnx``): it is the artifact the
CPU proxies evaluate, and the sidecar records its hash.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn  # a source is any registry model (Clay GeoModel, UNet) or an ONNX path

from ..engine_meta import ENGINE_SUFFIXES
from ..errors import InputError
from ..external_data import check_onnx_files
from ..fileio import check_writable
from ..metadata import ModelMetadata, read_onnx_metadata
from ..models import GeoModel
from .dynamic_bands import band_agnostic_request
from .engine import DEFAULT_OPT_LEVEL, build_engine, import_tensorrt, plugin_file, static_input_dims
from .onnx_export import export_onnx
from .precision import PRECISIONS, calibration_files, convert_precision
from .shapes import ShapeProfile, parse_shapes, validate_profile

FORMATS = ("onnx", "engine")


@dataclass
class ExportRequest:
    format: str = "onnx"
    precision: str = "fp32"
    opset: int | None = None
    shapes: str | None = None
    calib_data: Sequence[str] = ()
    calib_samples: int = 256
    calib_method: str = "minmax"
    data_bands: Sequence[str] | None = None
    workspace_gib: float | None = None
    opt_level: int = DEFAULT_OPT_LEVEL
    timing_cache: str | None = None
    plugins: Sequence[str] = field(default_factory=tuple)
    dynamic_bands: bool = False   # one band-agnostic ONNX (wavelengths as an input) instead of fixed bands
    external_data: bool = False   # weights in OUTPUT.data beside the .onnx even under 2 GB (always over it)


def export_artifact(source: GeoModel | str | Path, output: str | Path, request: ExportRequest) -> list[Path]:
    """Write the requested artifact(s); returns the files written, the requested one last."""
    output = Path(output)
    if request.dynamic_bands:
        meta = band_agnostic_request(source, request.precision)
    else:
        meta = source.metadata if isinstance(source, nn.Module) else read_onnx_metadata(source)
    profiles = _validate(source, output, request, meta)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix=".trtbench-export-", dir=output.parent if output.parent.is_dir() else None) as work:
        final_onnx = output if request.format == "onnx" else output.with_name(f"{output.stem}.{request.precision}.onnx")
        if isinstance(source, nn.Module):
            fp32 = final_onnx if request.precision == "fp32" else Path(work) / "fp32.onnx"
            fp32 = export_onnx(source, fp32, opset=request.opset, dynamic_bands=request.dynamic_bands,
                               external_data=request.external_data)
            written += onnx_members(fp32) if fp32 == final_onnx else []
        else:
            fp32 = Path(source)
            final_onnx = fp32 if request.precision == "fp32" else final_onnx
        if request.precision != "fp32":
            written += onnx_members(convert_precision(
                fp32, final_onnx, request.precision, calib_data=request.calib_data,
                calib_samples=request.calib_samples, calib_method=request.calib_method,
                data_bands=request.data_bands, external_data=request.external_data))
        if request.format == "engine":
            written.append(build_engine(final_onnx, output, profiles=profiles, workspace_gib=request.workspace_gib,
                                        opt_level=request.opt_level, timing_cache=request.timing_cache,
                                        plugins=request.plugins))
    return written


def onnx_members(path: Path) -> list[Path]:
    """An ONNX file written by the export and its external data file if it has one, the model last."""
    return [*check_onnx_files(path)[1:], path]


def check_export_output(output: str | Path, fmt: str) -> Path:
    """Refuse an output the export could not write (wrong suffix for ``fmt``, a folder, no writable folder)
    before a model is built; the engine's sidecar and precision ONNX go beside it."""
    output = Path(output)
    if fmt not in FORMATS:
        raise InputError(f"unknown format '{fmt}'", f"use one of: {', '.join(FORMATS)}")
    want = (".onnx",) if fmt == "onnx" else ENGINE_SUFFIXES
    if output.suffix.lower() not in want and not output.is_dir():
        raise InputError(f"-o {output} does not end in {' or '.join(want)} for --format {fmt}",
                         f"name the output e.g. {output.stem}{want[0]}")
    return check_writable(output, option="-o", suffixes=want)


def _validate(source: GeoModel | str | Path, output: Path, request: ExportRequest,
              meta: ModelMetadata) -> list[ShapeProfile] | None:
    check_export_output(output, request.format)
    if request.precision not in PRECISIONS:
        raise InputError(f"unknown precision '{request.precision}'", f"use one of: {', '.join(PRECISIONS)}")
    if isinstance(source, nn.Module) and (meta.input_size % meta.patch_size or meta.input_size < meta.patch_size):
        size = max(meta.patch_size, meta.input_size // meta.patch_size * meta.patch_size)
        raise InputError(f"--input-size {meta.input_size} is not a multiple of {meta.model}'s patch size "
                         f"{meta.patch_size}: eval and predict could not use the recorded tile",
                         f"pass --input-size {size}")
    if not isinstance(source, nn.Module) and Path(source).resolve() == output.resolve():
        raise InputError("the output would overwrite the input ONNX file", "choose another -o")
    if not isinstance(source, nn.Module) and request.format == "onnx" and request.precision == "fp32":
        raise InputError(f"{source} is already an fp32 ONNX file", "ask for --precision fp16/int8 or --format engine")
    if request.precision == "int8":
        calibration_files(request.calib_data)   # refuse INT8 without real calibration chips, before any work
    elif request.calib_data:
        raise InputError(f"--calib-data is for --precision int8, not {request.precision}", "drop --calib-data")
    if request.format != "engine":
        if request.shapes:
            raise InputError("--shapes sets a TensorRT optimization profile", "use it with --format engine")
        return None
    profiles = parse_shapes(request.shapes, meta.inputs) if request.shapes else None
    static = None if isinstance(source, nn.Module) else static_input_dims(source)
    for profile in profiles or ():
        validate_profile(profile, meta, (static or {}).get(profile.name))
    for lib in request.plugins:
        plugin_file(lib)   # a missing plugin library is the user's to fix, on any machine
    import_tensorrt()   # fail now, not after the export and calibration, when engines cannot be built here
    return profiles
