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

`open_input(url)` in inputs.py opens URLs and /dev/video* here (options and URL parsing: live_spec.py). A malformed URL, an unknown scheme or
a protocol this FFmpeg build lacks fails at once with a SourceError; anything else that goes wrong with the
camera is retried.

Threads. A supervisor thread owns the connection loop; each connection has its own reader thread that opens
the input (PyAV `timeout=(open, read)` plus FFmpeg's socket timeout, in µs, for RTSP/HTTP/UDP), demuxes and
decodes. The supervisor's stall watchdog declares a connection dead when no video frame has been decoded for
`stall_timeout_s` (or the open takes longer than `open_timeout_s + stall_timeout_s`), whatever FFmpeg's own
timeouts do: it abandons that reader (which closes its container when its blocking call returns; its output
is ignored from then on) and reconnects. End of stream on a live input is a disconnect, except when the input
declared a finite duration (a file over HTTP, HLS VOD): then the stream ends.

Reconnect policy. After a drop the first attempt is immediate (`retry_initial_s` if the last connection
lasted under a second); each failed attempt is logged (WARNING) and the next one waits
`retry_initial_s * retry_factor**(n-1)`, capped at `retry_max_s`. A camera unreachable at start is retried
the same way: open_live() returns once the first frame is decoded. Nothing gives up unless a limit is set:
`max_retries` (consecutive failed attempts) or `give_up_after_s` (seconds without a frame); then
open_live() or next_item()/items() raises SourceError naming the URL, the attempts and the last error.
`reconnects` counts successful reconnections (a camera killed and restarted once: 1).

Timestamps. Output pts are in 1/90000 s on one timeline that starts at 0 with the first frame: within a
connection they follow the camera's own clock (smooth even when packets arrive in bursts), and each
(re)connection is anchored to the wall clock (time.monotonic() since the first frame), so an outage shows
as a gap of its real length and pts never go back. A frame without pts (the first one from RTSP) gets the
wall-clock time; a camera clock that jumps back or more than 10 s forward is re-anchored; a pts that would
not increase is bumped (counted in `pts_fixed`). Camera-clock drift against the wall clock is not corrected.
Side packets (audio) get the same per-connection mapping in their own time base, so A/V sync is the
camera's; audio from before the first video frame, without pts, or not increasing is dropped.

Resolution changes (mid-stream, or a camera that returns with another size): `on_resize="scale"` (default)
resizes every frame to the first size (the output stays one file, `resolution_changes` counts events);
`on_resize="segment"` delivers the new size with `Frame.new_segment=True` on the first frame of it, so the
encoder can start a new file (the segment sink does so).

Latency. Frames wait in a bounded queue between the reader and the consumer. `drop_old` (option, or the
items()/latest() argument) keeps only the newest `latest_frames` (default 1), dropping the rest as
"stale"; otherwise up to `queue_frames` wait and an overflow drops the oldest ("overflow") - except on a
finite input (declared duration), where the reader waits for the consumer instead. `max_fps` keeps
at most that rate by camera time ("rate"). Drops by reason: `drops`, total `frames_dropped`. Frames are
converted to RGB only when delivered, so dropped ones cost no conversion. `Frame.wallclock` is
time.monotonic() when the frame was decoded; CLOCK_MONOTONIC is shared by all processes of a Linux host,
so `time.monotonic() - frame.wallclock` in the encoder process is the end-to-end latency. Side packets wait
in their own queue (at most `queue_packets`, oldest dropped, counted in `packets_dropped`) and come out in
arrival order relative to the frames delivered.

Counters (read any time; `stats()` returns them as one JSON-able dict for a STATUS "live" message):
frames_decoded, frames_delivered, frames_dropped, drops{reason}, reconnects, disconnects, connect_attempts,
packets_corrupt (video packets flagged corrupt or undecodable: skipped), packets_dropped, pts_fixed,
resolution_changes, time_to_first_frame_s, last_outage_s, connected, last_frame_age_s, queue_depth.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Iterator

import av
import cv2
import numpy as np

from . import colors
from .frames import Frame, Packet, SourceError, codec_name, describe_side, error_line, pick_tag, ratio
from .live_spec import LISTENER_SCHEMES, LiveOptions, parse_live_spec

logger = logging.getLogger(__name__)

TICKS = 90000  # output time base: 1/90000 s
TIME_BASE = Fraction(1, TICKS)
MAX_FORWARD_JUMP_S = 10.0  # camera clock jumps larger than this are re-anchored to the wall clock
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
        # counters
        self.frames_decoded = 0
        self.frames_delivered = 0
        self.drops: dict[str, int] = {}
        self.reconnects = 0
        self.disconnects = 0
        self.connect_attempts = 0
        self.packets_corrupt = 0
        self.packets_dropped = 0
        self.pts_fixed = 0
        self.resolution_changes = 0
        self.time_to_first_frame_s: float | None = None
        self.last_outage_s: float | None = None
        self.last_error: str | None = None
        # state shared with the threads (under self._cond)
        self._cond = threading.Condition()
        self._frames: deque[tuple[int, _Decoded]] = deque()
        self._packets: deque[tuple[int, Packet]] = deque()
        self._arrivals = 0
        self._capacity = options.latest_frames if options.drop_old else options.queue_frames
        self._drop_reason = "stale" if options.drop_old else "overflow"
        self._closed = False
        self._finished = False  # no more input will come (finite stream ended, duration reached)
        self._error: SourceError | None = None
        self._conn: _Connection | None = None
        self._connected = False
        self._t0: float | None = None  # wall clock of the first frame
        self._last_out: int | None = None  # last video pts delivered to the queue (ticks)
        self._step = TICKS // 25  # ticks per frame, refined from the stream's rate
        self._next_keep: int | None = None  # max_fps: earliest pts of the next frame to keep
        self._last_frame_at: float | None = None
        self._size: tuple[int, int] | None = None  # (width, height) delivered
        self._segment_pending = False
        self._side_map: dict[int, int] = {}  # this connection's stream index -> info's side stream index
        self._side_indices: list[int] = []  # info's side streams: their input stream index (Packet.stream)
        self._side_descs: list[dict[str, Any]] = []  # info's side streams (the first connection's)
        self._prev_last_frame_at: float | None = None  # the last frame of the previous connection
        self._seen_size: tuple[int, int] | None = None  # on_resize="scale": the camera's current size
        self._side_last_dts: dict[int, int] = {}
        self._first: tuple[_Connection, av.VideoFrame] | None = None
        self._started_at = time.monotonic()
        self._deadline: float | None = None
        self._iterated = False
        self._last_latency: float | None = None
        self._fallback_matrix = 6
        self._supervisor = threading.Thread(target=self._supervise, name="live-source", daemon=True)
        self._supervisor.start()
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
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while (entry := self._pop_locked()) is None:
                if not self._wait_locked(deadline):
                    return None
        return self._deliver(entry)

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
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._frames:
                if not self._wait_locked(deadline):
                    return None
            while len(self._frames) > 1:
                self._frames.popleft()
                self._count_drop("stale")
            entry = self._frames.popleft()
        return self._deliver(entry)

    def _wait_locked(self, deadline: float | None) -> bool:
        """Wait (lock held) for the reader to add something: False when nothing more can come in time
        (closed, finished, or past `deadline`); raises the reader's error when the limits were reached."""
        if self._error is not None:
            raise self._error
        if self._closed or self._finished:
            return False
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return False
        self._cond.wait(0.5 if remaining is None else min(remaining, 0.5))
        return True

    def take_packets(self) -> list[Packet]:
        """All side packets waiting (for latest() users)."""
        with self._cond:
            packets = [p for _, p in self._packets]
            self._packets.clear()
        return packets

    def set_drop_old(self, drop_old: bool) -> None:
        """Switch between the latest-frame queue and the buffering queue (trims the queue at once)."""
        with self._cond:
            self._capacity = self.options.latest_frames if drop_old else self.options.queue_frames
            self._drop_reason = "stale" if drop_old else "overflow"
            while len(self._frames) > self._capacity:
                self._frames.popleft()
                self._count_drop(self._drop_reason)

    @property
    def ended(self) -> bool:
        """Nothing more will be delivered: closed, or the input finished and the queues are empty."""
        with self._cond:
            return self._closed or (self._finished and not self._frames and not self._packets)

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def frames_dropped(self) -> int:
        return sum(self.drops.values())

    def last_frame_age(self) -> float | None:
        """Seconds since the last decoded video frame (None before the first)."""
        at = self._last_frame_at
        return None if at is None else time.monotonic() - at

    def stats(self) -> dict[str, Any]:
        """Counters for a STATUS "live" message (see pipeline/metrics.py)."""
        with self._cond:
            depth = len(self._frames)
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
            "connected": self._connected,
            "last_frame_age_s": None if age is None else round(age, 4),
            "queue_depth": depth,
            "queue_latency_s": self._last_latency,
            "time_to_first_frame_s": self.time_to_first_frame_s,
            "last_outage_s": self.last_outage_s,
        }

    def close(self) -> None:
        """Stop reading (safe from any thread, twice, or from a signal handler's caller)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            conn = self._conn
            self._cond.notify_all()
        if conn is not None:
            conn.abandon()
        if self._supervisor.is_alive() and threading.current_thread() is not self._supervisor:
            self._supervisor.join(1.0)
        self._check_warnings()

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ delivery
    def _pop_locked(self) -> tuple[int, Any] | None:
        if self._frames and (not self._packets or self._frames[0][0] < self._packets[0][0]):
            self._cond.notify_all()  # a reader waiting for room (finite inputs)
            return self._frames.popleft()
        if self._packets:
            return self._packets.popleft()
        return None

    def _deliver(self, entry: tuple[int, Any]) -> Frame | Packet:
        _, item = entry
        if isinstance(item, Packet):
            return item
        frame = item.frame
        matrix, color_range = colors.decode_params(frame, self._fallback_matrix)
        rgb = colors.to_rgb(frame, matrix, color_range)
        if item.target is not None and (rgb.shape[1], rgb.shape[0]) != item.target:
            w, h = item.target
            shrink = w * h < rgb.shape[0] * rgb.shape[1]
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        now = time.monotonic()
        self._last_latency = round(now - item.wallclock, 4)
        self.frames_delivered += 1
        return Frame(item.pts, TIME_BASE, np.ascontiguousarray(rgb), None, wallclock=item.wallclock,
                     new_segment=item.new_segment)

    def _count_drop(self, reason: str) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1

    # ------------------------------------------------------------------------------------------ opening
    def _wait_first(self, stop: Callable[[], bool] | None) -> None:
        with self._cond:
            while self._first is None:
                if self._error is not None:
                    raise self._error
                if self._closed or (stop is not None and stop()):
                    raise SourceInterrupted(f"stopped while waiting for {self.spec}")
                self._cond.wait(0.1)

    def _describe(self, conn: _Connection, first: av.VideoFrame) -> dict[str, Any]:
        v, cc = conn.video, conn.video.codec_context
        rate = v.average_rate or v.guessed_rate or v.base_rate
        matrix, color_range = colors.decode_params(first, self._fallback_matrix)
        tags = colors.tags(pick_tag(first.color_primaries, cc.color_primaries), pick_tag(first.color_trc, cc.color_trc),
                           pick_tag(first.colorspace, cc.colorspace), first.color_range or cc.color_range)
        return {
            "source": self.spec,
            "kind": "live",
            "live_kind": self.kind,
            "is_image": False,
            "is_sequence": False,
            "is_live": True,
            "finite": conn.finite,
            "container": conn.container_name,
            "codec": codec_name(v),
            "pix_fmt": first.format.name,
            "width": first.width,
            "height": first.height,
            "coded_width": first.width,
            "coded_height": first.height,
            "time_base": ratio(TIME_BASE),
            "frame_rate": ratio(rate) if rate else None,
            "max_fps": self.options.max_fps,
            "frames": None,
            "duration": None,
            "start_pts": 0,
            "color": tags,
            "color_used": None if not colors.is_yuv(first.format.name) else {
                "matrix": colors.MATRICES[matrix], "range": colors.RANGES[color_range],
                "assumed": not colors.has_matrix(first)},
            "rotation": 0,
            "orientation": None,
            "on_resize": self.options.on_resize,
            "side_streams": [describe_side(s) for s in conn.sides],
        }

    def _ffmpeg_options(self) -> dict[str, str]:
        o = self.options
        opts: dict[str, str] = {}
        read_us = str(int(o.read_timeout_s * 1e6))
        if self.kind in ("rtsp", "rtsps"):
            opts.update(rtsp_transport=o.transport, timeout=read_us)
        elif self.kind in ("http", "https", "udp", "tcp", "rtp"):
            opts["timeout"] = read_us
        if self.kind == "udp":
            opts["overrun_nonfatal"] = "1"
        if self.kind != "v4l2":
            opts["rw_timeout"] = read_us
        probe = o.probe_s if o.probe_s is not None else (0 if self.kind in ("rtsp", "rtsps") and o.low_latency else 1)
        opts["analyzeduration"] = str(int(probe * 1e6))
        if probe == 0:
            opts["probesize"] = "32"
        elif probe <= 1:
            opts["probesize"] = "1000000"
        if o.low_latency and self.kind in ("rtsp", "rtsps"):
            # nobuffer drops what probing read; harmless for RTSP (no probing), but on udp:// or HLS it
            # would throw away the first keyframe and wait for the next one.
            opts["fflags"] = "nobuffer"
        opts.update(o.device_options)
        opts.update(o.ffmpeg_options)
        return opts

    # ------------------------------------------------------------------------------------------ supervisor
    def _supervise(self) -> None:
        o = self.options
        failures = 0  # consecutive attempts without a frame
        down_since = time.monotonic()  # start, or the last frame before the camera went away
        was_up = False
        try:
            while not self._closed:
                conn = _Connection(self)
                with self._cond:
                    if self._closed:
                        return
                    self._conn = conn
                self.connect_attempts += 1
                conn.start()
                give_up_at = None if o.give_up_after_s is None else down_since + o.give_up_after_s
                reason = self._watch(conn, give_up_at)
                self._connected = False
                if self._closed or self._finished:
                    return
                if conn.fatal:
                    self._fail(f"cannot read {self.spec}: {reason}")
                    return
                if conn.frames and conn.finite and reason == "end of stream":
                    logger.info("%s: end of stream", self.spec)
                    self._finish()
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
                    if lasted < 1.0 and self._sleep(o.retry_initial_s):  # a flapping camera: no busy loop
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
                if self._sleep(delay):
                    return
        except Exception as e:  # a bug: never leave the consumer waiting forever
            logger.exception("live source supervisor failed")
            self._fail(f"live input {self.spec} failed: {type(e).__name__}: {e}")

    def _watch(self, conn: _Connection, give_up_at: float | None) -> str:
        """Wait until the connection ends, stalls, runs past the give-up time before its first frame, or
        the source closes or reaches its duration; returns why it ended ("gave up" for the give-up time)."""
        o = self.options
        while True:
            if conn.done.wait(0.05):
                return conn.reason or "end of stream"
            now = time.monotonic()
            if self._closed:
                conn.abandon()
                return "closed"
            if self._deadline is not None and now >= self._deadline:
                conn.abandon()
                logger.info("%s: duration reached", self.spec)
                self._finish()
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

    def _sleep(self, seconds: float) -> bool:
        """Wait (interruptible by close()); True when closed meanwhile."""
        with self._cond:
            end = time.monotonic() + seconds
            while not self._closed:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def _fail(self, message: str) -> None:
        logger.error("%s", message)
        with self._cond:
            self._error = SourceError(message)
            self._cond.notify_all()

    def _finish(self) -> None:
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    def _check_warnings(self) -> None:
        if self.packets_corrupt and not any("corrupt" in w for w in self.warnings):
            self.warnings.append(f"{self.packets_corrupt} corrupt video packet(s) were skipped")
        if self.reconnects and not any("reconnect" in w for w in self.warnings):
            self.warnings.append(f"the camera was reconnected {self.reconnects} time(s)")
        if self.frames_dropped and not any("dropped" in w for w in self.warnings):
            detail = ", ".join(f"{k} {v}" for k, v in sorted(self.drops.items()))
            self.warnings.append(f"{self.frames_dropped} frame(s) dropped ({detail})")

    # ------------------------------------------------------------------------------------------ reader side
    def _on_connected(self, conn: _Connection) -> None:
        """The connection's first frame decoded: (re)build the side-stream mapping."""
        rate = conn.video.average_rate or conn.video.guessed_rate or conn.video.base_rate
        if rate:
            self._step = max(1, round(TICKS / float(rate)))
        if self._first is None:
            self._side_map = {s.index: k for k, s in enumerate(conn.sides)}
            self._side_indices = [s.index for s in conn.sides]
            self._side_descs = [describe_side(s) for s in conn.sides]
            return
        known = self._side_descs
        used: set[int] = set()
        self._side_map = {}
        for s in conn.sides:
            desc = describe_side(s)
            for k, d in enumerate(known):
                if k not in used and all(d.get(key) == desc.get(key) for key in ("type", "codec", "sample_rate",
                                                                                      "channels")):
                    self._side_map[s.index] = k
                    used.add(k)
                    break
            else:
                msg = f"{desc['type']} stream {desc['codec']} after a reconnect does not match the first one: dropped"
                if msg not in self.warnings:
                    self.warnings.append(msg)

    def _on_frame(self, conn: _Connection, frame: av.VideoFrame, wall: float) -> None:
        """Called by a reader thread for each decoded video frame."""
        o = self.options
        with self._cond:
            if conn.abandoned or self._closed:
                return
            self.frames_decoded += 1
            self._last_frame_at = conn.last_frame_at = wall
            first_of_conn = conn.frames == 0
            conn.frames += 1
            if first_of_conn:
                conn.first_frame_at = wall
                self._connected = True
                self._on_connected(conn)
                if self._first is None:
                    self._t0 = wall
                    self.time_to_first_frame_s = round(wall - self._started_at, 4)
                    if o.duration_s is not None:
                        self._deadline = wall + o.duration_s
                    logger.info("%s: first frame after %.3f s", self.spec, self.time_to_first_frame_s)
                else:
                    self.reconnects += 1
                    self.last_outage_s = round(wall - (self._prev_last_frame_at or self._t0), 4)
                    logger.warning("%s: reconnected (%d so far); no frames for %.2f s", self.spec,
                                   self.reconnects, self.last_outage_s)
            pts = self._map_video(conn, frame, wall)
            target = self._check_size(frame)
            if self._first is None:
                self._first = (conn, frame)
                self._size = (frame.width, frame.height)
                self._fallback_matrix = colors.default_matrix(frame.width, frame.height)
                target = None
            if o.max_fps is not None and not self._keep_for_rate(pts):
                self._count_drop("rate")
                return
            new_segment = False
            if self._segment_pending:
                new_segment, self._segment_pending = True, False
            if conn.finite and o.finite_as_file and self._drop_reason != "overflow":
                self._capacity, self._drop_reason = o.queue_frames, "overflow"
            if conn.finite and self._drop_reason == "overflow":
                # a finite input (a file over HTTP, HLS VOD) waits for the consumer instead of dropping
                conn.waiting = True
                while len(self._frames) >= self._capacity and not (conn.abandoned or self._closed):
                    self._cond.wait(0.2)
                conn.waiting = False
                conn.last_frame_at = self._last_frame_at = time.monotonic()
                if conn.abandoned or self._closed:
                    return
            while len(self._frames) >= self._capacity:
                _, old = self._frames.popleft()
                if old.new_segment:  # keep the flag: the next frame starts the segment instead
                    new_segment = True
                self._count_drop(self._drop_reason)
            self._arrivals += 1
            self._frames.append((self._arrivals, _Decoded(frame, pts, wall, target, new_segment)))
            self._flush_early_audio(conn)
            self._cond.notify_all()

    def _on_disconnect(self, conn: _Connection) -> None:
        with self._cond:
            if conn.frames:  # an abandoned reader may finish late: keep the newest
                self._prev_last_frame_at = max(self._prev_last_frame_at or 0.0, conn.last_frame_at)

    def _map_video(self, conn: _Connection, frame: av.VideoFrame, wall: float) -> int:
        wall_ticks = round((wall - self._t0) * TICKS)
        last = self._last_out
        floor = 0 if last is None else last + self._step  # where a re-anchored timeline may start
        if frame.pts is None or frame.time_base is None:
            out = max(wall_ticks, floor) if conn.offset is None else (last if last is not None else 0) + self._step
        else:
            src = int(frame.pts * frame.time_base * TICKS)
            if conn.offset is None:
                conn.offset = max(wall_ticks, floor) - src
            else:
                out = src + conn.offset
                if last is not None and (out <= last - self._step // 2 or out > last + MAX_FORWARD_JUMP_S * TICKS):
                    new_offset = (max(wall_ticks, floor) if out > last else floor) - src
                    logger.info("%s: camera clock jumped by %.2f s; re-anchored", self.spec,
                                (out - last) / TICKS)
                    conn.offset = new_offset
            out = src + conn.offset
        if last is not None and out <= last:
            self.pts_fixed += 1
            out = last + 1
        self._last_out = out
        return out

    def _check_size(self, frame: av.VideoFrame) -> tuple[int, int] | None:
        """The size to scale this frame to (None: as it is), applying the on_resize policy."""
        size = (frame.width, frame.height)
        if self._size is None:
            return None
        if self.options.on_resize == "scale":
            if size != (self._seen_size or self._size):
                if size != self._size:
                    self.resolution_changes += 1
                    logger.warning("%s: the camera changed to %dx%d; scaling to %dx%d", self.spec, *size,
                                   *self._size)
                self._seen_size = size
            return self._size if size != self._size else None
        if size == self._size:
            return None
        self.resolution_changes += 1
        logger.warning("%s: the camera changed from %dx%d to %dx%d; starting a new segment", self.spec,
                       *self._size, *size)
        self._size = size
        self._segment_pending = True
        return None

    def _keep_for_rate(self, pts: int) -> bool:
        interval = round(TICKS / self.options.max_fps)
        slack = interval // 4
        nxt = self._next_keep
        if nxt is not None and pts < nxt - slack:
            return False
        base = nxt if nxt is not None and pts - nxt < interval else pts
        self._next_keep = base + interval
        return True

    def _on_side(self, conn: _Connection, packet: av.Packet, wall: float) -> None:
        with self._cond:
            if conn.abandoned or self._closed:
                return
            if conn.offset is None:
                if len(conn.early) < 512:
                    conn.early.append(packet)
                return
            self._queue_side(conn, packet)
            self._cond.notify_all()

    def _flush_early_audio(self, conn: _Connection) -> None:
        if conn.early and conn.offset is not None:
            early, conn.early = conn.early, []
            for packet in early:
                self._queue_side(conn, packet)

    def _queue_side(self, conn: _Connection, packet: av.Packet) -> None:
        k = self._side_map.get(packet.stream.index)
        if k is None or packet.pts is None or not packet.size:
            self.packets_dropped += 1
            return
        tb = packet.time_base
        shift = Fraction(conn.offset, TICKS)
        pts = round((packet.pts * tb + shift) / tb)
        dts = pts if packet.dts is None else round((packet.dts * tb + shift) / tb)
        last = self._side_last_dts.get(k)
        if dts < 0 or pts < 0 or (last is not None and dts <= last):
            self.packets_dropped += 1
            return
        self._side_last_dts[k] = dts
        out = Packet(self._side_indices[k], pts, dts, packet.duration or None, tb, bool(packet.is_keyframe), bytes(packet))
        if len(self._packets) >= self.options.queue_packets:
            self._packets.popleft()
            self.packets_dropped += 1
        self._arrivals += 1
        self._packets.append((self._arrivals, out))


@dataclass
class _Decoded:
    frame: av.VideoFrame
    pts: int
    wallclock: float
    target: tuple[int, int] | None
    new_segment: bool


class _Connection:
    """One attempt: a reader thread that opens the input, demuxes and decodes until it fails or ends."""

    def __init__(self, source: LiveSource) -> None:
        self.source = source
        self.done = threading.Event()
        self.abandoned = False
        self.reason: str | None = None
        self.fatal = False
        self.finite = False
        self.started_at = time.monotonic()
        self.opened_at: float | None = None
        self.first_frame_at: float | None = None
        self.last_frame_at: float | None = None
        self.frames = 0
        self.waiting = False  # blocked on a full queue (finite inputs only): not a stall
        self.offset: int | None = None  # out ticks = source ticks + offset
        self.early: list[av.Packet] = []
        self.video: av.VideoStream | None = None
        self.sides: list[av.stream.Stream] = []
        self.container_name = ""
        self.thread = threading.Thread(target=self._run, name="live-reader", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def abandon(self) -> None:
        self.abandoned = True

    def _run(self) -> None:
        src = self.source
        o = src.options
        container = None
        try:
            try:
                container = av.open(src.spec, format=src._format, options=src._ffmpeg_options(),
                                    timeout=(o.open_timeout_s, o.read_timeout_s))
            except av.error.ProtocolNotFoundError:
                self.fatal = True
                scheme = src.spec.split("://", 1)[0]
                self.reason = f"this FFmpeg build cannot read {scheme}:// inputs (no such protocol)"
                return
            except (av.FFmpegError, OSError, ValueError) as e:
                self.reason = error_line(e)
                return
            if self.abandoned:
                return
            self.opened_at = time.monotonic()
            self.container_name = container.format.name
            self.finite = bool(container.duration and container.duration > 0) and src.kind not in ("rtsp", "rtsps")
            videos = [s for s in container.streams.video if s.codec_context is not None]
            if not videos:
                self.reason = "no video stream"
                return
            self.video = video = videos[0]
            video.thread_type = "SLICE" if o.low_latency else "AUTO"
            video.thread_count = src._threads
            self.sides = [s for s in container.streams.audio if o.audio and codec_name(s)]
            keep = {video.index, *(s.index for s in self.sides)}
            for s in container.streams:
                if s.index not in keep:
                    s.discard = "all"
            self._read(container, video)
        except (av.FFmpegError, OSError) as e:
            self.reason = error_line(e)
        except Exception as e:  # keep the thread's failure visible
            logger.exception("live reader failed")
            self.reason = f"{type(e).__name__}: {e}"
        finally:
            if container is not None:
                try:
                    container.close()
                except Exception:
                    pass
            src._on_disconnect(self)
            self.done.set()

    def _read(self, container: av.container.InputContainer, video: av.VideoStream) -> None:
        src = self.source
        for packet in container.demux(video, *self.sides):
            if self.abandoned:
                return
            if packet.stream.index != video.index:
                if packet.size:
                    src._on_side(self, packet, time.monotonic())
                continue
            if packet.size and packet.is_corrupt:
                src.packets_corrupt += 1
                continue
            try:
                frames = packet.decode()
            except av.FFmpegError as e:
                src.packets_corrupt += 1
                logger.debug("%s: undecodable video packet: %s", src.spec, e)
                continue
            for frame in frames:
                src._on_frame(self, frame, time.monotonic())
        self.reason = "end of stream"


def open_live(spec: str, options: LiveOptions | None = None, *, stop: Callable[[], bool] | None = None,
              threads: int | None = None) -> LiveSource:
    """Open a live input and wait for its first frame (retrying as the options say). `stop()` returning
    True aborts the wait with SourceInterrupted (a SourceError)."""
    return LiveSource(spec, options, stop=stop, threads=threads)
