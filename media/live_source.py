"""Live inputs: network cameras and streams (rtsp://, rtsps://, rtmp://, http(s):// HLS, udp://, rtp://,
tcp://, srt:// where FFmpeg has it) and V4L2 devices (/dev/video*), read by a background thread that
reconnects by itself.

    src = open_live("rtsp://cam/stream", LiveOptions(max_retries=None), stop=lambda: flag.set)
    send(src.info, src.side_buffers)                  # same shape as VideoSource.info ("is_live": True)
    while not flag.set:
        item = src.next_item(timeout=0.1)             # Frame | Packet | None (nothing within the timeout)
        if item is None:
            if src.ended: break                       # close(), duration_s reached, or a finite stream ended
            continue
        ...
    src.close()
    # or: for item in src.items(drop_old=True, idle_s=0.1): ...   (None every idle_s without data)
    # or: frame = src.latest(timeout=0.5)                          (newest frame only; older ones dropped)

inputs.open_input opens URLs and /dev/video* here (options, URL parsing: live_spec.py). A malformed URL, an
unknown scheme or a protocol FFmpeg lacks fails at once (SourceError); anything else is retried.

LiveSource is put together from five parts, each with the details in its docstring:

    live_connection.py   one connection: a reader thread that opens, demuxes and decodes
    live_reconnect.py    the connection loop: stall watchdog, backoff, give-up limits (a thread of its own)
    live_clock.py        camera pts -> one 1/90000 s timeline from 0, max_fps, the on_resize policy (pure)
    live_queue.py        the bounded frame/packet queue between the reader and the consumer, drop policy
    live_sides.py        audio streams across reconnects: matched to the first connection's, re-timed

This module joins them: the reader's callbacks run the clock and fill the queue under the queue's lock, and
the consumer's calls convert queued frames to RGB (resized when the clock says so) only when delivered.
Its frames are LiveFrames (live_queue.py), whose `captured_at` (time.monotonic() at decoding) gives the latency.

Counters (read any time; `stats()` returns them as one JSON-able dict for a STATUS "live" message):
frames_decoded, frames_delivered, frames_dropped, drops{reason}, reconnects, disconnects, connect_attempts,
packets_corrupt (video packets flagged corrupt or undecodable: skipped), packets_dropped, pts_fixed,
resolution_changes, time_to_first_frame_s, last_outage_s, connected, last_frame_age_s, queue_depth.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterator

import av
import cv2
import numpy as np

from . import colors, describe, planes
from .frames import Frame, SourceError
from .live_clock import TIME_BASE, LiveClock
from .live_connection import LiveConnection
from .live_queue import Decoded, LiveFrame, LiveQueue
from .live_reconnect import Reconnector
from .live_sides import LiveSides
from .live_spec import LiveOptions, parse_live_spec
from .packets import Packet

logger = logging.getLogger(__name__)


class SourceInterrupted(SourceError):
    """open_live() was told to stop (its `stop` callable returned True) before the first frame."""


class LiveSource:
    """An open live input (see the module docstring). Use as a context manager or call close()."""

    def __init__(self, spec: str, options: LiveOptions | None = None, *,
                 stop: Callable[[], bool] | None = None, threads: int | None = None) -> None:
        self.spec = spec
        self.options = options = options or LiveOptions()
        options.validate()
        self.kind, self._format = parse_live_spec(spec)
        if options.input_format:
            self._format = options.input_format
        self._threads = options.threads if threads is None else threads
        self.is_live = True
        self.warnings: list[str] = []
        self.truncated = False
        # counters (the others are the parts')
        self.frames_decoded = 0
        self.frames_delivered = 0
        self.reconnects = 0
        self.packets_corrupt = 0
        self.time_to_first_frame_s: float | None = None
        self.last_outage_s: float | None = None
        self._clock = LiveClock(spec, options.on_resize, options.max_fps)
        self._queue = LiveQueue(options.latest_frames, options.queue_frames, options.queue_packets, options.drop_old)
        self._lock = self._queue.cond  # one lock for the reader's callbacks and the consumer
        self._link = Reconnector(spec, self.kind, options, self._queue, self._new_connection)
        self._last_frame_at: float | None = None
        self._sides = LiveSides()
        self._prev_last_frame_at: float | None = None  # the last frame of the previous connection
        self._first: tuple[LiveConnection, av.VideoFrame] | None = None
        self._started_at = time.monotonic()
        self._iterated = False
        self._last_latency: float | None = None
        self._fallback_matrix = 6
        self._link.start()
        try:
            self._wait_first(stop)
        except BaseException:
            self.close()
            raise
        conn, first = self._first
        self.info = self._describe(conn, first)
        self.side_buffers = [s.codec_context.extradata or b"" for s in conn.sides]

    # ------------------------------------------------------------------------------------------ consumer
    def next_item(self, timeout: float | None = None, *, drop_old: bool | None = None) -> Frame | Packet | None:
        """The next frame or side packet in arrival order, waiting up to `timeout` seconds (None: until
        something comes). None when nothing came in time or the stream has ended (see `ended`). Raises
        SourceError when the reconnect limits were reached."""
        if drop_old is not None:
            self.set_drop_old(drop_old)
        item = self._queue.next(None if timeout is None else time.monotonic() + timeout)
        return None if item is None else self._deliver(item)

    def items(self, drop_old: bool | None = None, idle_s: float | None = None) -> Iterator[Frame | Packet | None]:
        """Frames and side packets until the stream ends or close() is called. drop_old overrides the
        option. idle_s: yield None after that long without data, so the caller can check its own stop flag."""
        if self._iterated:
            raise RuntimeError("LiveSource.items() can only be iterated once")
        self._iterated = True
        while True:
            item = self.next_item(timeout=idle_s if idle_s is not None else 0.5, drop_old=drop_old)
            if item is None:
                if self.ended:
                    return
                if idle_s is not None:
                    yield None
                continue
            yield item

    def latest(self, timeout: float | None = 0.0) -> Frame | None:
        """The newest decoded frame, dropping older queued ones ("stale"); side packets stay queued (see
        take_packets()). Waits up to `timeout` for a frame (None: forever); None when none came."""
        item = self._queue.latest(None if timeout is None else time.monotonic() + timeout)
        return None if item is None else self._deliver(item)

    def take_packets(self) -> list[Packet]:
        """All side packets waiting (for latest() users)."""
        return self._queue.take_packets()

    def set_drop_old(self, drop_old: bool) -> None:
        """Switch between the latest-frame queue and the buffering queue (trims the queue at once)."""
        self._queue.set_drop_old(drop_old)

    @property
    def ended(self) -> bool:
        """Nothing more will be delivered: closed, or the input finished and the queues are empty."""
        return self._queue.ended

    @property
    def connected(self) -> bool:
        return self._link.connected

    @property
    def drops(self) -> dict[str, int]:
        return self._queue.drops

    @property
    def frames_dropped(self) -> int:
        return sum(self._queue.drops.values())

    @property
    def packets_dropped(self) -> int:
        return self._queue.packets_dropped

    @property
    def pts_fixed(self) -> int:
        return self._clock.pts_fixed

    @property
    def resolution_changes(self) -> int:
        return self._clock.resolution_changes

    @property
    def connect_attempts(self) -> int:
        return self._link.connect_attempts

    @property
    def disconnects(self) -> int:
        return self._link.disconnects

    @property
    def last_error(self) -> str | None:
        return self._link.last_error

    def last_frame_age(self) -> float | None:
        """Seconds since the last decoded video frame (None before the first)."""
        at = self._last_frame_at
        return None if at is None else time.monotonic() - at

    def stats(self) -> dict[str, Any]:
        """Counters for a STATUS "live" message (see pipeline/metrics.py)."""
        depth = self._queue.depth()
        age = self.last_frame_age()
        return {
            "frames_in": self.frames_decoded,
            "frames_out": self.frames_delivered,
            "dropped": dict(self.drops),
            "reconnects": self.reconnects,
            "disconnects": self.disconnects,
            "connect_attempts": self.connect_attempts,
            "packets_corrupt": self.packets_corrupt,
            "packets_dropped": self.packets_dropped,
            "pts_fixed": self.pts_fixed,
            "resolution_changes": self.resolution_changes,
            "connected": self.connected,
            "last_frame_age_s": None if age is None else round(age, 4),
            "queue_depth": depth,
            "queue_latency_s": self._last_latency,
            "time_to_first_frame_s": self.time_to_first_frame_s,
            "last_outage_s": self.last_outage_s,
        }

    def close(self) -> None:
        """Stop reading (safe from any thread, twice, or from a signal handler's caller)."""
        with self._lock:  # an RLock: the queue takes it again
            conn = self._link.current
            if not self._queue.close():
                return
        if conn is not None:
            conn.abandon()
        self._link.join(1.0)
        self._check_warnings()

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ delivery
    def _deliver(self, item: Decoded | Packet) -> Frame | Packet:
        if isinstance(item, Packet):
            return item
        frame = item.frame
        matrix, color_range = planes.decode_params(frame, self._fallback_matrix)
        rgb = planes.frame_to_rgb(frame, matrix, color_range)
        if item.target is not None and (rgb.shape[1], rgb.shape[0]) != item.target:
            w, h = item.target
            shrink = w * h < rgb.shape[0] * rgb.shape[1]
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        now = time.monotonic()
        self._last_latency = round(now - item.captured_at, 4)
        self.frames_delivered += 1
        return LiveFrame(item.pts, TIME_BASE, np.ascontiguousarray(rgb), None, captured_at=item.captured_at,
                         new_segment=item.new_segment)

    def _check_warnings(self) -> None:
        if self.packets_corrupt and not any("corrupt" in w for w in self.warnings):
            self.warnings.append(f"{self.packets_corrupt} corrupt video packet(s) were skipped")
        if self.reconnects and not any("reconnect" in w for w in self.warnings):
            self.warnings.append(f"the camera was reconnected {self.reconnects} time(s)")
        if self.frames_dropped and not any("dropped" in w for w in self.warnings):
            detail = ", ".join(f"{k} {v}" for k, v in sorted(self.drops.items()))
            self.warnings.append(f"{self.frames_dropped} frame(s) dropped ({detail})")

    # ------------------------------------------------------------------------------------------ opening
    def _wait_first(self, stop: Callable[[], bool] | None) -> None:
        with self._lock:
            while self._first is None:
                if self._queue.error is not None:
                    raise self._queue.error
                if self._queue.closed or (stop is not None and stop()):
                    raise SourceInterrupted(f"stopped while waiting for {self.spec}")
                self._lock.wait(0.1)

    def _new_connection(self) -> LiveConnection:
        return LiveConnection(self.spec, self.kind, self._format, self.options, self._threads,
                              on_frame=self._on_frame, on_side=self._on_side, on_corrupt=self._on_corrupt,
                              on_end=self._on_disconnect)

    def _describe(self, conn: LiveConnection, first: av.VideoFrame) -> dict[str, Any]:
        v, cc, pick = conn.video, conn.video.codec_context, describe.pick_tag
        rate = v.average_rate or v.guessed_rate or v.base_rate
        matrix, color_range = planes.decode_params(first, self._fallback_matrix)
        tags = colors.tags(pick(first.color_primaries, cc.color_primaries), pick(first.color_trc, cc.color_trc),
                           pick(first.colorspace, cc.colorspace), first.color_range or cc.color_range)
        return {
            "source": self.spec,
            "kind": "live",
            "live_kind": self.kind,
            "is_image": False,
            "is_sequence": False,
            "is_live": True,
            "finite": conn.finite,
            "container": conn.container_name,
            "codec": describe.codec_name(v),
            "pix_fmt": first.format.name,
            "width": first.width,
            "height": first.height,
            "coded_width": first.width,
            "coded_height": first.height,
            "time_base": describe.ratio(TIME_BASE),
            "frame_rate": describe.ratio(rate) if rate else None,
            "max_fps": self.options.max_fps,
            "frames": None,
            "duration": None,
            "start_pts": 0,
            "color": tags,
            "color_used": None if not planes.is_yuv(first.format.name) else {
                "matrix": colors.MATRICES[matrix], "range": colors.RANGES[color_range],
                "assumed": not colors.has_matrix(first)},
            "rotation": 0,
            "orientation": None,
            "on_resize": self.options.on_resize,
            "side_streams": [describe.describe_side(s) for s in conn.sides],
        }

    # ------------------------------------------------------------------------------------------ reader side
    def _on_connected(self, conn: LiveConnection) -> None:
        """The connection's first frame decoded: (re)build the side-stream mapping."""
        self._clock.set_rate(conn.video.average_rate or conn.video.guessed_rate or conn.video.base_rate)
        self._sides.connect(conn.sides, self._first is None, self.warnings)

    def _on_frame(self, conn: LiveConnection, frame: av.VideoFrame, wall: float) -> None:
        """Called by a reader thread for each decoded video frame."""
        o, q = self.options, self._queue
        with self._lock:
            if conn.abandoned or q.closed:
                return
            self.frames_decoded += 1
            self._last_frame_at = conn.last_frame_at = wall
            first_of_conn = conn.frames == 0
            conn.frames += 1
            if first_of_conn:
                conn.first_frame_at = wall
                self._link.connected = True
                self._on_connected(conn)
                if self._first is None:
                    self._clock.start(wall)
                    self.time_to_first_frame_s = round(wall - self._started_at, 4)
                    if o.duration_s is not None:
                        self._link.stop_at = wall + o.duration_s
                    logger.info("%s: first frame after %.3f s", self.spec, self.time_to_first_frame_s)
                else:
                    self.reconnects += 1
                    self.last_outage_s = round(wall - (self._prev_last_frame_at or self._clock.t0), 4)
                    logger.warning("%s: reconnected (%d so far); no frames for %.2f s", self.spec,
                                   self.reconnects, self.last_outage_s)
            pts = self._clock.video_pts(conn, frame.pts, frame.time_base, wall)
            target = self._clock.target_size(frame.width, frame.height)
            if self._first is None:
                self._first = (conn, frame)
                self._clock.set_size(frame.width, frame.height)
                self._fallback_matrix = colors.default_matrix(frame.width, frame.height)
                target = None
            if not self._clock.keep_for_rate(pts):
                q.count_drop("rate")
                return
            new_segment = self._clock.take_new_segment()
            if conn.finite and o.finite_as_file and q.drop_reason != "overflow":
                q.buffer_all_locked()
            if not q.put_frame_locked(Decoded(frame, pts, wall, target, new_segment), conn):
                return
            self._last_frame_at = conn.last_frame_at
            self._flush_early_audio(conn)
            self._lock.notify_all()

    def _on_corrupt(self) -> None:
        self.packets_corrupt += 1

    def _on_disconnect(self, conn: LiveConnection) -> None:
        with self._lock:
            if conn.frames:  # an abandoned reader may finish late: keep the newest
                self._prev_last_frame_at = max(self._prev_last_frame_at or 0.0, conn.last_frame_at)

    def _on_side(self, conn: LiveConnection, packet: av.Packet, wall: float) -> None:
        with self._lock:
            if conn.abandoned or self._queue.closed:
                return
            if conn.offset is None:
                if len(conn.early) < 512:
                    conn.early.append(packet)
                return
            self._queue_side(conn, packet)
            self._lock.notify_all()

    def _flush_early_audio(self, conn: LiveConnection) -> None:
        if conn.early and conn.offset is not None:
            early, conn.early = conn.early, []
            for packet in early:
                self._queue_side(conn, packet)

    def _queue_side(self, conn: LiveConnection, packet: av.Packet) -> None:
        out = self._sides.packet(conn.offset, packet)
        if out is None:
            self._queue.packets_dropped += 1
        else:
            self._queue.put_packet_locked(out)


def open_live(spec: str, options: LiveOptions | None = None, *, stop: Callable[[], bool] | None = None,
              threads: int | None = None) -> LiveSource:
    """Open a live input and return once its first frame is decoded (retrying as the options say). `stop()` returning
    True aborts the wait with SourceInterrupted (a SourceError)."""
    return LiveSource(spec, options, stop=stop, threads=threads)
