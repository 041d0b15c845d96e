"""Live outputs: recordings cut into files every N seconds, and pushing to an RTSP or RTMP server. Both take
the same calls as sink.VideoSink (write_frame / write_packet / close, context manager).

    rec = open_segment_sink("recordings/cam1-%Y%m%d-%H%M%S.mp4", 60, info, side_buffers, options)
    push = open_push_sink("rtmp://server/live/key", info, side_buffers, options)
    out = open_live_sink(target, info, side_buffers, options, segment_s=None)   # picks one of the three

A plain single file (sink.open_sink) is the third live output: it is crash-safe while written and close()
(which the encoder node runs on Ctrl-C / SIGTERM / a --duration limit) drains the encoder and writes the
trailer, so a live run can stop at any time and leave a normal file.

Segments (SegmentSink). A new file starts with the first frame whose pts reaches the next boundary
(first frame + k * segment_s on the stream's timeline, so an outage does not shift the grid), on a frame
that carries new_segment=True, or when the frame size changes. Each segment is a complete sink.VideoSink:
its own encoder, so it starts with a keyframe (IDR) and decodes on its own; crash-safe while written;
closed (encoder drained, trailer written) in a background thread so the next segment starts at once
(`on_segment(info)` is called from that thread when a file is done). Timestamps restart near 0 in every
segment (frame pts minus the segment's first frame pts; audio shifted by the same amount: audio from past
the boundary waits for the next segment, and what would land before 0 there - at most the one frame
interval between the boundary and that segment's first frame - is dropped and counted), so each file plays
from 0 like a normal recording; the file name carries the start time. Names: time.strftime(pattern) at the segment's first frame, in local time;
with write_frame(..., wallclock=frame.wallclock) the capture time rather than the write time. A name
already used (or, without overwrite, already on disk) gets "-1", "-2", ... before the extension. strftime
codes in the folder part create folders (recordings/%Y-%m-%d/cam-%H%M%S.mp4).

Push (PushSink). rtsp:// and rtsps:// go out with the "rtsp" muxer (RTP over TCP by default, as ANNOUNCE/
RECORD), rtmp:// and rtmps:// with "flv", udp://, tcp:// and srt:// with "mpegts". Use a live encoder
setting (EncodeOptions(tune="zerolatency", preset="veryfast", keyint=2 * fps)): look-ahead delays every
frame. When the server refuses or drops the connection, the push is retried with exponential backoff
(retry_initial_s doubling up to retry_max_s) with a fresh encoder and connection; frames and packets that
arrive meanwhile are dropped and counted (frames_dropped, packets_dropped), `reconnects` counts the
successful re-opens, and max_failures (None: never) makes the next failure a SinkError. Limitations: PyAV
holds the GIL while it connects and while a write blocks, so a server that accepts the connection but stops
reading stalls the encoder process until the socket gives up; audio is pushed only when the muxer takes its
codec (RTSP/FLV: AAC; others are re-encoded to AAC or dropped with a warning, as for files).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import av
import numpy as np

from .frames import Packet
from .image_sink import check_rgb
from .output_file import partial_path
from .sink import VIDEO_CONTAINERS, EncodeOptions, SinkError, VideoSink, ffmpeg_error_line, open_sink

logger = logging.getLogger(__name__)

PUSH_FORMATS = {"rtsp": "rtsp", "rtsps": "rtsp", "rtmp": "flv", "rtmps": "flv", "udp": "mpegts",
                "tcp": "mpegts", "srt": "mpegts"}
MAX_PENDING_PACKETS = 4096  # side packets held before the first frame
_STRFTIME = re.compile(r"%[a-zA-Z]")


@dataclass
class SegmentInfo:
    """One segment file: its path, where it starts on the stream's timeline (seconds), frames written."""

    path: str
    start: float
    frames: int = 0
    closed: bool = False
    error: str | None = None


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


# ---------------------------------------------------------------------------------------------- segments
def open_segment_sink(pattern: str | os.PathLike, segment_s: float, info: dict[str, Any], side_buffers: list[bytes],
                      options: EncodeOptions | None = None, *, overwrite: bool = False,
                      on_segment: Callable[[SegmentInfo], None] | None = None) -> SegmentSink:
    """Record into a new file every `segment_s` seconds (see the module docstring). Checks the pattern, the
    folder and the encoder settings now; raises SinkError."""
    return SegmentSink(os.fspath(pattern), segment_s, info, side_buffers, options or EncodeOptions(),
                       overwrite=overwrite, on_segment=on_segment)


class SegmentSink:
    """A recording cut into files. write_frame / write_packet / close like VideoSink."""

    def __init__(self, pattern: str, segment_s: float, info: dict[str, Any], side_buffers: list[bytes],
                 options: EncodeOptions, *, overwrite: bool = False,
                 on_segment: Callable[[SegmentInfo], None] | None = None) -> None:
        if not isinstance(segment_s, (int, float)) or isinstance(segment_s, bool) or not segment_s > 0:
            raise SinkError(f"segment length must be a positive number of seconds, not {segment_s!r}")
        suffix = Path(pattern).suffix.lower()
        if suffix not in VIDEO_CONTAINERS:
            raise SinkError(f"segments must be video files (.mp4, .mkv, .mov, .webm), not {suffix or 'no extension'!r}:"
                            f" {pattern}")
        folder = Path(pattern).parent
        self._dated_folder = bool(_STRFTIME.search(str(folder)))
        if not self._dated_folder:
            if not folder.is_dir():
                raise SinkError(f"output folder does not exist: {folder}")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise SinkError(f"output folder is not writable: {folder}")
        try:
            time.strftime(pattern)
        except ValueError as e:
            raise SinkError(f"bad strftime pattern {pattern!r}: {e}") from None
        options.validate()
        self.pattern, self.segment_s, self.info, self.options = pattern, float(segment_s), info, options
        self.side_buffers = side_buffers
        self.overwrite = overwrite
        self.on_segment = on_segment
        self.path = pattern
        self.segments: list[SegmentInfo] = []
        self.warnings: list[str] = []
        self.frames_written = 0
        self.packets_written = 0
        self.packets_dropped = 0
        self.pts_fixed = 0
        self._sink: VideoSink | None = None
        self._current: SegmentInfo | None = None
        self._start: Fraction | None = None  # stream time (s) of the current segment's first frame
        self._origin: Fraction | None = None  # stream time of the very first frame (the boundary grid)
        self._boundary: Fraction | None = None
        self._size: tuple[int, int] | None = None
        self._pending: list[Packet] = []
        self._used: set[str] = set()
        self._closers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._last_t: Fraction | None = None
        self._closed = False

    def write_frame(self, rgb: np.ndarray, pts: int | None, time_base: Fraction, duration: int | None = None, *,
                    new_segment: bool = False, wallclock: float | None = None) -> None:
        """Encode one frame; starts a new segment first when a boundary, new_segment or a new size says so."""
        check_rgb(rgb)
        tb = Fraction(time_base)
        if pts is None:  # continue one frame (by the declared rate) after the last
            step = Fraction(1, 25)
            if self.info.get("frame_rate"):
                step = 1 / Fraction(*self.info["frame_rate"])
            t = Fraction(0) if self._last_t is None else self._last_t + step
        else:
            t = pts * tb
        if self._last_t is not None and t <= self._last_t:
            self.pts_fixed += 1
            t = self._last_t + tb
        self._last_t = t
        size = rgb.shape[:2]
        if self._sink is None or new_segment or size != self._size or t >= self._boundary:
            self._rotate(t, size, wallclock)
        rel = round((t - self._start) / tb)
        try:
            self._sink.write_frame(rgb, rel, tb, duration)
        except SinkError as e:
            raise SinkError(f"segment {self._current.path}: {e}") from None
        self._current.frames += 1
        self.frames_written += 1

    def write_packet(self, packet: Packet) -> None:
        """A side packet (audio) into the current segment, shifted like the video."""
        held = self._sink is None or (packet.pts is not None and packet.pts * packet.time_base >= self._boundary)
        if held:  # before the first frame, or it belongs to the next segment: wait for that one
            if len(self._pending) < MAX_PENDING_PACKETS:
                self._pending.append(packet)
                return
            if self._sink is None:
                self.packets_dropped += 1
                return
        self._write_side(packet)

    def close(self) -> None:
        """Close the last segment and wait for all segments to be finished."""
        if self._closed:
            return
        self._closed = True
        if self._sink is not None:
            self._finish(self._sink, self._current)
            self._sink = None
        elif self._pending:
            self.warnings.append("no video frames arrived; no segment was written")
        for t in self._closers:
            t.join()
        self._closers.clear()

    def __enter__(self) -> SegmentSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ internals
    def _rotate(self, t: Fraction, size: tuple[int, int], wallclock: float | None) -> None:
        old, old_info = self._sink, self._current
        if self._origin is None or size != self._size:
            self._origin = t  # a new size restarts the grid
        seg = Fraction(self.segment_s).limit_denominator(1000)
        k = (t - self._origin) // seg
        self._boundary = self._origin + (k + 1) * seg
        self._start, self._size = t, size
        path = self._name(wallclock)
        self._current = SegmentInfo(path, float(t))
        self.segments.append(self._current)
        self._sink = VideoSink(path, self.info, self.side_buffers, self.options, overwrite=self.overwrite)
        logger.info("segment %s starts at %.3f s", path, float(t))
        if old is not None:
            self._finish(old, old_info, background=True)
        pending, self._pending = self._pending, []
        for packet in pending:
            self._write_side(packet)

    def _name(self, wallclock: float | None) -> str:
        now = time.time() if wallclock is None else time.time() - (time.monotonic() - wallclock)
        base = time.strftime(self.pattern, time.localtime(now))
        folder = Path(base).parent
        if self._dated_folder:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise SinkError(f"cannot create the segment folder {folder}: {e.strerror or e}") from None
        stem, suffix = os.path.splitext(base)
        name, n = base, 0
        taken = (lambda n: os.path.exists(n) or os.path.exists(partial_path(n))) if not self.overwrite else None
        while name in self._used or (taken is not None and taken(name)):
            n += 1
            name = f"{stem}-{n}{suffix}"
        self._used.add(name)
        return name

    def _write_side(self, packet: Packet) -> None:
        tb = packet.time_base
        shift = round(self._start / tb)
        pts = None if packet.pts is None else packet.pts - shift
        dts = None if packet.dts is None else packet.dts - shift
        if (dts if dts is not None else pts) is None or (dts if dts is not None else pts) < 0:
            self.packets_dropped += 1
            return
        before = self._sink.packets_dropped
        self._sink.write_packet(Packet(packet.stream, pts, dts, packet.duration, tb, packet.is_keyframe, packet.data))
        if self._sink.packets_dropped == before:
            self.packets_written += 1
        else:
            self.packets_dropped += 1

    def _finish(self, sink: VideoSink, info: SegmentInfo, background: bool = False) -> None:
        def run() -> None:
            try:
                sink.close()
            except Exception as e:  # a bad segment must not stop the recording
                info.error = str(e)
                logger.error("closing segment %s failed: %s", info.path, e)
            with self._lock:
                for w in sink.warnings:
                    if w not in self.warnings:
                        self.warnings.append(w)
            info.closed = True
            if self.on_segment is not None:
                try:
                    self.on_segment(info)
                except Exception:
                    logger.exception("on_segment callback failed")

        if background:
            thread = threading.Thread(target=run, name="segment-close", daemon=True)
            thread.start()
            self._closers = [t for t in self._closers if t.is_alive()] + [thread]
        else:
            run()


# ---------------------------------------------------------------------------------------------- push
def open_push_sink(url: str, info: dict[str, Any], side_buffers: list[bytes], options: EncodeOptions | None = None,
                   *, transport: str = "tcp", max_failures: int | None = None, retry_initial_s: float = 1.0,
                   retry_max_s: float = 10.0, timeout_s: float = 5.0) -> PushSink:
    """Publish to an RTSP/RTMP (or udp/tcp/srt MPEG-TS) server; see the module docstring. Raises SinkError
    at once for a malformed URL or an unknown scheme; connecting happens with the first encoded frame."""
    return PushSink(url, info, side_buffers, options or EncodeOptions(), transport=transport,
                    max_failures=max_failures, retry_initial_s=retry_initial_s, retry_max_s=retry_max_s,
                    timeout_s=timeout_s)


class PushSink:
    """A live stream pushed to a server, re-opened with backoff when the connection fails."""

    def __init__(self, url: str, info: dict[str, Any], side_buffers: list[bytes], options: EncodeOptions, *,
                 transport: str = "tcp", max_failures: int | None = None, retry_initial_s: float = 1.0,
                 retry_max_s: float = 10.0, timeout_s: float = 5.0) -> None:
        m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
        scheme = m.group(1).lower() if m else ""
        if scheme not in PUSH_FORMATS:
            raise SinkError(f"cannot push to {url}: use rtsp://, rtmp://, udp://, tcp:// or srt://")
        try:
            parts = urlsplit(url)
            parts.port
        except ValueError as e:
            raise SinkError(f"malformed URL ({e}): {url}") from None
        if not parts.hostname or any(c.isspace() for c in url):
            raise SinkError(f"malformed URL: {url}")
        if transport not in ("tcp", "udp"):
            raise SinkError(f"rtsp transport must be tcp or udp, not {transport!r}")
        options.validate()
        self.path = url
        self.url, self.info, self.side_buffers, self.options = url, info, side_buffers, options
        self.format = PUSH_FORMATS[scheme]
        timeout_us = str(int(timeout_s * 1e6))
        if self.format == "rtsp":
            self._container_options = {"rtsp_transport": transport, "timeout": timeout_us}
        elif self.format == "flv":
            self._container_options = {"flvflags": "no_duration_filesize"}
        else:
            self._container_options = {}
        self.max_failures = max_failures
        self.retry_initial_s, self.retry_max_s = retry_initial_s, retry_max_s
        self.warnings: list[str] = []
        self.frames_written = 0
        self.frames_dropped = 0
        self.packets_written = 0
        self.packets_dropped = 0
        self.failures = 0  # connection failures so far
        self.reconnects = 0
        self.last_error: str | None = None
        self._sink: VideoSink | None = None
        self._consecutive = 0
        self._retry_at = 0.0
        self._ever_connected = False
        self._pending: list[Packet] = []
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._sink is not None and self._sink.started

    def stats(self) -> dict[str, Any]:
        """For a STATUS "push" message (pipeline/metrics.py)."""
        return {"connected": self.connected, "failures": self.failures, "reconnects": self.reconnects,
                "frames_written": self.frames_written, "frames_dropped": self.frames_dropped,
                "last_error": self.last_error}

    def write_frame(self, rgb: np.ndarray, pts: int | None, time_base: Fraction, duration: int | None = None,
                    **_: Any) -> None:
        check_rgb(rgb)
        if self._sink is None:
            if time.monotonic() < self._retry_at:
                self.frames_dropped += 1
                return
            self._open()
        was_started = self._sink.started
        try:
            self._sink.write_frame(rgb, pts, time_base, duration)
        except (SinkError, av.FFmpegError, OSError) as e:
            self.frames_dropped += 1
            self._failed(e)
            return
        self.frames_written += 1
        if not was_started and self._sink.started:
            self._connected_now()

    def write_packet(self, packet: Packet) -> None:
        if self._sink is None or not self._sink.started:
            if self._ever_connected or len(self._pending) >= MAX_PENDING_PACKETS:
                self.packets_dropped += 1  # while down, audio is dropped with the video
            else:
                self._pending.append(packet)
            return
        before = self._sink.packets_dropped
        try:
            self._sink.write_packet(packet)
        except (SinkError, av.FFmpegError, OSError) as e:
            self.packets_dropped += 1
            self._failed(e)
            return
        if self._sink.packets_dropped == before:
            self.packets_written += 1
        else:
            self.packets_dropped += 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        sink, self._sink = self._sink, None
        if sink is not None:
            try:
                sink.close()
            except (SinkError, av.FFmpegError, OSError) as e:
                logger.warning("closing the push to %s failed: %s", self.url, ffmpeg_error_line(e))
            self._take_warnings(sink)
        if self.frames_dropped:
            self.warnings.append(f"{self.frames_dropped} frame(s) were dropped while {self.url} was unreachable")

    def __enter__(self) -> PushSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> None:
        self._sink = VideoSink(self.url, self.info, self.side_buffers, self.options, format=self.format,
                               container_options=dict(self._container_options))

    def _connected_now(self) -> None:
        if self._ever_connected:
            self.reconnects += 1
            logger.warning("push to %s: reconnected (%d so far)", self.url, self.reconnects)
        else:
            logger.info("push to %s: connected", self.url)
        self._ever_connected = True
        self._consecutive = 0
        pending, self._pending = self._pending, []
        for packet in pending:
            self.write_packet(packet)

    def _failed(self, e: BaseException) -> None:
        sink, self._sink = self._sink, None
        if sink is not None:
            try:
                sink.abandon()  # no draining: the connection is gone
            except Exception:
                pass
            self._take_warnings(sink)
        self.failures += 1
        self._consecutive += 1
        self.last_error = ffmpeg_error_line(e) if isinstance(e, Exception) else str(e)
        if self.max_failures is not None and self.failures > self.max_failures:
            raise SinkError(f"cannot push to {self.url}: {self.last_error} (gave up after {self.failures} "
                            f"failure(s); max_failures={self.max_failures})")
        delay = min(self.retry_max_s, self.retry_initial_s * 2 ** (self._consecutive - 1))
        self._retry_at = time.monotonic() + delay
        logger.warning("push to %s failed (%s); retrying in %.1f s", self.url, self.last_error, delay)

    def _take_warnings(self, sink: VideoSink) -> None:
        for w in sink.warnings:
            if w not in self.warnings:
                self.warnings.append(w)
