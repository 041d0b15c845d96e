"""One connection to a live input: a reader thread that opens it (PyAV `timeout=(open, read)` plus FFmpeg's
socket timeout, in µs, for RTSP/HTTP/UDP), demuxes and decodes until it fails or ends, handing each decoded
video frame and each side packet to its owner's callbacks. live_reconnect.py decides when to give up on it and
open the next one.

    conn = LiveConnection(spec, "rtsp", None, options, threads=0, on_frame=..., on_side=..., on_corrupt=...,
                          on_end=...)
    conn.start(); ...; conn.abandon()   # an abandoned reader closes its container when its blocking call returns
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import av

from .describe import codec_name
from .frames import error_line
from .live_spec import LiveOptions

logger = logging.getLogger(__name__)


class LiveConnection:
    """One attempt: a reader thread that opens the input, demuxes and decodes until it fails or ends."""

    def __init__(self, spec: str, kind: str, input_format: str | None, options: LiveOptions, threads: int, *,
                 on_frame: Callable[[LiveConnection, av.VideoFrame, float], None],
                 on_side: Callable[[LiveConnection, av.Packet, float], None],
                 on_corrupt: Callable[[], None], on_end: Callable[[LiveConnection], None]) -> None:
        self.spec, self.kind, self.input_format, self.options, self.threads = spec, kind, input_format, options, threads
        self._on_frame, self._on_side, self._on_corrupt, self._on_end = on_frame, on_side, on_corrupt, on_end
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
        self.offset: int | None = None  # out ticks = source ticks + offset (live_clock.py)
        self.early: list[av.Packet] = []  # side packets before the first video frame
        self.video: av.VideoStream | None = None
        self.sides: list[av.stream.Stream] = []
        self.container_name = ""
        self.thread = threading.Thread(target=self._run, name="live-reader", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def abandon(self) -> None:
        self.abandoned = True

    def _run(self) -> None:
        o = self.options
        container = None
        try:
            try:
                container = av.open(self.spec, format=self.input_format, options=ffmpeg_options(self.kind, o),
                                    timeout=(o.open_timeout_s, o.read_timeout_s))
            except av.error.ProtocolNotFoundError:
                self.fatal = True
                scheme = self.spec.split("://", 1)[0]
                self.reason = f"this FFmpeg build cannot read {scheme}:// inputs (no such protocol)"
                return
            except (av.FFmpegError, OSError, ValueError) as e:
                self.reason = error_line(e)
                return
            if self.abandoned:
                return
            self.opened_at = time.monotonic()
            self.container_name = container.format.name
            self.finite = bool(container.duration and container.duration > 0) and self.kind not in ("rtsp", "rtsps")
            videos = [s for s in container.streams.video if s.codec_context is not None]
            if not videos:
                self.reason = "no video stream"
                return
            self.video = video = videos[0]
            video.thread_type = "SLICE" if o.low_latency else "AUTO"
            video.thread_count = self.threads
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
            self._on_end(self)
            self.done.set()

    def _read(self, container: av.container.InputContainer, video: av.VideoStream) -> None:
        for packet in container.demux(video, *self.sides):
            if self.abandoned:
                return
            if packet.stream.index != video.index:
                if packet.size:
                    self._on_side(self, packet, time.monotonic())
                continue
            if packet.size and packet.is_corrupt:
                self._on_corrupt()
                continue
            try:
                frames = packet.decode()
            except av.FFmpegError as e:
                self._on_corrupt()
                logger.debug("%s: undecodable video packet: %s", self.spec, e)
                continue
            for frame in frames:
                self._on_frame(self, frame, time.monotonic())
        self.reason = "end of stream"


def ffmpeg_options(kind: str, o: LiveOptions) -> dict[str, str]:
    """The demuxer/protocol options of one attempt: timeouts, RTSP transport, probing, low latency."""
    opts: dict[str, str] = {}
    read_us = str(int(o.read_timeout_s * 1e6))
    if kind in ("rtsp", "rtsps"):
        opts.update(rtsp_transport=o.transport, timeout=read_us)
    elif kind in ("http", "https", "udp", "tcp", "rtp"):
        opts["timeout"] = read_us
    if kind == "udp":
        opts["overrun_nonfatal"] = "1"
    if kind != "v4l2":
        opts["rw_timeout"] = read_us
    probe = o.probe_s if o.probe_s is not None else (0 if kind in ("rtsp", "rtsps") and o.low_latency else 1)
    opts["analyzeduration"] = str(int(probe * 1e6))
    if probe == 0:
        opts["probesize"] = "32"
    elif probe <= 1:
        opts["probesize"] = "1000000"
    if o.low_latency and kind in ("rtsp", "rtsps"):
        # nobuffer drops what probing read; harmless for RTSP (no probing), but on udp:// or HLS it
        # would throw away the first keyframe and wait for the next one.
        opts["fflags"] = "nobuffer"
    opts.update(o.device_options)
    opts.update(o.ffmpeg_options)
    return opts
