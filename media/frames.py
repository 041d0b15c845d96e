"""The types every reader and writer shares: a decoded `Frame`, a compressed side-stream `Packet`, the readers'
`SourceError`, and the helpers that describe a PyAV stream in a reader's `info` (JSON-able, sent to the encoder).

Readers (source.py for files, live_source.py for cameras) produce Frame and Packet; writers (sink.py,
live_sink.py) consume them; nothing here opens a file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})  # read and written as images


class SourceError(Exception):
    """The input cannot be read; the message is one line for the user."""


@dataclass
class Planes:
    """A YUV picture as its native planes: yuv420p (uint8) or yuv420p10le (uint16, 0..1023), 2-D arrays Y, U, V
    (U and V ceil(w/2) x ceil(h/2)); `matrix` is an AVColorSpace id, `color_range` 1 (tv) or 2 (pc)."""

    fmt: str
    data: list[np.ndarray]
    matrix: int
    color_range: int

    @property
    def width(self) -> int:
        return self.data[0].shape[1]

    @property
    def height(self) -> int:
        return self.data[0].shape[0]

    @property
    def bits(self) -> int:
        return 10 if self.fmt == "yuv420p10le" else 8


@dataclass
class Frame:
    """One decoded picture: H x W x 3 uint8 RGB, upright. pts/duration in time_base (None when unknown).

    A source opened with planes=True gives YUV 4:2:0 input as `planes` instead (rgb is None then), and other
    inputs deeper than 8 bits as H x W x 3 uint16 RGB (full range 0..65535).

    Live inputs (live_source.py) also set `wallclock`, time.monotonic() when the frame was decoded (for
    end-to-end latency), and `new_segment`, True on the first frame of a new resolution when the source
    runs with on_resize="segment"."""

    pts: int | None
    time_base: Fraction
    rgb: np.ndarray | None
    duration: int | None = None
    wallclock: float | None = None
    new_segment: bool = False
    planes: Planes | None = None


@dataclass
class Packet:
    """One compressed audio/subtitle packet, byte-identical to the input. `stream` is the input stream index
    (info["side_streams"][k]["index"]); timestamps are in time_base."""

    stream: int
    pts: int | None
    dts: int | None
    duration: int | None
    time_base: Fraction
    is_keyframe: bool
    data: bytes

    def fields(self) -> dict[str, Any]:
        """The JSON header fields of a protocol PACKET message (payload travels as the one buffer)."""
        return {"stream": self.stream, "pts": self.pts, "dts": self.dts, "duration": self.duration,
                "tb": [self.time_base.numerator, self.time_base.denominator], "key": self.is_keyframe}

    @classmethod
    def from_fields(cls, header: dict[str, Any], data: bytes | memoryview) -> Packet:
        """Inverse of fields() for a validated PACKET message."""
        return cls(header["stream"], header["pts"], header["dts"], header.get("duration"),
                   Fraction(*header["tb"]), header["key"], bytes(data))


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


def error_line(e: BaseException) -> str:
    """A PyAV/OS error as one line for the user."""
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return text.strip().splitlines()[0]


def ffmpeg_error_line(e: Exception) -> str:
    """The most telling one-line reason in a PyAV error (FFmpeg's own log line when there is one)."""
    log = getattr(e, "log", None)
    text = log[2] if log and len(log) > 2 and log[2] else str(e)
    return text.strip().splitlines()[0] if text.strip() else type(e).__name__
