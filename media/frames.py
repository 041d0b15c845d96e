"""The types every reader and writer shares: a decoded `Frame`, its YUV `Planes`, the readers' `SourceError`, and
an error as one line. A compressed side-stream packet: packets.py; how a reader describes its streams in `info`:
describe.py.

Readers (source.py for files, live_source.py for cameras) produce Frames; writers (sink.py, live_sink.py) consume
them; nothing here opens a file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

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

    Live inputs give a live_queue.LiveFrame: the same, with its capture time and new-segment flag."""

    pts: int | None
    time_base: Fraction
    rgb: np.ndarray | None
    duration: int | None = None
    planes: Planes | None = None


def error_line(e: BaseException) -> str:
    """A PyAV/OS error as one line for the user."""
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return text.strip().splitlines()[0]


def ffmpeg_error_line(e: Exception) -> str:
    """The most telling one-line reason in a PyAV error (FFmpeg's own log line when there is one)."""
    log = getattr(e, "log", None)
    text = log[2] if log and len(log) > 2 and log[2] else str(e)
    return text.strip().splitlines()[0] if text.strip() else type(e).__name__
