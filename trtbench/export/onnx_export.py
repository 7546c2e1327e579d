"""PyTorch -> ONNX for fixed band sets.

The wavelength-generated patch kernel is evaluated once and folded into a constant ``Conv``
(every backend optimizes that); batch, height and width stay dynamic (height and width as
multiples of the patch size, expressed as derived dims so the exporter proves divisibility). The
model's metadata is written into ``metadata_props`` so later commands need only the file. LoRA adapters
are merged into the weights first (:mod:`trtbench.models.lora`), so every artifact is the plain graph.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import TrtbenchError
from ..models import GeoModel
from ..models.lora import merged_copy
from .onnx_proto import QuietExporter, name_output_dims, save_checked, write_metadata
from .recipes import Recipe, load_recipe


def export_onnx(model: GeoModel, path: str | Path, *, recipe: Recipe | None = None,
                opset: int | None = None, dynamic_bands: bool = False, external_data: bool = False) -> Path:
    """Write ``model`` (fixed bands) to ``path`` with dynamic batch/height/width; returns the path.

    ``dynamic_bands``: one band-agnostic file instead (:mod:`trtbench.export.dynamic_bands`).
    ``external_data``: write the weights to ``path.data`` beside it even when the model fits in one file
    (a model over protobuf's 2 GB always gets the pair: :func:`trtbench.external_data.save_onnx`).
    """
    model = merged_copy(model)   # the model itself, unless it carries LoRA adapters
    if dynamic_bands:
        from .dynamic_bands import export_band_agnostic

        return export_band_agnostic(model, path, recipe=recipe, opset=opset, external_data=external_data)
    meta = model.metadata
    recipe = recipe or load_recipe(meta.family)
    opset = opset or recipe.opset
    if opset < 17:
        raise TrtbenchError(f"opset {opset} splits LayerNorm into primitive ops", "use --opset 17 or newer")
    module = model.folded().eval()
    p = meta.patch_size
    sample = torch.zeros(2, meta.channels, 2 * p * 4, 2 * p * 4)   # a time series: T*C channels, frame-major
    batch = torch.export.Dim("batch", min=1, max=recipe.max_batch)
    grid_h = torch.export.Dim("grid_h", min=1, max=recipe.max_side // p)
    grid_w = torch.export.Dim("grid_w", min=1, max=recipe.max_side // p)
    args: tuple[torch.Tensor, ...] = (sample,)
    dynamic: dict[str, dict] = {"pixels": {0: batch, 2: p * grid_h, 3: p * grid_w}}
    if meta.inputs[1:] == ["temporal_coords", "location_coords"]:   # Prithvi TL: GeoModel.forward(pixels, time, latlon)
        args += (torch.zeros(2, meta.num_frames, 2), torch.zeros(2, 2))
        dynamic |= {"time": {0: batch}, "latlon": {0: batch}}
    with QuietExporter(), torch.no_grad():
        program = torch.onnx.export(
            module, args, dynamo=True, opset_version=opset, optimize=True, verbose=False,
            input_names=[*recipe.inputs, *meta.inputs[1:]], output_names=list(meta.outputs),
            dynamic_shapes=dynamic,
        )
    proto = program.model_proto
    name_output_dims(proto)
    write_metadata(proto, meta)
    return save_checked(proto, path, external=external_data)
