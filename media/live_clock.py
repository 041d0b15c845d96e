"""A live input's clock: camera timestamps onto one output timeline, the max_fps rate limit and the resize
policy. Pure arithmetic on numbers (no threads, no I/O): live_source.py calls it under its lock.

Output pts are in 1/90000 s and start at 0 with the first frame. Within a connection they follow the camera's
own clock; each (re)connection is anchored to the wall clock (time.monotonic() since the first frame), so an
outage shows as a gap of its real length and pts never go back. A frame without pts gets the wall-clock time;
a camera clock that jumps back or more than MAX_FORWARD_JUMP_S forward is re-anchored; a pts that would not
increase is bumped (`pts_fixed`).

    clock = LiveClock("rtsp://cam/x", on_resize="scale", max_fps=None)
    clock.start(wall)                                # the first frame of the input
    pts = clock.video_pts(anchor, frame_pts, time_base, wall)   # anchor: an object with an `offset` (per connection)
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any

logger = logging.getLogger(__name__)

TICKS = 90000  # output time base: 1/90000 s
TIME_BASE = Fraction(1, TICKS)
MAX_FORWARD_JUMP_S = 10.0  # camera clock jumps larger than this are re-anchored to the wall clock


class LiveClock:
    """The timeline, rate and size decisions of one live input (see the module docstring)."""

    def __init__(self, spec: str, on_resize: str = "scale", max_fps: float | None = None) -> None:
        self.spec, self.on_resize, self.max_fps = spec, on_resize, max_fps
        self.pts_fixed = 0
        self.resolution_changes = 0
        self.t0: float | None = None  # wall clock of the first frame
        self.step = TICKS // 25  # ticks per frame, refined from the stream's rate
        self.size: tuple[int, int] | None = None  # (width, height) delivered
        self._last_out: int | None = None  # last video pts given out (ticks)
        self._next_keep: int | None = None  # max_fps: earliest pts of the next frame to keep
        self._seen_size: tuple[int, int] | None = None  # on_resize="scale": the camera's current size
        self._segment_pending = False

    def set_rate(self, rate: Fraction | float | None) -> None:
        """The stream's frame rate (a connection's): the step for frames without pts."""
        if rate:
            self.step = max(1, round(TICKS / float(rate)))

    def start(self, wall: float) -> None:
        """The input's first frame arrived at `wall` (time.monotonic())."""
        self.t0 = wall

    def video_pts(self, anchor: Any, pts: int | None, time_base: Fraction | None, wall: float) -> int:
        """The output pts of a video frame. `anchor.offset` (None on a new connection) maps the connection's
        source ticks to output ticks; it is set or re-anchored here."""
        wall_ticks = round((wall - self.t0) * TICKS)
        last = self._last_out
        floor = 0 if last is None else last + self.step  # where a re-anchored timeline may start
        if pts is None or time_base is None:
            out = max(wall_ticks, floor) if anchor.offset is None else (last if last is not None else 0) + self.step
        else:
            src = int(pts * time_base * TICKS)
            if anchor.offset is None:
                anchor.offset = max(wall_ticks, floor) - src
            else:
                out = src + anchor.offset
                if last is not None and (out <= last - self.step // 2 or out > last + MAX_FORWARD_JUMP_S * TICKS):
                    new_offset = (max(wall_ticks, floor) if out > last else floor) - src
                    logger.info("%s: camera clock jumped by %.2f s; re-anchored", self.spec, (out - last) / TICKS)
                    anchor.offset = new_offset
            out = src + anchor.offset
        if last is not None and out <= last:
            self.pts_fixed += 1
            out = last + 1
        self._last_out = out
        return out

    def target_size(self, width: int, height: int) -> tuple[int, int] | None:
        """The size to scale a width x height frame to (None: as it is), applying the on_resize policy. The
        first frame fixes the size (set_size)."""
        size = (width, height)
        if self.size is None:
            return None
        if self.on_resize == "scale":
            if size != (self._seen_size or self.size):
                if size != self.size:
                    self.resolution_changes += 1
                    logger.warning("%s: the camera changed to %dx%d; scaling to %dx%d", self.spec, *size, *self.size)
                self._seen_size = size
            return self.size if size != self.size else None
        if size == self.size:
            return None
        self.resolution_changes += 1
        logger.warning("%s: the camera changed from %dx%d to %dx%d; starting a new segment", self.spec,
                       *self.size, *size)
        self.size = size
        self._segment_pending = True
        return None

    def set_size(self, width: int, height: int) -> None:
        self.size = (width, height)

    def take_new_segment(self) -> bool:
        """True once after a size change under on_resize="segment": the next kept frame starts a segment."""
        pending, self._segment_pending = self._segment_pending, False
        return pending

    def keep_for_rate(self, pts: int) -> bool:
        """max_fps: whether the frame at `pts` is kept (at most max_fps by camera time, a quarter frame of slack)."""
        if self.max_fps is None:
            return True
        interval = round(TICKS / self.max_fps)
        slack = interval // 4
        nxt = self._next_keep
        if nxt is not None and pts < nxt - slack:
            return False
        base = nxt if nxt is not None and pts - nxt < interval else pts
        self._next_keep = base + interval
        return True


def side_timestamps(offset: int, pts: int, dts: int | None, time_base: Fraction) -> tuple[int, int]:
    """(pts, dts) of a side packet moved by a connection's offset (output ticks), in its own time base."""
    shift = Fraction(offset, TICKS)
    out_pts = round((pts * time_base + shift) / time_base)
    out_dts = out_pts if dts is None else round((dts * time_base + shift) / time_base)
    return out_pts, out_dts
