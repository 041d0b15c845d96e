"""A few frames evenly spaced over a file, found by seeking rather than decoding it all (--preview's contact
sheet: take(source, n)): the frame on screen at the middle of each of n equal parts.

    with open_source("film.mkv") as src:
        frames = take(src, 9)          # instead of src.items()
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Sequence, TypeVar

import av

from .frames import Frame

if TYPE_CHECKING:
    from .source import VideoSource

logger = logging.getLogger(__name__)
T = TypeVar("T")


def take(src: VideoSource, n: int) -> list[Frame]:
    """`n` frames of an open source evenly spaced over the input (the middles of n equal parts), found by seeking
    its container and converted as its items() would give them: a film's contact sheet in seconds. Instead of
    items(); inputs without a known duration are read through."""
    if src.iterated:
        raise RuntimeError("stills.take() instead of VideoSource.items(), not after it")
    found = seek(src.container, src.video, n, src.declared_end, bool(src.info.get("is_image")))
    if found is None:  # no known duration, an image or an image sequence: read through
        return evenly([f for f in src.items() if isinstance(f, Frame)], n)
    src.iterated = True
    return [src.convert(frame) for frame in found]


def seek(container: av.container.InputContainer, stream: av.VideoStream, n: int, declared: float | None,
         is_image: bool) -> list[av.VideoFrame] | None:
    """The frames on screen at the middles of n equal parts of the input (`declared`: the stream's duration in
    seconds, if known), or None when it cannot be seeked that way (no known duration, an image or an image
    sequence): then it is read through."""
    duration = declared or (container.duration or 0) / 1e6
    tb = stream.time_base
    if duration <= 0 or not tb or is_image or container.format.name == "image2":
        return None
    start = stream.start_time or 0
    found = (frame_at(container, stream, start + int((i + 0.5) * duration / n / tb)) for i in range(n))
    return [frame for frame in found if frame is not None]


def evenly(frames: Sequence[T], n: int) -> list[T]:
    """n of the frames read through, the same middles (repeats when there are fewer than n)."""
    return [frames[min(len(frames) - 1, int((i + 0.5) * len(frames) / n))] for i in range(n)] if frames else []


def frame_at(container: av.container.InputContainer, stream: av.VideoStream, target: int) -> av.VideoFrame | None:
    """The frame on screen at pts `target`: the last one that starts at or before it (the first after the
    seek point when none does)."""
    try:
        container.seek(target, stream=stream, backward=True)
    except av.FFmpegError:
        return None
    last = None
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                if frame.pts is not None and frame.pts > target:
                    return last or frame
                last = frame
    except av.FFmpegError:
        pass
    return last
