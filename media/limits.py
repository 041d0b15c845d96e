"""--max-fps and --duration for file inputs (live inputs apply them in live_source.py).

    limits = FileLimits(max_fps=10, duration_s=2.0, origin_s=0.0)   # origin: the output timeline's 0
    limits = FileLimits.for_input(max_fps, duration_s, info)         # or None when neither is set
    for item in limits.apply(src.items()): ...                       # what passes, up to the end
    for item in file_items(src.items(), limits, skip=n): ...         # the decoder's: also --resume's skip
    verdict = limits.frame(seconds)       # "keep", "drop" (over the rate: counted) or "stop" (past the end)
    limits.packet(seconds)                # False for audio/subtitle packets past the end
    limits.take(item)                     # either of the two for a source Frame / Packet
    limits.note()                         # one line for the summary, or None
    limits.add_stats(stats)               # what they left out, into the input's accounting

The duration is measured on the input's timeline from its origin (the earliest start of the kept streams,
as timeline.py maps it to 0), so `--duration 2` keeps the frames shown in the first 2 s of the output; the
output is closed properly after the last one. --max-fps keeps the first frame of every 1/FPS slot.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Iterator

from .packets import Packet
from .timeline import Timeline

logger = logging.getLogger(__name__)


class FileLimits:
    def __init__(self, max_fps: float | None, duration_s: float | None, origin_s: float) -> None:
        self.max_fps, self.duration_s, self.origin_s = max_fps, duration_s, origin_s
        self.kept = self.dropped = 0
        self.stopped_at: float | None = None
        self._slot: int | None = None

    @classmethod
    def for_input(cls, max_fps: float | None, duration_s: float | None, info: dict[str, Any]) -> FileLimits | None:
        """The limits of a file input described by `info` (VideoSource.info), None when neither is set."""
        if not (max_fps or duration_s):
            return None
        origin = Timeline.from_info(info, keep=[s["index"] for s in info["side_streams"]]).origin
        return cls(max_fps, duration_s, float(origin))

    def frame(self, seconds: float | None) -> str:
        """What to do with a frame shown at `seconds` on the input timeline (None: unknown time, kept)."""
        if seconds is not None and self.duration_s and seconds - self.origin_s >= self.duration_s - 1e-9:
            self.stopped_at = self.stopped_at if self.stopped_at is not None else seconds
            return "stop"
        if seconds is not None and self.max_fps:
            slot = math.floor((seconds - self.origin_s) * self.max_fps + 1e-6)
            if self._slot is not None and slot <= self._slot:
                self.dropped += 1
                return "drop"
            self._slot = slot
        self.kept += 1
        return "keep"

    def packet(self, seconds: float | None) -> bool:
        """Keep an audio/subtitle packet? Those that start at or after the end are not written."""
        return not (seconds is not None and self.duration_s and seconds - self.origin_s >= self.duration_s - 1e-9)

    def take(self, item: Any) -> str:
        """"keep", "drop" or "stop" for a source item (a Frame or a side-stream Packet)."""
        seconds = None if item.pts is None else float(item.pts * item.time_base)
        if isinstance(item, Packet):
            return "keep" if self.packet(seconds) else "drop"
        return self.frame(seconds)

    def apply(self, items: Iterator[Any]) -> Iterator[Any]:
        """The source items that are kept, ending at the first one past --duration."""
        for item in items:
            verdict = self.take(item)
            if verdict == "stop":
                return
            if verdict == "keep":
                yield item

    def add_stats(self, stats: dict[str, Any]) -> None:
        stats.update(frames_dropped_max_fps=self.dropped, stopped_at_duration=self.stopped_at is not None)
        if self.stopped_at is not None:  # the rest of the input was not read: nothing to say about it
            stats.update(frames_missing=None, ended_early=None)

    def note(self) -> str | None:
        """One line about what the limits did (None when they did nothing)."""
        parts = []
        if self.max_fps and self.dropped:
            parts.append(f"--max-fps {self.max_fps:g}: {self.dropped} frame(s) dropped to hold the rate")
        if self.duration_s and self.stopped_at is not None:
            parts.append(f"--duration {self.duration_s:g}: stopped after {self.duration_s:g} s of the input")
        return "; ".join(parts) + f" ({self.kept} frames kept)" if parts else None


def file_items(items: Iterator[Any], limits: FileLimits | None, skip: int = 0) -> Iterator[Any]:
    """A file's items as the decoder sends them: through `limits` (None: all), and with --resume the first `skip`
    frames after them left out (the chunks done already; packets still pass). A None for every 64th frame left
    out, so the reader's heartbeats go on while a long resume reads past what is done. A file read whole gets
    `items` itself back (nothing in between)."""
    return items if limits is None and not skip else _limited(items, limits, skip)


def _limited(items: Iterator[Any], limits: FileLimits | None, skip: int) -> Iterator[Any]:
    skipped = 0
    for item in limits.apply(items) if limits is not None else items:
        if skipped < skip and not isinstance(item, Packet):
            skipped += 1
            if skipped % 64 == 0:
                yield None
            continue
        yield item
