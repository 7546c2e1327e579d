"""Deployment precisions as ONNX rewrites: FP16 (mixed, with an FP32 block list) and INT8 (Q/DQ).

Precision lives in the ONNX graph, not in builder flags: TensorRT 11 is strongly typed only, and on
TensorRT 10 the strongly typed network gives the same result, so one FP16/INT8 ONNX file serves both.
The converted files are artifacts in their own right: they carry the trtbench metadata (with their
precision) and run in ONNX Runtime on CPU, which is how their accuracy cost is measured on real chips
(``trtbench eval``) before anyone builds an engine.

- FP16: onnxconverter-common's float16 conversion, keeping in FP32 the ops that overflow or lose too
  much in half precision (LayerNormalization, Softmax: TensorRT warns about both) and every node that
  does not depend on the pixel *values* (the band-embedding weight generator and the sin/cos position
  embedding: computed from wavelengths and shapes, cheap, and precision-sensitive). Inputs and outputs
  stay float32 so callers feed the same arrays.
- INT8: ONNX Runtime's ``quantize_static`` in QDQ format with symmetric scales (zero points 0, the only
  form TensorRT accepts), weights per channel, biases left in float (TensorRT has no INT32 DQ), and
  activation ranges calibrated on real chips tiled and normalised exactly as ``eval`` does. A
  band-agnostic artifact is calibrated on one band set, fed as ``eval`` feeds it (pixels, wavelengths,
  GSD): the sensor named by ``--data-bands``, else the artifact's default band set.
  Weights use 7 of the 8 bits (``reduce_range``): ONNX Runtime's x86 integer kernels on CPUs without VNNI
  (AVX2-only, e.g. AMD EPYC) sum u8 x s8 products in saturating 16-bit pairs, and full-range weights
  overflow there (Clay tiny: output error 12-23 % of scale with full range, 1.6-2.3 % with 7 bits; the
  same file computed without integer kernels errs 1.4-2.4 %). The scales stay symmetric, so TensorRT
  reads the file as before.

A source over 2 GB (external data, :mod:`trtbench.external_data`) is read by path, its pair checked
first; its graph is shape-inferred without the weights (protobuf cannot serialize the whole model, which
shape inference needs), and the converted model is written as a pair too (as is any output over 2 GB, or
every output with ``external_data``).
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import onnx

from ..bands import bind_bands, model_feed
from ..errors import InputError, TrtbenchError
from ..external_data import check_onnx_files, save_onnx
from ..metadata import ModelMetadata, read_onnx_metadata
from ..raster import expand_rasters
from ..sensors import SENSORS
from .onnx_proto import save_checked, write_metadata

log = logging.getLogger(__name__)
PRECISIONS = ("fp32", "fp16", "int8")
KEEP_FP32_OPS = ("LayerNormalization", "Softmax")
SHAPE_ONLY_OPS = ("Shape", "Size")  # their outputs depend on a tensor's shape, not on its values
INT8_OPS = ("Conv", "MatMul", "Gemm")  # where TensorRT's INT8 kernels pay off; the rest stays float
CALIB_METHODS = ("minmax", "entropy", "percentile")
CALIB_BATCH = 8  # ranges are merged every this many tiles so calibration memory stays bounded


def convert_precision(src: str | Path, dst: str | Path, precision: str, *, calib_data: Sequence[str | Path] = (),
                      calib_samples: int = 256, calib_method: str = "minmax", data_bands: Sequence[str] | None = None,
                      tile: int | None = None, external_data: bool = False) -> Path:
    """Write ``src`` (an fp32 trtbench ONNX file) at ``precision`` to ``dst``; ``external_data``: as the pair
    ``dst`` + ``dst.data`` even when it would fit one file (a source with external data gives a pair anyway)."""
    meta = read_onnx_metadata(src)
    if meta.precision != "fp32":
        raise InputError(f"{src} is already {meta.precision}", "convert the fp32 ONNX file instead")
    if precision == "fp16":
        return convert_fp16(src, dst, external_data=external_data)
    if precision == "int8":
        return quantize_int8(src, dst, calib_data, samples=calib_samples, method=calib_method,
                             data_bands=data_bands, tile=tile, external_data=external_data)
    raise InputError(f"unknown precision '{precision}'", f"use one of: {', '.join(PRECISIONS)}")


def convert_fp16(src: str | Path, dst: str | Path, keep_fp32_ops: Iterable[str] = KEEP_FP32_OPS, *,
                 external_data: bool = False) -> Path:
    """Mixed FP16 ONNX: float16 everywhere except ``keep_fp32_ops`` and the pixel-independent nodes."""
    from onnx.external_data_helper import load_external_data_for_model
    from onnxconverter_common import float16

    meta = read_onnx_metadata(src)
    external = len(check_onnx_files(src)) > 1
    model = onnx.load(str(src), load_external_data=not external)
    _name_nodes(model.graph)
    _drop_initializer_value_info(model.graph)
    blocked = pixel_independent_nodes(model.graph, meta.inputs[0])
    ops = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(keep_fp32_ops))
    _split_shared_initializers(model.graph, {n.name for n in model.graph.node if n.op_type in ops} | blocked)
    if external:   # the converter's own shape inference serializes the model: do it on the graph alone
        model = onnx.shape_inference.infer_shapes(model)
        load_external_data_for_model(model, str(Path(src).parent))
    with warnings.catch_warnings():  # it warns for every tiny weight flushed to fp16's range: expected
        warnings.simplefilter("ignore", UserWarning)
        converted = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=ops,
                                                     node_block_list=sorted(blocked), disable_shape_infer=external)
    drop_fp16_round_trips(converted.graph)
    write_metadata(converted, meta.with_(precision="fp16"))
    return save_checked(converted, dst, external=external_data or external)


def pixel_independent_nodes(graph: onnx.GraphProto, pixel_input: str) -> set[str]:
    """Names of nodes whose outputs do not depend on the values of ``pixel_input``.

    These are generators (band-embedding weights from wavelengths, sin/cos positions from the grid
    shape): they run on constants and shapes only, so keeping them in FP32 costs no throughput.
    """
    tainted = {pixel_input}
    independent = set()
    for node in graph.node:  # ONNX nodes are topologically sorted
        if node.op_type not in SHAPE_ONLY_OPS and any(i in tainted for i in node.input):
            tainted.update(node.output)
        else:
            independent.add(node.name)
    return independent


def drop_fp16_round_trips(graph: onnx.GraphProto) -> int:
    """Remove ``Cast(to fp16) -> Cast(to fp32)`` pairs; returns how many fp32 casts were dropped.

    The converter wraps *each* blocked node in casts, so a chain of FP32 nodes (the sin/cos position
    embedding) would round through FP16 between every pair of them: a 1e-3 relative error on a
    phase of hundreds of radians is a wrong embedding. Wiring the FP32 consumers to the FP32 source
    keeps the chain in FP32, as intended.
    """
    outputs = {o.name for o in graph.output}
    producers = {out: node for node in graph.node for out in node.output}
    to_fp16, to_fp32 = onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT
    renames: dict[str, str] = {}
    dropped = []
    for node in graph.node:
        source = producers.get(node.input[0]) if node.op_type == "Cast" and node.input else None
        if (source is not None and source.op_type == "Cast" and _cast_to(node) == to_fp32
                and _cast_to(source) == to_fp16 and node.output[0] not in outputs
                and _is_float32(graph, source.input[0], producers)):
            renames[node.output[0]] = source.input[0]
            dropped.append(node)
    for node in dropped:
        graph.node.remove(node)
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = renames.get(name, name)
    used = {i for node in graph.node for i in node.input} | outputs
    for node in [n for n in graph.node if n.op_type == "Cast" and n.output[0] not in used]:
        graph.node.remove(node)
    return len(dropped)


def _cast_to(node: onnx.NodeProto) -> int | None:
    return next((a.i for a in node.attribute if a.name == "to"), None)


def _is_float32(graph: onnx.GraphProto, name: str, producers: dict[str, onnx.NodeProto]) -> bool:
    # The source of a to-fp16 cast is float32 unless it is itself a cast to something else.
    source = producers.get(name)
    if source is not None and source.op_type == "Cast":
        return _cast_to(source) == onnx.TensorProto.FLOAT
    typed = {v.name: v.type.tensor_type.elem_type for v in (*graph.value_info, *graph.input)}
    return typed.get(name, onnx.TensorProto.FLOAT) == onnx.TensorProto.FLOAT


def _drop_initializer_value_info(graph: onnx.GraphProto) -> None:
    # The converter retypes value_info to fp16 before it spares the initializers of blocked nodes, so an
    # initializer that also has a value_info entry (the dynamo exporter writes them) would be rounded to
    # fp16 and cast back. The entries are redundant: an initializer carries its own type.
    initializers = {i.name for i in graph.initializer}
    kept = [v for v in graph.value_info if v.name not in initializers]
    del graph.value_info[:]
    graph.value_info.extend(kept)


def _split_shared_initializers(graph: onnx.GraphProto, fp32_nodes: set[str]) -> None:
    # An initializer read by both an FP32 node and an FP16 node needs one copy per precision; the
    # converter keeps it whole in FP32, which leaves the FP16 consumer with a mistyped input.
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in set(node.input):
            readers.setdefault(name, []).append(node)
    for init in list(graph.initializer):
        nodes = readers.get(init.name, [])
        fp16_readers = [n for n in nodes if n.name not in fp32_nodes]
        if init.data_type != onnx.TensorProto.FLOAT or not fp16_readers or len(fp16_readers) == len(nodes):
            continue
        copy = graph.initializer.add()
        copy.CopyFrom(init)
        copy.name = f"{init.name}__fp16"
        for node in fp16_readers:
            for i, name in enumerate(node.input):
                if name == init.name:
                    node.input[i] = copy.name


def _name_nodes(graph: onnx.GraphProto) -> None:
    # The block list addresses nodes by name; give unnamed ones a stable name.
    for i, node in enumerate(graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{i}"


def _merge_every(batches: int) -> int:
    # ONNX Runtime merges ranges every N batches and reports "No data is collected" when the batch
    # count is an exact multiple of N (nothing left for its final merge), so pick an N that is not.
    every = CALIB_BATCH
    while batches % every == 0:
        every += 1
    return every


class ChipCalibrationReader:
    """ONNX Runtime ``CalibrationDataReader`` over normalised tiles of real chips, one tile per batch.

    Each batch holds every input the artifact takes (:func:`trtbench.bands.model_feed`): the pixels, and
    for a band-agnostic artifact the wavelengths and GSD of the band set ``meta`` is bound to; for a TL artifact
    the dates and location of each tile's chip (``acquisitions``, one per tile).
    """

    def __init__(self, meta: ModelMetadata, tiles: Sequence[np.ndarray], acquisitions: Sequence | None = None):
        self.meta = meta
        self.tiles = list(tiles)
        self.acquisitions = list(acquisitions) if acquisitions is not None else None
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self.tiles):
            return None
        tile = self.tiles[self._next]
        acquisition = self.acquisitions[self._next] if self.acquisitions is not None else None
        self._next += 1
        return model_feed(self.meta, tile[None].astype(np.float32), acquisition)

    def __len__(self) -> int:
        return len(self.tiles)


def calibration_tiles(meta: ModelMetadata, calib_data: Sequence[str | Path], samples: int,
                      data_bands: Sequence[str] | None = None, tile: int | None = None) -> list[np.ndarray]:
    """Up to ``samples`` tiles of the calibration chips, normalised exactly as at inference."""
    return [pixels for pixels, _ in calibration_samples(meta, calib_data, samples, data_bands, tile)]


def calibration_samples(meta: ModelMetadata, calib_data: Sequence[str | Path], samples: int,
                        data_bands: Sequence[str] | None = None, tile: int | None = None) -> list[tuple]:
    """:func:`calibration_tiles`, each tile with its chip's acquisition (a TL artifact's dates and location)."""
    from ..evaluate import normalised_samples

    files = calibration_files(calib_data)
    if samples < 1:
        raise InputError(f"--calib-samples must be >= 1, got {samples}", "pass e.g. --calib-samples 256")
    tiles = []
    for sample in normalised_samples(meta, files, tile, data_bands):
        tiles.append(sample)
        if len(tiles) == samples:
            break
    if len(tiles) < samples:
        log.warning("calibrating on %d tile(s), fewer than the %d requested: INT8 ranges from few tiles may clip "
                    "unseen scenes", len(tiles), samples)
    return tiles


def _float_nodes(src: str | Path, meta: ModelMetadata, work: Path, external: bool) -> tuple[Path, list[str]]:
    """The nodes INT8 leaves in float, as for FP16: those that do not depend on the pixel values (a band-agnostic
    artifact's weight generator, position embeddings). Calibrated on one band set, their ranges would clip
    the weights generated for another; they run once per band set, so float costs nothing. Returns the
    model to quantize (a copy with named nodes when some had no name) and those node names."""
    model = onnx.load(str(src), load_external_data=False)   # the graph is enough to name the nodes
    if all(node.name for node in model.graph.node):
        return Path(src), sorted(pixel_independent_nodes(model.graph, meta.inputs[0]))
    model = onnx.load(str(src))
    _name_nodes(model.graph)
    named = work / "named.onnx"
    save_onnx(model, named, external=external, check=False)
    return named, sorted(pixel_independent_nodes(model.graph, meta.inputs[0]))


def calibration_band_set(meta: ModelMetadata, data_bands: Sequence[str] | None) -> ModelMetadata:
    """The band set INT8 ranges are measured on: a band-agnostic artifact bound to the sensor that
    ``--data-bands`` names (the calibration files' sensor), else its default set; a fixed-band artifact's own."""
    if meta.band_mode == "dynamic" and data_bands and len(data_bands) == 1 and data_bands[0] in SENSORS:
        return bind_bands(meta, sensor=data_bands[0])
    return meta


def calibration_files(calib_data: Sequence[str | Path]) -> list[Path]:
    """GeoTIFFs named directly or found (sorted) in named folders."""
    if not calib_data:
        raise InputError("INT8 needs calibration data: activation ranges are measured on real chips",
                         "pass --calib-data with GeoTIFF chips (files or a folder) of the sensor the model takes")
    missing = [str(p) for p in map(Path, calib_data) if not p.exists()]
    if missing:
        raise InputError(f"calibration data not found: {', '.join(missing)}", "check the --calib-data path")
    return expand_rasters(calib_data, "--calib-data")


def quantize_int8(src: str | Path, dst: str | Path, calib_data: Sequence[str | Path], *, samples: int = 256,
                  method: str = "minmax", data_bands: Sequence[str] | None = None, tile: int | None = None,
                  external_data: bool = False) -> Path:
    """INT8 Q/DQ ONNX calibrated on real chips, in the symmetric form TensorRT consumes."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise InputError(f"unknown calibration method '{method}'", f"use one of: {', '.join(CALIB_METHODS)}")
    meta = read_onnx_metadata(src)
    external = len(check_onnx_files(src)) > 1
    bound = calibration_band_set(meta, data_bands)
    chips = calibration_samples(bound, calib_data, samples, data_bands, tile)
    reader = ChipCalibrationReader(bound, [pixels for pixels, _ in chips], [acquisition for _, acquisition in chips])
    log.info("calibrating INT8 ranges on %d tile(s) of %s (%s)", len(reader), bound.sensor, ", ".join(bound.bands))
    with tempfile.TemporaryDirectory(prefix="trtbench-int8-") as work:
        quantized = Path(work) / "int8.onnx"
        source, excluded = _float_nodes(src, meta, Path(work), external)
        try:
            quantize_static(str(source), str(quantized), reader, quant_format=QuantFormat.QDQ,
                            op_types_to_quantize=list(INT8_OPS), per_channel=True, reduce_range=True, nodes_to_exclude=excluded,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            calibrate_method=methods[method], use_external_data_format=external,
                            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                                           "QuantizeBias": False,
                                           "CalibMaxIntermediateOutputs": _merge_every(len(reader))},
                            calibration_providers=["CPUExecutionProvider"])
        except (ValueError, RuntimeError) as exc:
            raise TrtbenchError(f"INT8 calibration of {src} failed: {str(exc).splitlines()[0][:300]}",
                                "check that the calibration chips match the model's bands and sizes") from None
        model = onnx.load(str(quantized))
    write_metadata(model, meta.with_(precision="int8"))
    return save_checked(model, dst, external=external_data or external)
