"""Open a run's input: the one place a spec is told to be a file or a live input.

    with open_input("in.mp4") as src: ...                           # source.VideoSource
    with open_input("rtsp://cam/x", live=LiveOptions()) as src: ...  # live_source.LiveSource (same interface)

The live reader is imported here only for a live input, so a file job never loads it (tests/test_layers.py).
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from typing import Callable

from .live_spec import LiveOptions, is_live_spec
from .source import VideoSource, open_source

logger = logging.getLogger(__name__)


def open_input(spec: str | os.PathLike, *, threads: int = 0, rate: int | Fraction = 25,
               live: LiveOptions | None = None, stop: Callable[[], bool] | None = None,
               force_live: bool = False, planes: bool = False) -> VideoSource:
    """A file, an image or an image sequence (source.open_source), or a live input: a URL (rtsp://, rtmp://,
    http(s):// HLS, udp://, ...) or a V4L2 device (/dev/video0), or anything at all with force_live (--live).
    A live input returns a live_source.LiveSource: the same info/side_buffers/items()/close(), plus
    reconnects and drops.

    live: how a live input is read (None: defaults). stop: a callable polled while a live input waits for
    its camera; True aborts with live_source.SourceInterrupted. planes: a file gives YUV 4:2:0 as its planes
    (source.open_source; live inputs give RGB). Raises frames.SourceError with one line.
    """
    spec = os.fspath(spec)
    if spec.lower().startswith("file://") and not force_live:
        spec = spec[len("file://"):]
    if force_live or is_live_spec(spec):
        from .live_source import open_live  # only for live inputs: a file job never loads the live reader

        return open_live(spec, live, stop=stop, threads=threads or None)
    return open_source(spec, threads=threads, rate=rate, planes=planes)
