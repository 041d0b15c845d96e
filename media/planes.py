"""YUV pictures as planes (frames.Planes) <-> PyAV frames, and the conversions a worker and the writer make on
them with swscale: to RGB for a model (8 or 16 bits), back from RGB, and the 4x bicubic resample of the planes
themselves (what `ffmpeg -vf scale=iw*4:ih*4:flags=bicubic` does).

    planes = from_frame(av_frame, matrix, color_range)      # yuv420p / yuvj420p / yuv420p10le, copied out
    rgb = to_rgb(planes)                                    # H x W x 3 uint8 (8-bit) or uint16 (10-bit)
    back = from_rgb(big_rgb, planes.fmt, matrix=1)          # tv range
    big = resample(planes, 4 * w, 4 * h, matrix=1, color_range=1)

Colour rule: the planes keep their matrix and range. A resample whose target colour differs (an SD BT.601 input
written as HD BT.709, a full-range input written tv range) goes through RGB at the small size (8-bit: swscale's
accurate path, which then converts and scales in one pass; deeper: float32 here), otherwise the planes are
scaled directly. Deep pictures never go through swscale's 48-bit RGB: FFmpeg 8.1 scales it by 65280 instead of
65535 (0.4% dark) and breaks it with full chroma interpolation; to_float / from_float do it exactly instead.
"""

from __future__ import annotations

import logging

import av
import numpy as np
from av.video.reformatter import ColorRange, Interpolation

from . import colors
from .frames import Planes

logger = logging.getLogger(__name__)

NATIVE = {"yuv420p": "yuv420p", "yuvj420p": "yuv420p", "yuv420p10le": "yuv420p10le"}  # decoded -> wire format
BICUBIC = Interpolation.BICUBIC | Interpolation.ACCURATE_RND


def native_format(pix_fmt: str) -> str | None:
    """The plane format a decoded pix_fmt travels as (None: it travels as RGB)."""
    return NATIVE.get(pix_fmt)


def from_frame(frame: av.VideoFrame, matrix: int, color_range: int) -> Planes:
    """The planes of a decoded yuv420p / yuvj420p / yuv420p10le frame, copied out of the decoder's buffers."""
    fmt = NATIVE[frame.format.name]
    dtype = np.dtype(np.uint8) if fmt == "yuv420p" else np.dtype("<u2")
    data = []
    for plane in frame.planes:
        rows = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
        data.append(np.ascontiguousarray(rows[:, : plane.width]))
    return Planes(fmt, data, matrix, color_range)


def to_frame(planes: Planes) -> av.VideoFrame:
    """A PyAV frame holding a copy of the planes, tagged with their matrix and range."""
    frame = av.VideoFrame(planes.width, planes.height, planes.fmt)
    dtype = planes.data[0].dtype
    for plane, src in zip(frame.planes, planes.data):
        rows = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
        rows[:, : plane.width] = src
    frame.colorspace, frame.color_range = planes.matrix, planes.color_range
    return frame


def frame_planes(frame: av.VideoFrame, matrix: int, color_range: int) -> Planes:
    """Planes viewing a frame that swscale produced (no copy when its rows are unpadded)."""
    fmt = frame.format.name
    dtype = np.dtype(np.uint8) if fmt == "yuv420p" else np.dtype("<u2")
    data = []
    for plane in frame.planes:
        rows = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
        data.append(rows if rows.shape[1] == plane.width else np.ascontiguousarray(rows[:, : plane.width]))
    return Planes(fmt, data, matrix, color_range)


def to_rgb(planes: Planes) -> np.ndarray:
    """H x W x 3 full-range RGB: uint8 (swscale, as the source reads 8-bit video) for 8-bit planes, float32 in
    [0, 1] (to_float) for deeper ones."""
    if planes.bits > 8:
        return to_float(planes)
    return colors.to_rgb(to_frame(planes), planes.matrix, planes.color_range)


def from_rgb(rgb: np.ndarray, fmt: str, matrix: int) -> Planes:
    """`fmt` planes (tv range, `matrix`) from H x W x 3 RGB: uint8 (swscale) or float32 in [0, 1] (from_float)."""
    if rgb.dtype != np.uint8:
        return from_float(rgb, fmt, matrix)
    return frame_planes(colors.from_rgb(rgb, fmt, matrix), matrix, 1)


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


def resample(planes: Planes, width: int, height: int, *, matrix: int, color_range: int = 1,
             fmt: str | None = None) -> Planes:
    """Bicubic resample to width x height (`fmt`: another plane format, by default the same), written with
    `matrix` and `color_range`: the planes directly when the colour stays, else through 48-bit RGB."""
    fmt = fmt or planes.fmt
    if (matrix, color_range) == (planes.matrix, planes.color_range):
        out = to_frame(planes).reformat(width=width, height=height, format=fmt, interpolation=BICUBIC)
    elif planes.bits > 8 or fmt != "yuv420p":
        import cv2

        rgb = cv2.resize(to_float(planes), (width, height), interpolation=cv2.INTER_CUBIC)
        return from_float(np.clip(rgb, 0, 1), fmt, matrix, color_range)
    else:
        src = av.VideoFrame.from_ndarray(to_rgb(planes), format="rgb24")
        out = src.reformat(width=width, height=height, format=fmt, interpolation=BICUBIC | Interpolation.FULL_CHR_H_INT,
                           src_color_range=ColorRange.JPEG, dst_colorspace=colors.sws_matrix(matrix),
                           dst_color_range=ColorRange(color_range))
    return frame_planes(out, matrix, color_range)


def convert(planes: Planes, fmt: str, matrix: int, color_range: int = 1) -> Planes:
    """The same picture in another plane format or colour (the writer's fallback when a worker's answer is not
    what the encoder takes)."""
    if (fmt, matrix, color_range) == (planes.fmt, planes.matrix, planes.color_range):
        return planes
    return resample(planes, planes.width, planes.height, matrix=matrix, color_range=color_range, fmt=fmt)
