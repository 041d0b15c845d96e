"""MATLAB `imresize(..., 'bicubic')` in numpy, antialiasing included, for LR-GOPRO-compatible data.

The reference data (sheet §4) is made with MATLAB's imresize, and PIL/cv2/torch bicubic all differ from it:
- kernel: Keys cubic with a = -0.5 (torch uses a = -0.75);
- downscaling (scale < 1) widens the kernel by 1/scale and scales it by `scale` (antialiasing);
- output pixel x (1-based) samples input coordinate u = x/scale + 0.5*(1 - 1/scale);
- taps left = floor(u - width/2) + (0 .. ceil(width)+1), weights normalised to sum 1, all-zero taps dropped;
- out-of-range taps read the mirrored image (symmetric padding: ... 2 1 | 1 2 3 ... n | n n-1 ...);
- output length = ceil(scale * input length); rows are resized before columns (MATLAB's order for equal scales).
"""

from __future__ import annotations

import math

import numpy as np


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5 (MATLAB's `cubic`)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


def contributions(
    in_length: int, out_length: int, scale: float, antialiasing: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(weights, indices), each (out_length, taps): 0-based input indices (mirrored) and their weights."""
    kernel_width = 4.0
    if scale < 1 and antialiasing:
        kernel = lambda t: scale * cubic(scale * t)  # noqa: E731 - the widened, rescaled kernel
        kernel_width = kernel_width / scale
    else:
        kernel = cubic
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based, may be out of range
    weights = kernel(u[:, None] - indices)
    weights = weights / weights.sum(axis=1, keepdims=True)
    keep = np.any(weights != 0, axis=0)
    weights, indices = weights[:, keep], indices[:, keep]
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    return weights, indices


def _resize_axis(img: np.ndarray, axis: int, out_length: int, scale: float, antialiasing: bool) -> np.ndarray:
    weights, indices = contributions(img.shape[axis], out_length, scale, antialiasing)
    moved = np.moveaxis(img, axis, 0)
    out = np.zeros((out_length,) + moved.shape[1:], dtype=img.dtype)
    extra = (1,) * (moved.ndim - 1)
    # a sparse product: one gather + multiply-add per tap (taps ~ 4/scale + 2), not a dense matrix
    for t in range(weights.shape[1]):
        out += weights[:, t].reshape((-1,) + extra).astype(img.dtype) * moved[indices[:, t]]
    return np.moveaxis(out, 0, axis)


def imresize(
    img: np.ndarray,
    scale: float | None = None,
    output_shape: tuple[int, int] | None = None,
    antialiasing: bool = True,
    dtype: np.dtype | type = np.float64,
) -> np.ndarray:
    """MATLAB `imresize(img, scale, 'bicubic')` of an (H, W) or (H, W, C) float image (values are not clipped).

    Give `scale` (as MATLAB: output = ceil(scale * size), kernel from `scale`) or `output_shape` (kernel from the
    per-axis ratio). uint8 input is converted to float in [0, 1] first (MATLAB `im2double`). `dtype` float32 is
    ~2x faster and close enough for uint8 output.
    """
    if img.dtype == np.uint8:
        img = img.astype(dtype) / 255.0
    else:
        img = img.astype(dtype, copy=False)
    h, w = img.shape[:2]
    if output_shape is not None:
        out_h, out_w = output_shape
        scales = (out_h / h, out_w / w)
    elif scale is not None:
        scales = (float(scale), float(scale))
        out_h, out_w = math.ceil(scale * h), math.ceil(scale * w)
    else:
        raise ValueError("imresize needs scale or output_shape")
    # MATLAB resizes the dimension with the smaller scale first (rows on a tie)
    order = (0, 1) if scales[0] <= scales[1] else (1, 0)
    out = img
    for axis in order:
        out = _resize_axis(out, axis, (out_h, out_w)[axis], scales[axis], antialiasing)
    return out


def to_uint8(img: np.ndarray) -> np.ndarray:
    """MATLAB `im2uint8`: clip to [0, 1], scale by 255, round half away from zero."""
    return np.floor(np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def modcrop(img: np.ndarray, multiple: int) -> np.ndarray:
    """Crop the bottom/right so H and W are multiples of `multiple` (MATLAB `modcrop`)."""
    h, w = img.shape[:2]
    return img[: h - h % multiple, : w - w % multiple]
