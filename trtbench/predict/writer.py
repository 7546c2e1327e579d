"""Output rasters: a fixed-layout work file written strip by strip, then a Cloud-Optimized GeoTIFF.

During a run each product lives in a headerless, pixel-interleaved file where every strip has a
fixed byte offset: rewriting a strip after an interruption is idempotent, and a kill -9 can never
leave a half-updated header (as it could in a GeoTIFF). When all rows are done GDAL's COG driver
reads the work file through a raw VRT and writes the COG (compressed, with overviews) inside the
run's work folder; the caller renames the COG into place.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from .products import Product
from .reader import SceneInfo


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


COMPRESSIONS = ("deflate", "zstd", "lzw")


def cog_options(product: Product, compress: str) -> dict[str, str | int]:
    """GDAL COG driver options: 512 blocks, the predictor for the dtype, the fastest level of the codec.

    Level 1 of DEFLATE or ZSTD is about as small as the default level on model outputs and several
    times faster to write; DEFLATE is the default because every GeoTIFF reader decodes it.
    """
    options: dict[str, str | int] = {
        "COMPRESS": compress.upper(), "PREDICTOR": "YES", "BLOCKSIZE": 512, "NUM_THREADS": "ALL_CPUS",
        "RESAMPLING": product.resampling, "OVERVIEWS": "IGNORE_EXISTING", "BIGTIFF": "IF_SAFER"}
    if compress != "lzw":
        options["LEVEL"] = 1
    return options


def write_cog(work: WorkRaster, info: SceneInfo, dst: Path, compress: str = "deflate") -> None:
    """Turn ``work`` into a COG at ``dst`` with the scene's CRS, transform and size.

    The work file is described in place by a raw VRT (pixel-interleaved, fixed offsets) and GDAL's
    COG driver reads it directly, building overviews and compressing on all cores: no staging GeoTIFF
    is written and read again, which was most of the time a scene spent after its last tile.
    """
    import rasterio
    from rasterio.shutil import copy

    vrt = dst.with_name(dst.name + ".vrt")
    try:
        vrt.write_text(raw_vrt(work, info))
        with rasterio.Env(GDAL_VRT_ENABLE_RAWRASTERBAND="YES"):
            copy(str(vrt), str(dst), driver="COG", **cog_options(work.product, compress))
    finally:
        vrt.unlink(missing_ok=True)


def raw_vrt(work: WorkRaster, info: SceneInfo) -> str:
    """GDAL VRT XML exposing the ``[H, W, bands]`` work file as a georeferenced raster."""
    from xml.sax.saxutils import escape

    from rasterio.dtypes import _gdal_typename

    product = work.product
    itemsize = np.dtype(product.dtype).itemsize
    order = "LSB" if sys.byteorder == "little" else "MSB"  # the work file is in native byte order
    bands = "".join(
        f'<VRTRasterBand dataType="{_gdal_typename(product.dtype)}" band="{i + 1}" subClass="VRTRawRasterBand">'
        f"<Description>{escape(name)}</Description><NoDataValue>{product.nodata!r}</NoDataValue>"
        f'<SourceFilename relativeToVRT="0">{escape(str(work.path.resolve()))}</SourceFilename>'
        f"<ImageOffset>{i * itemsize}</ImageOffset><PixelOffset>{product.bands * itemsize}</PixelOffset>"
        f"<LineOffset>{work.row_bytes}</LineOffset><ByteOrder>{order}</ByteOrder></VRTRasterBand>"
        for i, name in enumerate(product.descriptions))
    transform = ", ".join(repr(v) for v in info.transform.to_gdal())
    return (f'<VRTDataset rasterXSize="{info.width}" rasterYSize="{info.height}">'
            f"<SRS>{escape(info.crs.to_wkt())}</SRS><GeoTransform>{transform}</GeoTransform>{bands}</VRTDataset>")
