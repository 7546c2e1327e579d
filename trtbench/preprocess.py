"""From raw pixels in native units to the normalised float32 batch an artifact expects.

All checks name what was expected, so a wrong file fails with a fix rather than a shape error deep
inside a runtime.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .metadata import ModelMetadata


def missing_mask(pixels: np.ndarray, nodata: float | None) -> np.ndarray:
    """``[H, W]`` True where any band is nodata (or NaN, when NaN is the declared nodata)."""
    if nodata is None:
        return np.zeros(pixels.shape[-2:], dtype=bool)
    if np.isnan(nodata):
        return np.isnan(pixels).any(axis=0)
    return (pixels == nodata).any(axis=0)


def normalize(meta: ModelMetadata, pixels: np.ndarray, nodata: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``[C, H, W]`` native units -> float32 ``(x - mean) / std`` and the ``[H, W]`` nodata mask.

    Nodata pixels become 0 (the band mean), the least surprising value for the model, and are
    reported in the mask so callers can exclude or re-mark them. NaN in a file that does not declare
    NaN as its nodata is an error: it would silently poison every output it touches.
    """
    check_bands(meta, pixels)
    x = pixels.astype(np.float32)
    nan_is_nodata = nodata is not None and np.isnan(nodata)
    if not nan_is_nodata and np.isnan(x).any():
        raise InputError(f"{int(np.isnan(x).sum())} NaN pixel values in the input",
                         "declare NaN as the file's nodata value or fill the gaps before inference")
    mask = missing_mask(x, nodata)
    mean, std = channel_statistics(meta)
    x = (x - mean[:, None, None]) / std[:, None, None]
    x[:, mask] = 0.0
    return x, mask


def channel_statistics(meta: ModelMetadata) -> tuple[np.ndarray, np.ndarray]:
    """Per input channel mean and std (float32): the bands' own, repeated for every frame of a time series
    (the ``pixels`` input is frame-major, ``meta.channels`` = frames x bands)."""
    return (np.tile(np.asarray(meta.mean, np.float32), meta.num_frames),
            np.tile(np.asarray(meta.std, np.float32), meta.num_frames))


def check_bands(meta: ModelMetadata, pixels: np.ndarray) -> None:
    """The channel axis holds the artifact's ``meta.channels`` channels (every frame's bands)."""
    channels = pixels.shape[-3] if pixels.ndim >= 3 else None
    if pixels.ndim not in (3, 4) or channels != meta.channels:
        frames = f" x {meta.num_frames} dates" if meta.num_frames > 1 else ""
        raise InputError(
            f"expected {meta.channels} {'channels' if frames else 'bands'} ({', '.join(meta.bands)}{frames}), "
            f"got an array of shape "
            f"{pixels.shape}", "select the model's bands (--data-bands) or use an artifact exported for this band set")


def check_size(meta: ModelMetadata, height: int, width: int) -> None:
    p = meta.patch_size
    if height % p or width % p or height < p or width < p:
        raise InputError(f"image size {height}x{width} is not a multiple of the patch size {p}",
                         f"crop or tile to a multiple of {p} (e.g. --tile {max(p, (min(height, width) // p) * p)})")


def check_batch(meta: ModelMetadata, batch: np.ndarray) -> None:
    """Validate a normalised ``[B, C, H, W]`` batch against the artifact before it reaches a runtime."""
    if batch.ndim != 4:
        raise InputError(f"expected a batch [B, C, H, W], got shape {batch.shape}", "add the batch axis")
    check_bands(meta, batch)
    check_size(meta, *batch.shape[-2:])
    if np.isnan(batch).any():
        raise InputError(f"{int(np.isnan(batch).sum())} NaN values in the batch",
                         "mask or fill nodata before inference (trtbench.preprocess.normalize does)")
