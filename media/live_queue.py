"""The bounded queue between a live input's reader thread and its consumer, and the lock both sides share.

Frames wait here as decoded pictures (converted to RGB only when delivered, so dropped ones cost nothing).
`drop_old` keeps only the newest `latest_frames`, dropping the rest as "stale"; otherwise up to `queue_frames`
wait and an overflow drops the oldest ("overflow") - except on a finite input (a file over HTTP, HLS VOD),
where the reader waits for the consumer instead. Side packets wait in their own queue (at most
`queue_packets`, oldest dropped) and come out in arrival order relative to the frames.

The queue also carries the input's end: closed (by the consumer), finished (no more input will come), or
failed (the reconnect limits were reached: the consumer's next wait raises that SourceError).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import av

from .frames import Frame, SourceError
from .packets import Packet

logger = logging.getLogger(__name__)


@dataclass
class LiveFrame(Frame):
    """A live input's frame. `captured_at`: time.monotonic() when it was decoded, a clock all processes of a Linux
    host share (the encoder's time.monotonic() - captured_at is the end-to-end latency); `new_segment`: the first
    frame of a new resolution, when the source runs with on_resize="segment"."""

    captured_at: float = 0.0
    new_segment: bool = False


@dataclass
class Decoded:
    """A frame as the reader queued it: not yet converted to RGB."""

    frame: av.VideoFrame
    pts: int
    captured_at: float
    target: tuple[int, int] | None  # scale to this (width, height) on delivery; None: as it is
    new_segment: bool


class LiveQueue:
    """Frames and side packets in arrival order, with the drop policy; `cond` is the live input's one lock."""

    def __init__(self, latest_frames: int, queue_frames: int, queue_packets: int, drop_old: bool) -> None:
        self.cond = threading.Condition()
        self.latest_frames, self.queue_frames, self.queue_packets = latest_frames, queue_frames, queue_packets
        self.drops: dict[str, int] = {}
        self.packets_dropped = 0
        self.closed = False
        self.finished = False  # no more input will come (finite stream ended, duration reached)
        self.error: SourceError | None = None
        self._frames: deque[tuple[int, Decoded]] = deque()
        self._packets: deque[tuple[int, Packet]] = deque()
        self._arrivals = 0
        self.capacity = latest_frames if drop_old else queue_frames
        self.drop_reason = "stale" if drop_old else "overflow"

    # ------------------------------------------------------------------------------------------ reader side
    def put_frame_locked(self, item: Decoded, conn: Any) -> bool:
        """Queue a frame (lock held). A finite input waits for room (conn.waiting meanwhile); False when the
        connection was abandoned or the queue closed while waiting."""
        if conn.finite and self.drop_reason == "overflow":
            conn.waiting = True
            while len(self._frames) >= self.capacity and not (conn.abandoned or self.closed):
                self.cond.wait(0.2)
            conn.waiting = False
            conn.last_frame_at = time.monotonic()  # waiting for the consumer is not a stall
            if conn.abandoned or self.closed:
                return False
        while len(self._frames) >= self.capacity:
            _, old = self._frames.popleft()
            if old.new_segment:  # keep the flag: the next frame starts the segment instead
                item.new_segment = True
            self.count_drop(self.drop_reason)
        self._arrivals += 1
        self._frames.append((self._arrivals, item))
        self.cond.notify_all()
        return True

    def put_packet_locked(self, packet: Packet) -> None:
        if len(self._packets) >= self.queue_packets:
            self._packets.popleft()
            self.packets_dropped += 1
        self._arrivals += 1
        self._packets.append((self._arrivals, packet))

    def buffer_all_locked(self) -> None:
        """A finite input read like a file: every frame is kept (the reader waits instead of dropping)."""
        self.capacity, self.drop_reason = self.queue_frames, "overflow"

    def count_drop(self, reason: str) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1

    def fail(self, message: str) -> None:
        with self.cond:
            self.error = SourceError(message)
            self.cond.notify_all()

    def finish(self) -> None:
        with self.cond:
            self.finished = True
            self.cond.notify_all()

    def sleep(self, seconds: float) -> bool:
        """Wait (interruptible by close()); True when closed meanwhile."""
        with self.cond:
            end = time.monotonic() + seconds
            while not self.closed:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return False
                self.cond.wait(remaining)
            return True

    # ------------------------------------------------------------------------------------------ consumer side
    def next(self, deadline: float | None) -> Decoded | Packet | None:
        """The next frame or packet in arrival order, waiting until `deadline` (None: until one comes)."""
        with self.cond:
            while (entry := self._pop_locked()) is None:
                if not self._wait_locked(deadline):
                    return None
        return entry[1]

    def latest(self, deadline: float | None) -> Decoded | None:
        """The newest frame, dropping older queued ones ("stale")."""
        with self.cond:
            while not self._frames:
                if not self._wait_locked(deadline):
                    return None
            while len(self._frames) > 1:
                self._frames.popleft()
                self.count_drop("stale")
            return self._frames.popleft()[1]

    def take_packets(self) -> list[Packet]:
        with self.cond:
            packets = [p for _, p in self._packets]
            self._packets.clear()
        return packets

    def set_drop_old(self, drop_old: bool) -> None:
        """Switch between the latest-frame queue and the buffering queue (trims the queue at once)."""
        with self.cond:
            self.capacity = self.latest_frames if drop_old else self.queue_frames
            self.drop_reason = "stale" if drop_old else "overflow"
            while len(self._frames) > self.capacity:
                self._frames.popleft()
                self.count_drop(self.drop_reason)

    @property
    def ended(self) -> bool:
        """Nothing more will come out: closed, or the input finished and the queues are empty."""
        with self.cond:
            return self.closed or (self.finished and not self._frames and not self._packets)

    def depth(self) -> int:
        with self.cond:
            return len(self._frames)

    def close(self) -> bool:
        """Closed now (False: it already was)."""
        with self.cond:
            if self.closed:
                return False
            self.closed = True
            self.cond.notify_all()
            return True

    def _pop_locked(self) -> tuple[int, Any] | None:
        if self._frames and (not self._packets or self._frames[0][0] < self._packets[0][0]):
            self.cond.notify_all()  # a reader waiting for room (finite inputs)
            return self._frames.popleft()
        if self._packets:
            return self._packets.popleft()
        return None

    def _wait_locked(self, deadline: float | None) -> bool:
        """Wait (lock held) for the reader to add something: False when nothing more can come in time
        (closed, finished, or past `deadline`); raises the reader's error when the limits were reached."""
        if self.error is not None:
            raise self.error
        if self.closed or self.finished:
            return False
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return False
        self.cond.wait(0.5 if remaining is None else min(remaining, 0.5))
        return True
