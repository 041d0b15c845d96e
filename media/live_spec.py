"""Which inputs are live (URLs, V4L2 devices) and how a live input is read (LiveOptions). Parsing only: the
live reader itself is live_source.py, imported only when an input is live (inputs.open_input), so a file job
never loads it.

    is_live_spec("rtsp://cam/x")        # True; "clip.mp4" and "file://clip.mp4" are False
    parse_live_spec("udp://@:1234")     # ("udp", None); raises SourceError for a malformed URL
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import av

from .frames import SourceError

logger = logging.getLogger(__name__)

NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "rtmpt", "rtmpts", "http", "https", "udp", "rtp", "tcp",
                   "srt")
LISTENER_SCHEMES = ("udp", "rtp", "tcp", "srt")  # may omit the host ("udp://@:1234", "udp://:1234")
_TRANSPORTS = ("tcp", "udp", "udp_multicast", "http", "https")
_RESIZE = ("scale", "segment")
_DEVICE = re.compile(r"^/dev/(video\d+|v4l/.+)$")


@dataclass
class LiveOptions:
    """How a live input is read. Times in seconds; None = no limit."""

    transport: str = "tcp"  # RTSP transport: tcp (default, survives NAT and loss), udp, udp_multicast, http(s)
    open_timeout_s: float = 5.0  # connect + describe + probe of one attempt
    read_timeout_s: float = 3.0  # one blocking read (PyAV) and the socket timeout (FFmpeg `timeout`, µs)
    stall_timeout_s: float = 5.0  # watchdog: no decoded video frame for this long = the camera is gone
    retry_initial_s: float = 0.5  # first backoff delay after a failed attempt
    retry_factor: float = 2.0
    retry_max_s: float = 10.0  # backoff cap
    max_retries: int | None = None  # consecutive failed attempts before giving up (None: never)
    give_up_after_s: float | None = None  # seconds without a frame before giving up (None: never)
    drop_old: bool = False  # keep only the newest `latest_frames` frames (low latency) instead of queueing
    latest_frames: int = 1  # queue length in drop_old mode (1-2)
    queue_frames: int = 32  # queue length otherwise (decoded frames: ~3 MB each at 1080p); overflow drops the oldest
    # a finite input (a file over HTTP, HLS VOD) keeps every frame whatever drop_old says: the queue buffers and
    # the reader waits for the consumer (info["finite"] tells the consumer)
    finite_as_file: bool = False
    queue_packets: int = 2048  # side packets waiting for the consumer
    max_fps: float | None = None  # deliver at most this many frames per second (camera time)
    duration_s: float | None = None  # end the stream after this long (wall clock since the first frame)
    on_resize: str = "scale"  # "scale" to the first size, or "segment" (LiveFrame.new_segment on a new size)
    audio: bool = True  # pass audio streams through as side packets
    low_latency: bool = True  # RTSP: fflags=nobuffer and minimal probing; slice-threaded decoding
    probe_s: float | None = None  # stream probing; None: 0 for RTSP (the SDP says it all), else 1 s
    threads: int = 0  # decoder threads (0: FFmpeg's choice)
    input_format: str | None = None  # force a demuxer (e.g. "mpegts" for udp://, "v4l2"); None: FFmpeg guesses
    device_options: dict[str, str] = field(default_factory=dict)  # V4L2: video_size, framerate, input_format
    ffmpeg_options: dict[str, str] = field(default_factory=dict)  # raw demuxer/protocol options, win last

    def validate(self) -> None:
        if self.transport not in _TRANSPORTS:
            raise SourceError(f"rtsp transport must be one of {', '.join(_TRANSPORTS)}, not {self.transport!r}")
        for name in ("open_timeout_s", "read_timeout_s", "stall_timeout_s", "retry_initial_s", "retry_max_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise SourceError(f"{name} must be a positive number of seconds, not {value!r}")
        if not self.retry_factor >= 1:
            raise SourceError(f"retry_factor must be at least 1, not {self.retry_factor!r}")
        if self.max_retries is not None and (not isinstance(self.max_retries, int) or self.max_retries < 0):
            raise SourceError(f"max_retries must be None or a whole number >= 0, not {self.max_retries!r}")
        for name in ("give_up_after_s", "max_fps", "duration_s"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float)) or not value > 0):
                raise SourceError(f"{name} must be None or a positive number, not {value!r}")
        for name in ("latest_frames", "queue_frames", "queue_packets"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SourceError(f"{name} must be a whole number >= 1, not {value!r}")
        if self.on_resize not in _RESIZE:
            raise SourceError(f"on_resize must be 'scale' or 'segment', not {self.on_resize!r}")


def is_live_spec(spec: str) -> bool:
    """Whether open_source() should treat `spec` as a live input: any URL but file://, something that starts
    like one of the live schemes ("rtsp:/cam" is a malformed URL, not a file name), or a V4L2 device."""
    if "://" in spec:
        return not spec.lower().startswith("file://")
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", spec)
    return bool(m and m.group(1).lower() in NETWORK_SCHEMES) or bool(_DEVICE.match(spec))


def parse_live_spec(spec: str) -> tuple[str, str | None]:
    """(kind, forced demuxer) for a live input: kind is the URL scheme or "v4l2". Raises SourceError at once
    for a malformed URL, an unknown scheme or a scheme this FFmpeg build cannot read."""
    if _DEVICE.match(spec):
        if not _has_format("v4l2"):
            raise SourceError(f"this FFmpeg build cannot read V4L2 devices: {spec}")
        return "v4l2", "v4l2"
    if any(c.isspace() for c in spec) or any(ord(c) < 32 for c in spec):
        raise SourceError(f"malformed URL (it contains spaces or control characters): {spec!r}")
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", spec)
    if not m:
        raise SourceError(f"malformed URL (expected scheme://host...): {spec}")
    scheme = m.group(1).lower()
    if scheme not in NETWORK_SCHEMES:
        raise SourceError(f"unknown input scheme {scheme}:// in {spec} (live inputs: rtsp://, rtsps://, rtmp://, "
                          "http(s):// (HLS), udp://, rtp://, tcp://, srt://, or a /dev/video* device)")
    try:
        parts = urlsplit(spec)
        port = parts.port
    except ValueError as e:
        raise SourceError(f"malformed URL ({e}): {spec}") from None
    host = parts.hostname
    if scheme in LISTENER_SCHEMES:
        if not port:
            raise SourceError(f"{scheme}:// needs a port: {spec}")
    elif not host:
        raise SourceError(f"malformed URL (no host): {spec}")
    if scheme in ("rtsp", "rtsps") and not _has_format("rtsp"):
        raise SourceError(f"this FFmpeg build has no RTSP demuxer: {spec}")
    return scheme, None


_FORMATS: dict[str, bool] = {}


def _has_format(name: str) -> bool:
    if name not in _FORMATS:
        _FORMATS[name] = any(name in f.split(",") for f in av.formats_available)
    return _FORMATS[name]
