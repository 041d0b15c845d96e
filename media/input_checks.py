"""The checks of opening an input file, each failure a one-line SourceError: the path (missing, a folder,
unreadable, empty), what FFmpeg said when it could not open it, and which video stream is read."""

from __future__ import annotations

import logging
import os

import av

from .frames import SourceError, error_line

logger = logging.getLogger(__name__)


def check_file(path: str) -> None:
    if not os.path.exists(path):
        raise SourceError(f"input not found: {path}")
    if os.path.isdir(path):
        raise SourceError(f"input is a directory, not a file: {path}")
    if not os.access(path, os.R_OK):
        raise SourceError(f"input is not readable (permission denied): {path}")
    if os.path.getsize(path) == 0:
        raise SourceError(f"input is empty (0 bytes): {path}")


def open_error(spec: str, e: av.FFmpegError) -> str:
    if isinstance(e, av.InvalidDataError):
        return f"not a video file (or damaged beyond reading): {spec}"
    return f"cannot open {spec}: {error_line(e)}"


def pick_video_stream(container: av.container.InputContainer, spec: str) -> av.VideoStream:
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not videos:
        extra = " (only cover art)" if container.streams.video else ""
        raise SourceError(f"no video stream in {spec}{extra}")
    default = [s for s in videos if s.disposition & av.stream.Disposition.default]
    stream = (default or videos)[0]
    if stream.codec_context is None:
        raise SourceError(f"no decoder for the video codec of {spec}")
    return stream
