"""PyTorch -> ONNX for fixed band sets.

The wavelength-generated patch kernel is evaluated once and folded into a constant ``Conv``
(every backend optimizes that); batch, height and width stay dynamic (height and width as
multiples of the patch size, expressed as derived dims so the exporter proves divisibility). The
model's metadata is written into ``metadata_props`` so later commands need only the file.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import onnx
import torch

from ..errors import TrtbenchError
from ..fileio import atomic_output
from ..metadata import ONNX_KEY, ModelMetadata
from ..models import GeoModel
from .recipes import Recipe, load_recipe

OUTPUT_DIM_NAMES = {"features": ["batch", None, "grid_h", "grid_w"], "cls": ["batch", None],
                    "logits": ["batch", None, "height", "width"]}


def export_onnx(model: GeoModel, path: str | Path, *, recipe: Recipe | None = None,
                opset: int | None = None, dynamic_bands: bool = False) -> Path:
    """Write ``model`` (fixed bands) to ``path`` with dynamic batch/height/width; returns the path.

    ``dynamic_bands``: one band-agnostic file instead (:mod:`trtbench.export.dynamic_bands`).
    """
    if dynamic_bands:
        from .dynamic_bands import export_band_agnostic

        return export_band_agnostic(model, path, recipe=recipe, opset=opset)
    meta = model.metadata
    recipe = recipe or load_recipe(meta.family)
    opset = opset or recipe.opset
    if opset < 17:
        raise TrtbenchError(f"opset {opset} splits LayerNorm into primitive ops", "use --opset 17 or newer")
    module = model.folded().eval()
    p = meta.patch_size
    sample = torch.zeros(2, meta.num_bands, 2 * p * 4, 2 * p * 4)
    batch = torch.export.Dim("batch", min=1, max=recipe.max_batch)
    grid_h = torch.export.Dim("grid_h", min=1, max=recipe.max_side // p)
    grid_w = torch.export.Dim("grid_w", min=1, max=recipe.max_side // p)
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            module, (sample,), dynamo=True, opset_version=opset, optimize=True, verbose=False,
            input_names=list(recipe.inputs), output_names=list(meta.outputs),
            dynamic_shapes={"pixels": {0: batch, 2: p * grid_h, 3: p * grid_w}},
        )
    proto = program.model_proto
    _name_output_dims(proto)
    write_metadata(proto, meta)
    return save_checked(proto, path)


def write_metadata(proto: onnx.ModelProto, meta: ModelMetadata) -> None:
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = ONNX_KEY, meta.to_json()
    proto.producer_name = "trtbench"


def save_checked(proto: onnx.ModelProto, path: str | Path) -> Path:
    """Save atomically after ``onnx.checker``'s full check (types and shapes included)."""
    path = Path(path)
    with atomic_output(path) as tmp:
        onnx.save(proto, str(tmp))
        onnx.checker.check_model(str(tmp), full_check=True)
    return path


def _name_output_dims(proto: onnx.ModelProto) -> None:
    # The exporter names derived output dims s12, s39 ...; give them names a reader understands.
    for output in proto.graph.output:
        names = OUTPUT_DIM_NAMES.get(output.name, [])
        for dim, name in zip(output.type.tensor_type.shape.dim, names):
            if name and dim.HasField("dim_param"):
                dim.dim_param = name


class _quiet_exporter:
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
