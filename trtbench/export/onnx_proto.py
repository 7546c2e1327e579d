"""Finishing an exported ``ModelProto``: trtbench metadata, readable output dims, a checked atomic save.

Shared by every writer of ONNX files (fixed-band and band-agnostic export, fp16/int8 conversion); it
needs ``onnx`` only, not PyTorch.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import onnx

from ..external_data import save_onnx
from ..metadata import ONNX_KEY, ModelMetadata

OUTPUT_DIM_NAMES = {"features": ["batch", None, "grid_h", "grid_w"], "cls": ["batch", None],
                    "logits": ["batch", None, "height", "width"]}


def write_metadata(proto: onnx.ModelProto, meta: ModelMetadata) -> None:
    """Record ``meta`` in ``metadata_props`` (the only entry), so later commands need only the file."""
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = ONNX_KEY, meta.to_json()
    proto.producer_name = "trtbench"


def save_checked(proto: onnx.ModelProto, path: str | Path, *, external: bool = False) -> Path:
    """Save atomically after ``onnx.checker``'s full check (types and shapes included): one file, or
    ``path`` + ``path.data`` (external data) when ``external`` is asked or the model is over protobuf's
    2 GB (:func:`trtbench.external_data.save_onnx`)."""
    return save_onnx(proto, path, external=external)


def name_output_dims(proto: onnx.ModelProto) -> None:
    """The exporter names derived output dims s12, s39 ...; give them names a reader understands."""
    for output in proto.graph.output:
        names = OUTPUT_DIM_NAMES.get(output.name, [])
        for dim, name in zip(output.type.tensor_type.shape.dim, names):
            if name and dim.HasField("dim_param"):
                dim.dim_param = name


class QuietExporter:
    """Silence the exporter's chatter (torchvision-op notices, deprecation warnings) during export."""

    def __enter__(self) -> None:
        self._level = logging.getLogger("torch.onnx").level
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc: object) -> None:
        self._warnings.__exit__(*exc)
        logging.getLogger("torch.onnx").setLevel(self._level)
