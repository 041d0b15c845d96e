"""How a reader describes what it delivers, in its `info` (JSON-able, sent to the encoder once, before the first
frame): the video stream after rotation, the colour tags actually used, HDR metadata, the side streams to copy.
The file reader's (source.py) is describe_input; the live reader uses the stream helpers.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any

import av

from . import colors, hdr, planes

logger = logging.getLogger(__name__)


def describe_input(container: av.container.InputContainer, video: av.VideoStream, first: av.VideoFrame, *,
                   spec: str, kind: str, fallback_matrix: int, swap: bool, declared_end: float | None,
                   rotation: int, turn: Any, sides: list[av.stream.Stream]) -> dict[str, Any]:
    """A file, image or image sequence's `info`, from its first decoded frame (`swap`: rotated a quarter turn)."""
    v, cc = video, video.codec_context
    rate = v.average_rate or v.guessed_rate
    width, height = (first.height, first.width) if swap else (first.width, first.height)
    matrix, color_range = planes.decode_params(first, fallback_matrix)
    tags = colors.tags(pick_tag(first.color_primaries, cc.color_primaries), pick_tag(first.color_trc, cc.color_trc),
                       pick_tag(first.colorspace, cc.colorspace), first.color_range or cc.color_range)
    frames = v.frames or None
    if kind == "image":
        frames = 1
    duration = declared_end
    if duration is None and container.duration:
        duration = container.duration / 1e6
    return {
        "source": spec,
        "kind": kind,
        "is_image": kind != "video",
        "is_sequence": kind == "sequence",
        "is_live": False,
        "container": container.format.name,
        "codec": codec_name(v),
        "pix_fmt": first.format.name,
        "width": width,
        "height": height,
        "coded_width": first.width,
        "coded_height": first.height,
        "time_base": ratio(first.time_base or v.time_base),
        "frame_rate": ratio(rate) if rate else None,
        "frames": frames,
        "duration": duration,
        "start_pts": first.pts,
        "start_time": v.start_time,  # the stream's, in time_base (what the demuxer says after edit lists)
        "color": tags,
        "color_used": None if not planes.is_yuv(first.format.name) else {
            "matrix": colors.MATRICES[matrix], "range": colors.RANGES[color_range],
            "assumed": not colors.has_matrix(first)},
        "hdr": hdr.read(first),  # mastering display / content light level, carried to the output
        "rotation": rotation,
        "orientation": turn,
        "side_streams": [describe_side(s) for s in sides],
    }


def codec_name(stream: av.stream.Stream) -> str | None:
    """The stream's codec (None when this FFmpeg has no decoder for it)."""
    cc = stream.codec_context
    return cc.codec.canonical_name if cc is not None else None


def describe_side(s: av.stream.Stream) -> dict[str, Any]:
    """An audio or subtitle stream as info["side_streams"] lists it (what the writer needs to copy it)."""
    cc = s.codec_context
    desc: dict[str, Any] = {
        "index": s.index,
        "type": s.type,
        "codec": codec_name(s),
        "profile": cc.profile,
        "time_base": ratio(s.time_base),
        "start_time": s.start_time,
        "bit_rate": cc.bit_rate or None,
        "extradata_size": cc.extradata_size,
        "language": s.language,
        "title": s.metadata.get("title"),
        "default": bool(s.disposition & av.stream.Disposition.default),
        "forced": bool(s.disposition & av.stream.Disposition.forced),
    }
    if s.type == "audio":
        layout = cc.layout
        desc.update(sample_rate=cc.sample_rate, channels=cc.channels,
                    layout=layout.name if layout.name and "channels" not in layout.name else None,
                    sample_format=cc.format.name if cc.format else None, frame_size=cc.frame_size or None)
    return desc


def pick_tag(frame_value: int, stream_value: int) -> int:
    """A colour tag of the first frame, or the stream's when the frame leaves it unspecified (0 or 2)."""
    return frame_value if frame_value not in (0, 2) else stream_value


def ratio(value: Fraction) -> list[int]:
    """A rational as JSON: [numerator, denominator]."""
    value = Fraction(value)
    return [value.numerator, value.denominator]


def declared_duration(stream: av.stream.Stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION")  # Matroska writes one per track
    if tag:
        try:
            h, m, s = tag.split(":")
            return int(h) * 3600 + int(m) * 60 + float(s)
        except ValueError:
            return None
    return None
