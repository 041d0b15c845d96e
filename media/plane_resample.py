"""The bicubic resample of YUV planes themselves, with swscale (what `ffmpeg -vf scale=iw*4:ih*4:flags=bicubic`
does: --model bicubic on the workers), and the same picture in another plane format or colour (the writer's
fallback when a worker's answer is not what the encoder takes).

    big = resample(planes, 4 * w, 4 * h, matrix=1, color_range=1)
    same = convert(planes, "yuv420p10le", matrix=1)

Colour rule: the planes keep their matrix and range. A resample whose target colour differs (an SD BT.601 input
written as HD BT.709, a full-range input written tv range) goes through RGB at the small size (8-bit: swscale's
accurate path, which then converts and scales in one pass; deeper: float32, deep_planes.py), otherwise the planes
are scaled directly.
"""

from __future__ import annotations

import av
from av.video.reformatter import ColorRange, Interpolation

from .deep_planes import resample as resample_float
from .frames import Planes
from .planes import BICUBIC, frame_planes, sws_matrix, to_frame, to_rgb


def resample(planes: Planes, width: int, height: int, *, matrix: int, color_range: int = 1,
             fmt: str | None = None) -> Planes:
    """Bicubic resample to width x height (`fmt`: another plane format, by default the same), written with
    `matrix` and `color_range`: the planes directly when the colour stays, else through RGB."""
    fmt = fmt or planes.fmt
    if (matrix, color_range) == (planes.matrix, planes.color_range):
        out = to_frame(planes).reformat(width=width, height=height, format=fmt, interpolation=BICUBIC)
    elif planes.bits > 8 or fmt != "yuv420p":
        return resample_float(planes, width, height, matrix=matrix, color_range=color_range, fmt=fmt)
    else:
        src = av.VideoFrame.from_ndarray(to_rgb(planes), format="rgb24")
        out = src.reformat(width=width, height=height, format=fmt, interpolation=BICUBIC | Interpolation.FULL_CHR_H_INT,
                           src_color_range=ColorRange.JPEG, dst_colorspace=sws_matrix(matrix),
                           dst_color_range=ColorRange(color_range))
    return frame_planes(out, matrix, color_range)


def convert(planes: Planes, fmt: str, matrix: int, color_range: int = 1) -> Planes:
    """The same picture in `fmt` with `matrix` and `color_range` (itself when it is that already)."""
    if (fmt, matrix, color_range) == (planes.fmt, planes.matrix, planes.color_range):
        return planes
    return resample(planes, planes.width, planes.height, matrix=matrix, color_range=color_range, fmt=fmt)
