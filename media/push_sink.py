"""A live stream pushed to a server (PushSink, the same calls as sink.VideoSink).

rtsp:// and rtsps:// go out with the "rtsp" muxer (RTP over TCP by default, as ANNOUNCE/RECORD), rtmp:// and
rtmps:// with "flv", udp://, tcp:// and srt:// with "mpegts". Use a live encoder setting
(EncodeOptions(tune="zerolatency", preset="veryfast", keyint=2 * fps)): look-ahead delays every frame. When the
server refuses or drops the connection, the push is retried with exponential backoff (retry_initial_s doubling up
to retry_max_s) with a fresh encoder and connection; frames and packets that arrive meanwhile are dropped and
counted (frames_dropped, packets_dropped), `reconnects` counts the successful re-opens, and max_failures (None:
never) makes the next failure a SinkError. Limitations: PyAV holds the GIL while it connects and while a write
blocks, so a server that accepts the connection but stops reading stalls the encoder process until the socket
gives up; audio is pushed only when the muxer takes its codec (RTSP/FLV: AAC; others are re-encoded to AAC or
dropped with a warning, as for files).
"""

from __future__ import annotations

import logging
import re
import time
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

import av
import numpy as np

from .encode_options import EncodeOptions, SinkError
from .frames import Planes, ffmpeg_error_line
from .image_sink import rgb8
from .inner_sink import InnerSink
from .packets import Packet

logger = logging.getLogger(__name__)

PUSH_FORMATS = {"rtsp": "rtsp", "rtsps": "rtsp", "rtmp": "flv", "rtmps": "flv", "udp": "mpegts",
                "tcp": "mpegts", "srt": "mpegts"}
MAX_PENDING_PACKETS = 4096  # side packets held before the first frame


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
        self._sink: PushedSink | None = None
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

    def write_frame(self, rgb: np.ndarray | Planes, pts: int | None, time_base: Fraction, duration: int | None = None,
                    **_: Any) -> None:
        if self._sink is None:
            if time.monotonic() < self._retry_at:
                self.frames_dropped += 1  # not converted: it is not sent
                return
            self._open()
        rgb = rgb8(rgb)  # pushed from 8-bit RGB: planes converted here
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
        self._sink = PushedSink(self.url, self.info, self.side_buffers, self.options, self.format,
                                dict(self._container_options))

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

    def _take_warnings(self, sink: PushedSink) -> None:
        for w in sink.warnings:
            if w not in self.warnings:
                self.warnings.append(w)


class PushedSink(InnerSink):
    """One connection of a push: VideoSink's encoder and side streams, written with the URL's muxer and options
    to the URL itself (no file: nothing to reserve, commit or keep)."""

    def __init__(self, url: str, info: dict[str, Any], side_buffers: list[bytes], options: EncodeOptions,
                 format: str, container_options: dict[str, str]) -> None:
        self._given = (format, container_options)  # read by _muxer while VideoSink sets itself up
        super().__init__(url, info, side_buffers, options)

    def _muxer(self) -> tuple[str, dict[str, str]]:
        return self._given

    def _reserve(self, overwrite: bool) -> _Url:
        return _Url(self.path)


class _Url:
    """Where a pushed stream goes, in the place of output_file.OutputFile: the muxer writes to the URL."""

    def __init__(self, url: str) -> None:
        self.partial = self.written_to = url

    def keep(self) -> None:
        pass

    def discard(self) -> None:
        pass

    def commit(self) -> None:
        pass
