"""What a prediction writes: the rasters a task produces, their dtypes and nodata values.

Blending happens on probabilities (segmentation), raw values (regression) or features (embedding, on
the patch grid: one cell per patch); a product turns a blended strip into the bytes of one output
raster, with nodata where the input had none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..metadata import ModelMetadata

CLASS_NODATA = 255


@dataclass(frozen=True)
class Product:
    name: str            # file suffix: <scene>.<name>.tif
    bands: int
    dtype: str
    nodata: float
    resampling: str      # for overviews: classes are never averaged
    descriptions: tuple[str, ...]

    def render(self, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``[C, h, w]`` blended values + nodata mask -> this product's ``[bands, h, w]`` array."""
        if self.name == "class":
            out = values.argmax(axis=0).astype(self.dtype)[None]
        else:
            out = values.astype(self.dtype, copy=True)
        out[:, mask] = self.nodata
        return out


def blend_space(meta: ModelMetadata, logits: np.ndarray) -> np.ndarray:
    """What tiles are blended in: class probabilities (softmax over axis 1) or regression values."""
    if meta.task != "segmentation":
        return logits
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def output_channels(meta: ModelMetadata) -> int:
    """Channels of the blended output: classes, regression values or an embedding's features."""
    if meta.task == "embedding":
        if not meta.embed_dim:
            raise InputError(f"{meta.model} is an embedding artifact that does not record its feature size",
                             "re-export it with this version of trtbench (`trtbench export ... --task embedding`)")
        return meta.embed_dim
    return meta.num_classes or 1


def output_mask(mask: np.ndarray, scale: int) -> np.ndarray:
    """A tile's pixel nodata mask on the output grid: a cell is nodata when all its pixels are."""
    if scale == 1:
        return mask
    h, w = mask.shape
    return mask.reshape(h // scale, scale, w // scale, scale).all(axis=(1, 3))


def products_for(meta: ModelMetadata, channels: int, probabilities: bool) -> list[Product]:
    """The rasters to write for this artifact."""
    if meta.task == "embedding":
        names = tuple(f"feature_{i}" for i in range(channels))
        return [Product("embedding", channels, "float32", float("nan"), "average", names)]
    if meta.task == "regression":
        names = tuple(f"value_{i}" for i in range(channels)) if channels > 1 else ("value",)
        return [Product("regression", channels, "float32", float("nan"), "average", names)]
    if channels >= CLASS_NODATA:
        raise InputError(f"{channels} classes do not fit a byte class map", "use a model with fewer than 255 classes")
    names = tuple(meta.class_names or [f"class_{i}" for i in range(channels)])
    out = [Product("class", 1, "uint8", CLASS_NODATA, "nearest", ("class",))]
    if probabilities:
        out.append(Product("probabilities", channels, "float32", float("nan"), "average", names))
    return out
