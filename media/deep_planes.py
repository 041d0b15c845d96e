"""Pictures deeper than 8 bits, and colour-changing resamples of them, in float32 instead of swscale: planes of
any depth <-> H x W x 3 float RGB in [0, 1] (planes.py calls these for 10-bit planes and float answers).

Deep pictures never go through swscale's 48-bit RGB: FFmpeg 8.1 scales it by 65280 instead of 65535 (0.4% dark)
and breaks it with full chroma interpolation; to_float / from_float do it exactly instead.
"""

from __future__ import annotations

import logging

import numpy as np

from .frames import Planes

logger = logging.getLogger(__name__)

# (Kr, Kb) of each AVColorSpace matrix: Y = Kr R + (1 - Kr - Kb) G + Kb B
_K = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 5: (0.299, 0.114), 6: (0.299, 0.114), 7: (0.212, 0.087),
      9: (0.2627, 0.0593), 10: (0.2627, 0.0593)}


def _levels(bits: int, color_range: int) -> tuple[float, float, float, float]:
    """(luma offset, luma span, chroma centre, chroma span) in code values."""
    if color_range == 2:
        top = float(2**bits - 1)
        return 0.0, top, float(2 ** (bits - 1)), top
    s = float(2 ** (bits - 8))
    return 16 * s, 219 * s, 128 * s, 224 * s


def to_float(planes: Planes) -> np.ndarray:
    """H x W x 3 float32 RGB in [0, 1] (not clipped below 0 or above 1 by more than the input says) from
    planes of any depth; chroma is upsampled bilinearly (centre-sited)."""
    import cv2  # here: the 8-bit paths (the bicubic worker, the writer) start without OpenCV

    kr, kb = _K.get(planes.matrix, _K[6])
    y0, ys, c0, cs = _levels(planes.bits, planes.color_range)
    h, w = planes.height, planes.width
    y = (planes.data[0].astype(np.float32) - y0) / ys
    u, v = ((cv2.resize(p.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) - c0) / cs
            for p in planes.data[1:])
    kg = 1 - kr - kb
    r = y + 2 * (1 - kr) * v
    b = y + 2 * (1 - kb) * u
    g = (y - kr * r - kb * b) / kg
    return np.clip(np.stack([r, g, b], axis=2), 0, 1)


def from_float(rgb: np.ndarray, fmt: str, matrix: int, color_range: int = 1) -> Planes:
    """`fmt` planes from H x W x 3 float RGB in [0, 1]: the matrix in float, chroma averaged over 2x2 blocks,
    rounded once to the format's depth."""
    import cv2

    bits = 10 if fmt == "yuv420p10le" else 8
    kr, kb = _K.get(matrix, _K[6])
    y0, ys, c0, cs = _levels(bits, color_range)
    rgb = np.asarray(rgb, dtype=np.float32)
    h, w = rgb.shape[:2]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = kr * r + (1 - kr - kb) * g + kb * b
    u = (b - y) / (2 * (1 - kb))
    v = (r - y) / (2 * (1 - kr))
    cw, ch = -(-w // 2), -(-h // 2)
    top = 2**bits - 1
    dtype = np.uint8 if bits == 8 else np.dtype("<u2")
    data = [np.clip(np.rint(y * ys + y0), 0, top).astype(dtype)]
    for c in (u, v):
        small = cv2.resize(c, (cw, ch), interpolation=cv2.INTER_AREA)
        data.append(np.clip(np.rint(small * cs + c0), 0, top).astype(dtype))
    return Planes(fmt, data, matrix, color_range)


def resample(planes: Planes, width: int, height: int, *, matrix: int, color_range: int, fmt: str) -> Planes:
    """Bicubic resample to width x height in another colour, through float RGB at the small size
    (plane_resample.resample for deep planes or a deep target)."""
    import cv2

    rgb = cv2.resize(to_float(planes), (width, height), interpolation=cv2.INTER_CUBIC)
    return from_float(np.clip(rgb, 0, 1), fmt, matrix, color_range)
