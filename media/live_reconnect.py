"""A live input's connection loop: open a connection, watch it, and when it drops, stalls or cannot be made,
open the next one with backoff, until the input is closed, ends, or a give-up limit is reached.

Stall watchdog: a connection is dead when no video frame has been decoded for `stall_timeout_s` (or the open
takes longer than `open_timeout_s + stall_timeout_s`), whatever FFmpeg's own timeouts do: the reader is
abandoned (it closes its container when its blocking call returns; its output is ignored from then on).
End of stream on a live input is a disconnect, except when the input declared a finite duration (a file over
HTTP, HLS VOD): then the stream ends.

Backoff: after a drop the first attempt is immediate (`retry_initial_s` if the last connection lasted under a
second); each failed attempt is logged (WARNING) and the next one waits `retry_initial_s * retry_factor**(n-1)`,
capped at `retry_max_s`. Nothing gives up unless a limit is set: `max_retries` (consecutive failed attempts)
or `give_up_after_s` (seconds without a frame); then the queue fails with a SourceError naming the URL, the
attempts and the last error.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from .live_connection import LiveConnection
from .live_queue import LiveQueue
from .live_spec import LISTENER_SCHEMES, LiveOptions

logger = logging.getLogger(__name__)


class Reconnector:
    """Runs the connection loop in its own thread ("live-source"); `current` is the connection in use."""

    def __init__(self, spec: str, kind: str, options: LiveOptions, queue: LiveQueue,
                 connect: Callable[[], LiveConnection]) -> None:
        self.spec, self.kind, self.options, self.queue, self._connect = spec, kind, options, queue, connect
        self.current: LiveConnection | None = None
        self.connected = False  # set by the owner on a connection's first frame
        self.stop_at: float | None = None  # duration_s: when the stream ends (set by the owner at the first frame)
        self.connect_attempts = 0
        self.disconnects = 0
        self.last_error: str | None = None
        self.thread = threading.Thread(target=self._run, name="live-source", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> None:
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout)

    def _run(self) -> None:
        o, q = self.options, self.queue
        failures = 0  # consecutive attempts without a frame
        down_since = time.monotonic()  # start, or the last frame before the camera went away
        was_up = False
        try:
            while not q.closed:
                conn = self._connect()
                with q.cond:
                    if q.closed:
                        return
                    self.current = conn
                self.connect_attempts += 1
                conn.start()
                give_up_at = None if o.give_up_after_s is None else down_since + o.give_up_after_s
                reason = self._watch(conn, give_up_at)
                self.connected = False
                if q.closed or q.finished:
                    return
                if conn.fatal:
                    self._fail(f"cannot read {self.spec}: {reason}")
                    return
                if conn.frames and conn.finite and reason == "end of stream":
                    logger.info("%s: end of stream", self.spec)
                    q.finish()
                    return
                if conn.frames:
                    self.disconnects += 1
                    self.last_error = reason
                    logger.warning("%s: camera lost after %d frame(s) (%s); reconnecting", self.spec,
                                   conn.frames, reason)
                if conn.abandoned and reason != "gave up" and (self.kind in LISTENER_SCHEMES or self.kind == "v4l2"):
                    # the stalled reader still holds the port / device: let its read time out first
                    conn.done.wait(o.read_timeout_s + 1.0)
                if conn.frames:
                    failures, down_since, was_up = 0, conn.last_frame_at, True
                    lasted = conn.last_frame_at - conn.first_frame_at
                    if lasted < 1.0 and q.sleep(o.retry_initial_s):  # a flapping camera: no busy loop
                        return
                    continue
                failures += 1
                if reason != "gave up" or self.last_error is None:
                    self.last_error = reason
                elapsed = time.monotonic() - down_since
                what = "camera still unreachable" if was_up else "cannot reach camera"
                limit = None
                if o.max_retries is not None and failures > o.max_retries:
                    limit = f"max_retries={o.max_retries}"
                elif give_up_at is not None and time.monotonic() >= give_up_at:
                    limit = f"give_up_after_s={o.give_up_after_s:g}"
                if limit:
                    self._fail(f"{what} {self.spec}: {self.last_error} (gave up after {failures} attempt(s) "
                               f"over {elapsed:.1f} s; {limit})")
                    return
                delay = min(o.retry_max_s, o.retry_initial_s * o.retry_factor ** (failures - 1))
                if give_up_at is not None:
                    delay = min(delay, max(0.0, give_up_at - time.monotonic()))
                logger.warning("%s %s: %s; retry %d in %.1f s", what, self.spec, reason, failures, delay)
                if q.sleep(delay):
                    return
        except Exception as e:  # a bug: never leave the consumer waiting forever
            logger.exception("live source supervisor failed")
            self._fail(f"live input {self.spec} failed: {type(e).__name__}: {e}")

    def _watch(self, conn: LiveConnection, give_up_at: float | None) -> str:
        """Wait until the connection ends, stalls, runs past the give-up time before its first frame, or
        the input closes or reaches its duration; returns why it ended ("gave up" for the give-up time)."""
        o, q = self.options, self.queue
        while True:
            if conn.done.wait(0.05):
                return conn.reason or "end of stream"
            now = time.monotonic()
            if q.closed:
                conn.abandon()
                return "closed"
            if self.stop_at is not None and now >= self.stop_at:
                conn.abandon()
                logger.info("%s: duration reached", self.spec)
                q.finish()
                return "duration reached"
            if give_up_at is not None and not conn.frames and now >= give_up_at:
                conn.abandon()
                return "gave up"
            if conn.opened_at is None:
                if now - conn.started_at > o.open_timeout_s + o.stall_timeout_s:
                    conn.abandon()
                    return f"opening took longer than {o.open_timeout_s + o.stall_timeout_s:g} s"
            else:
                since = conn.last_frame_at or conn.opened_at
                if now - since > o.stall_timeout_s and not conn.waiting:
                    conn.abandon()
                    what = "no frame" if conn.frames else "no frame after connecting"
                    logger.warning("%s: stalled (%s for %.1f s)", self.spec, what, now - since)
                    return f"stalled: {what} for {o.stall_timeout_s:g} s"

    def _fail(self, message: str) -> None:
        logger.error("%s", message)
        self.queue.fail(message)
