"""Live outputs: recordings cut into files every N seconds, and pushing to an RTSP or RTMP server. Both take
the same calls as sink.VideoSink (write_frame / write_packet / close, context manager).

    rec = open_segment_sink("recordings/cam1-%Y%m%d-%H%M%S.mp4", 60, info, side_buffers, options)
    push = open_push_sink("rtmp://server/live/key", info, side_buffers, options)
    out = open_live_sink(target, info, side_buffers, options, segment_s=None)   # picks one of the three

A plain single file (sink.open_sink) is the third live output: it is crash-safe while written and close()
(which the encoder node runs on Ctrl-C / SIGTERM / a --duration limit) drains the encoder and writes the
trailer, so a live run can stop at any time and leave a normal file.

Segments: segment_sink.py. Push: push_sink.py.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .encode_options import EncodeOptions
from .push_sink import PushSink, open_push_sink
from .segment_sink import SegmentSink, open_segment_sink
from .sink import VideoSink, open_sink

logger = logging.getLogger(__name__)


def open_live_sink(target: str | os.PathLike, info: dict[str, Any], side_buffers: list[bytes],
                   options: EncodeOptions | None = None, *, segment_s: float | None = None, overwrite: bool = False,
                   **kwargs: Any) -> VideoSink | SegmentSink | PushSink:
    """A URL -> PushSink; segment_s -> SegmentSink (target is a strftime pattern); else a plain file."""
    target = os.fspath(target)
    if "://" in target:
        return open_push_sink(target, info, side_buffers, options, **kwargs)
    if segment_s is not None:
        return open_segment_sink(target, segment_s, info, side_buffers, options, overwrite=overwrite, **kwargs)
    return open_sink(target, info, side_buffers, options, overwrite=overwrite)
