"""Output rasters: a fixed-layout work file written strip by strip, then a Cloud-Optimized GeoTIFF.

During a run each product lives in a headerless, pixel-interleaved file where every strip has a
fixed byte offset: rewriting a strip after an interruption is idempotent, and a kill -9 can never
leave a half-updated header (as it could in a GeoTIFF). When all rows are done the work file is
streamed into a tiled GeoTIFF and rio-cogeo turns that into a COG (compressed, with overviews),
all inside the run's work folder; the caller renames the COG into place.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .products import Product
from .reader import SceneInfo

CHUNK_ROWS = 256  # rows copied at a time when building the GeoTIFF


class WorkRaster:
    """One product's pixels as ``[H, W, bands]`` in a plain file, written and read by row ranges."""

    def __init__(self, path: Path, product: Product, height: int, width: int):
        self.path = path
        self.product = product
        self.height, self.width = height, width
        self.row_bytes = width * product.bands * np.dtype(product.dtype).itemsize

    def create(self) -> None:
        with open(self.path, "wb") as f:
            f.truncate(self.height * self.row_bytes)   # sparse: no disk written until strips arrive

    def write(self, y0: int, array: np.ndarray) -> None:
        """Write ``[bands, h, W]`` at scene row ``y0``."""
        data = np.ascontiguousarray(array.transpose(1, 2, 0), dtype=self.product.dtype)
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, data.tobytes(), y0 * self.row_bytes)
        finally:
            os.close(fd)

    def read(self, y0: int, rows: int) -> np.ndarray:
        data = np.fromfile(self.path, dtype=self.product.dtype, count=rows * self.width * self.product.bands,
                           offset=y0 * self.row_bytes)
        return data.reshape(rows, self.width, self.product.bands).transpose(2, 0, 1)


def cog_profile(product: Product) -> dict:
    """DEFLATE at level 1 with the predictor for the dtype: about as small as level 6, much faster to write."""
    from rio_cogeo.profiles import cog_profiles

    predictor = 3 if np.dtype(product.dtype).kind == "f" else 2
    return cog_profiles.get("deflate") | {"predictor": predictor, "zlevel": 1}


def write_cog(work: WorkRaster, info: SceneInfo, dst: Path) -> None:
    """Stream ``work`` into a COG at ``dst`` with the scene's CRS, transform and size."""
    import rasterio
    from rasterio.windows import Window
    from rio_cogeo.cogeo import cog_translate
    product = work.product
    staging = dst.with_name(dst.name + ".gtiff")
    profile = dict(driver="GTiff", width=info.width, height=info.height, count=product.bands, dtype=product.dtype,
                   crs=info.crs, transform=info.transform, nodata=product.nodata, tiled=True,
                   blockxsize=256, blockysize=256)
    try:
        with rasterio.open(staging, "w", **profile) as out:
            for i, name in enumerate(product.descriptions, start=1):
                out.set_band_description(i, name)
            for y0 in range(0, info.height, CHUNK_ROWS):
                rows = min(CHUNK_ROWS, info.height - y0)
                out.write(work.read(y0, rows), window=Window(0, y0, info.width, rows))
        cog_translate(staging, dst, cog_profile(product), overview_resampling=product.resampling,
                      in_memory=False, quiet=True, config={"GDAL_NUM_THREADS": "ALL_CPUS"})
    finally:
        staging.unlink(missing_ok=True)
