"""Shared helpers for the predict tests (no tests here): small convolutional artifacts and scene crops.

A purely convolutional model is translation-equivariant, so tiled prediction can be compared with
whole-image prediction exactly; it is also fast enough to map the real scenes in seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from onnx import TensorProto, helper, numpy_helper
from rasterio.windows import Window

from trtbench.export.onnx_proto import save_checked, write_metadata
from trtbench.metadata import ModelMetadata
from trtbench.sensors import Sensor, custom_sensor, get_sensor

LANDSAT8 = get_sensor("landsat-c2l1").select(["B2", "B3", "B4"])     # the L8 scene's band order
DISPLAY_RGB = custom_sensor([0.48, 0.56, 0.65], 300.0, mean=[90.0, 90.0, 90.0], std=[50.0, 50.0, 50.0],
                            names=["blue", "green", "red"])
RECEPTIVE_RADIUS = 3   # three 3x3 convolutions: outputs within 3 px of an edge see the padding


def conv_artifact(path: Path, sensor: Sensor, task: str = "segmentation", num_classes: int = 3,
                  patch_size: int = 8, width: int = 16, seed: int = 0, nodata: float | None = None,
                  embed_dim: int | None = 8) -> Path:
    """A seeded 3-layer 3x3 ConvNet as ONNX with trtbench metadata (dynamic batch, height, width).

    An ``embedding`` model ends in a patchify convolution (kernel = stride = ``patch_size``), so its
    ``features`` sit on the patch grid like a ViT's; ``embed_dim=None`` leaves the feature size out of
    the metadata, as in artifacts from before it was recorded. Built node by node with onnx.helper:
    instant, and free of any exporter's quirks.
    """
    rng = np.random.default_rng(seed)
    embedding = task == "embedding"
    out = num_classes if task == "segmentation" else (embed_dim or 8) if embedding else 1
    output = "features" if embedding else "logits"
    channels = [len(sensor.bands), width, width, out]
    nodes, weights, x = [], [], "pixels"

    def conv(cin: int, cout: int, kernel: int, **attrs) -> str:
        i = len(nodes)
        w = (rng.standard_normal((cout, cin, kernel, kernel)) / np.sqrt(kernel * kernel * cin)).astype(np.float32)
        b = (0.1 * rng.standard_normal(cout)).astype(np.float32)
        weights.extend([numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")])
        nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"conv{i}"], **attrs))
        return f"conv{i}"

    for i, (cin, cout) in enumerate(zip(channels, channels[1:])):
        x = conv(cin, cout, 3, pads=[1, 1, 1, 1])
        if i < len(channels) - 2:
            nodes.append(helper.make_node("Relu", [x], [f"relu{i}"]))
            x = f"relu{i}"
    if embedding:
        x = conv(out, out, patch_size, strides=[patch_size, patch_size])
    nodes.append(helper.make_node("Identity", [x], [output]))
    grid = ["batch", out, "grid_h", "grid_w"] if embedding else ["batch", out, "height", "width"]
    graph = helper.make_graph(
        nodes, "convnet_test",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", channels[0], "height", "width"])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, grid)], weights)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    meta = ModelMetadata(model="convnet_test", family="conv", variant="test", sensor=sensor.name,
                         bands=sensor.band_names, wavelengths=sensor.wavelengths, mean=sensor.mean, std=sensor.std,
                         gsd=sensor.gsd, patch_size=patch_size, input_size=64, task=task,
                         num_classes=num_classes if task == "segmentation" else None,
                         embed_dim=embed_dim if embedding else None, outputs=[output], seed=seed, nodata=nodata)
    write_metadata(proto, meta)
    return save_checked(proto, path)


def crop_scene(src: Path, dst: Path, window: Window) -> Path:
    """A real sub-scene written as its own GeoTIFF (georeferencing follows the window)."""
    with rasterio.open(src) as ds:
        profile = ds.profile | {"width": window.width, "height": window.height,
                                "transform": ds.window_transform(window)}
        profile.pop("blockxsize", None), profile.pop("blockysize", None)
        profile["tiled"] = False
        data = ds.read(window=window)
    with rasterio.open(dst, "w", **profile) as out:
        out.write(data)
    return dst


def read_raster(path: Path) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as ds:
        return ds.read(), {"crs": ds.crs, "transform": ds.transform, "width": ds.width, "height": ds.height,
                           "nodata": ds.nodata, "count": ds.count}
