"""A picture's every conversion on the way through, with swscale: decoded PyAV frames <-> YUV planes
(frames.Planes) <-> RGB for a model. The colour tags and the defaults for untagged video are colors.py's;
pictures deeper than 8 bits go through float32 (deep_planes.py); the bicubic resample of the planes themselves,
and a change of their format or colour: plane_resample.py.

    matrix, color_range = decode_params(av_frame, fallback_matrix)   # its tags, else the fallback
    planes = from_frame(av_frame, matrix, color_range)      # yuv420p / yuvj420p / yuv420p10le, copied out
    rgb = to_rgb(planes)                                    # H x W x 3 uint8 (8-bit) or float32 (10-bit)
    back = from_rgb(big_rgb, planes.fmt, matrix=1)          # tv range
"""

from __future__ import annotations

import functools
import logging

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from .deep_planes import from_float, to_float
from .frames import Planes

logger = logging.getLogger(__name__)

NATIVE = {"yuv420p": "yuv420p", "yuvj420p": "yuv420p", "yuv420p10le": "yuv420p10le"}  # decoded -> wire format
BICUBIC = Interpolation.BICUBIC | Interpolation.ACCURATE_RND
# AVColorSpace -> the swscale matrix that decodes it (swscale knows only these five).
SWS_MATRIX = {1: Colorspace.ITU709, 4: Colorspace.FCC, 5: Colorspace.ITU601, 6: Colorspace.ITU601,
              7: Colorspace.SMPTE240M, 9: Colorspace.BT2020, 10: Colorspace.BT2020}
# swscale's default YUV <-> RGB path truncates instead of rounding: its round trip left every picture about one
# 8-bit level darker (-1.18 on average on 720p noise). Accurate rounding with full chroma interpolation makes the
# round trip unbiased (+0.01) for ~2.5 ms per 720p frame each way.
SWS_FLAGS = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


def native_format(pix_fmt: str) -> str | None:
    """The plane format a decoded pix_fmt travels as (None: it travels as RGB)."""
    return NATIVE.get(pix_fmt)


def sws_matrix(matrix: int) -> Colorspace:
    """The swscale matrix for an AVColorSpace id (BT.601 for the ones swscale does not know)."""
    return SWS_MATRIX.get(matrix, Colorspace.ITU601)


@functools.cache  # asked per frame: a PyAV format description each time otherwise
def is_yuv(pix_fmt: str) -> bool:
    desc = av.VideoFormat(pix_fmt)
    return not desc.is_rgb and len(desc.components) >= 3


@functools.cache
def bit_depth(pix_fmt: str) -> int:
    """Bits per sample of a pixel format (8 for rgb24 and yuv420p, 10 for yuv420p10le, 16 for rgb48le)."""
    return max(c.bits for c in av.VideoFormat(pix_fmt).components)


def decode_params(frame: av.VideoFrame, fallback_matrix: int) -> tuple[int, int]:
    """(AVColorSpace, AVColorRange) to read `frame` with: its own tags, else the fallback / format default."""
    matrix = frame.colorspace if frame.colorspace in SWS_MATRIX else fallback_matrix
    color_range = frame.color_range
    if color_range not in (1, 2):
        color_range = 2 if frame.format.name.startswith("yuvj") else 1
    return matrix, color_range


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


def frame_to_rgb(frame: av.VideoFrame, matrix: int, color_range: int, *, deep: bool = False) -> np.ndarray:
    """H x W x 3 uint8 RGB (full range) from a decoded frame, reading YUV with the given matrix and range;
    deep: uint16 RGB (rgb48, 0..65535) instead, for inputs of more than 8 bits."""
    fmt = "rgb48le" if deep else "rgb24"
    if not is_yuv(frame.format.name):  # RGB, palette, gray: no matrix involved
        return frame.to_ndarray(format=fmt)
    rgb = frame.reformat(format=fmt, interpolation=SWS_FLAGS, src_colorspace=sws_matrix(matrix),
                         src_color_range=ColorRange(color_range), dst_color_range=ColorRange.JPEG)
    return rgb.to_ndarray()


def rgb_to_frame(rgb: np.ndarray, pix_fmt: str, matrix: int) -> av.VideoFrame:
    """A `pix_fmt` frame from H x W x 3 RGB, uint8 or uint16 (rgb48, 0..65535); YUV formats get `matrix` and tv
    range, tagged on the frame."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24" if rgb.dtype == np.uint8 else "rgb48le")
    if not is_yuv(pix_fmt):
        return frame.reformat(format=pix_fmt)
    out = frame.reformat(format=pix_fmt, interpolation=SWS_FLAGS, src_color_range=ColorRange.JPEG,
                         dst_colorspace=SWS_MATRIX[matrix], dst_color_range=ColorRange.MPEG)
    out.colorspace = matrix
    out.color_range = 1
    return out


def to_rgb(planes: Planes) -> np.ndarray:
    """H x W x 3 full-range RGB: uint8 (swscale, as the source reads 8-bit video) for 8-bit planes, float32 in
    [0, 1] (deep_planes.to_float) for deeper ones."""
    if planes.bits > 8:
        return to_float(planes)
    return frame_to_rgb(to_frame(planes), planes.matrix, planes.color_range)


def from_rgb(rgb: np.ndarray, fmt: str, matrix: int) -> Planes:
    """`fmt` planes (tv range, `matrix`) from H x W x 3 RGB: uint8 (swscale) or float32 in [0, 1] (from_float)."""
    if rgb.dtype != np.uint8:
        return from_float(rgb, fmt, matrix)
    return frame_planes(rgb_to_frame(rgb, fmt, matrix), matrix, 1)
