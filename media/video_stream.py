"""The output's video stream, set up once when the first frame fixes its size (sink.py VideoSink): its pix_fmt
(and the edge padding an odd size needs for 4:2:0), the colour it is written and tagged with (colors.py's rule
for the output size, the source's primaries and transfer), its time base and the encoder's options (HDR
metadata: hdr.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from . import colors, hdr, planes
from .encode_options import EncodeOptions
from .out_size import pix_fmt_step

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamPlan:
    pix_fmt: str
    pad: tuple[int, int]  # rows, columns added at the bottom / right (edge pixels repeated)
    width: int  # the stream's, padding included
    height: int
    matrix: int
    primaries: int
    transfer: int
    time_base: Fraction
    rate: Fraction | None
    step: int | None  # ticks per frame, for missing pts


def plan_stream(info: dict[str, Any], opts: EncodeOptions, height: int, width: int, time_base: Fraction,
                warnings: list[str]) -> StreamPlan:
    """How frames of height x width from the source `info` describes are encoded."""
    pix_fmt = opts.resolve_pix_fmt(info.get("pix_fmt"))
    sub_w, sub_h = pix_fmt_step(pix_fmt)
    pad = ((-height) % sub_h, (-width) % sub_w)
    out_h, out_w = height + pad[0], width + pad[1]
    if pad != (0, 0):
        warnings.append(f"{width}x{height} does not fit {pix_fmt}; padded to {out_w}x{out_h}")
    ids = {} if info.get("is_image") else (info.get("color") or {}).get("ids", {})
    matrix = colors.output_matrix(out_w, out_h, ids.get("matrix"), opts.matrix)
    # Primaries and transfer are the source's (pixels are never converted between them) when it is a
    # tagged video; images (sRGB and the like) get the video defaults that go with the matrix.
    default = 1 if matrix == colors.BT709 else 6
    primaries = ids.get("primaries") if ids.get("primaries") in colors.PRIMARIES else default
    transfer = ids.get("transfer") if ids.get("transfer") in colors.TRANSFERS else default
    tb = Fraction(*info["time_base"]) if info.get("time_base") else time_base
    rate = Fraction(*info["frame_rate"]) if info.get("frame_rate") else None
    step = max(1, round(1 / (rate * tb))) if rate else None
    return StreamPlan(pix_fmt, pad, out_w, out_h, matrix, primaries, transfer, tb, rate, step)


def add_stream(out: av.container.OutputContainer, opts: EncodeOptions, plan: StreamPlan,
               hdr_info: dict[str, Any] | None) -> av.VideoStream:
    """The video stream of `out`, set up as planned (raises av.FFmpegError / ValueError for a codec that refuses)."""
    vs = out.add_stream(opts.codec, rate=plan.rate or 25)
    vs.width, vs.height, vs.pix_fmt = plan.width, plan.height, plan.pix_fmt
    cc = vs.codec_context
    cc.time_base = plan.time_base  # without it pts would count in 1/fps (see docs: "timestamps")
    vs.time_base = plan.time_base
    cc.thread_count = opts.threads
    if planes.is_yuv(plan.pix_fmt):
        cc.colorspace, cc.color_range = plan.matrix, 1
    cc.color_primaries, cc.color_trc = plan.primaries, plan.transfer
    if opts.bit_rate():
        cc.bit_rate = opts.bit_rate()
    vs.options = hdr.encoder_options(opts.codec, hdr_info, opts.codec_options())
    return vs
