"""Read a video file, a single image or an image sequence: upright RGB frames plus the untouched compressed
packets of its audio and subtitle streams, in demux order.

    with open_source("in.mp4") as src:
        send(src.info, src.side_buffers)             # JSON description + per-side-stream extradata
        for item in src.items():                     # Frame | Packet
            ...
        log(src.warnings)

Opening decodes the first video frame (keeping the packets demuxed before it), so `info` describes what
will be delivered (size after rotation, the colour tags actually used) and a file that cannot be decoded
fails here with a SourceError rather than in the middle of a run.
"""

from __future__ import annotations

import logging
import os
import re
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import av
import numpy as np

from . import colors, sequence
from .accounting import InputAccount
from .resize import SizeKeeper

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
MAX_PEEK_BYTES = 64 << 20  # side-stream bytes we hold while looking for the first video frame
_SEQUENCE = re.compile(r"%(0?\d*)d")


class SourceError(Exception):
    """The input cannot be read; the message is one line for the user."""


@dataclass
class Frame:
    """One decoded picture: H x W x 3 uint8 RGB, upright. pts/duration in time_base (None when unknown).

    Live inputs (live_source.py) also set `wallclock`, time.monotonic() when the frame was decoded (for
    end-to-end latency), and `new_segment`, True on the first frame of a new resolution when the source
    runs with on_resize="segment"."""

    pts: int | None
    time_base: Fraction
    rgb: np.ndarray
    duration: int | None = None
    wallclock: float | None = None
    new_segment: bool = False


@dataclass
class Packet:
    """One compressed audio/subtitle packet, byte-identical to the input. `stream` is the input stream index
    (info["side_streams"][k]["index"]); timestamps are in time_base."""

    stream: int
    pts: int | None
    dts: int | None
    duration: int | None
    time_base: Fraction
    is_keyframe: bool
    data: bytes

    def fields(self) -> dict[str, Any]:
        """The JSON header fields of a protocol PACKET message (payload travels as the one buffer)."""
        return {"stream": self.stream, "pts": self.pts, "dts": self.dts, "duration": self.duration,
                "tb": [self.time_base.numerator, self.time_base.denominator], "key": self.is_keyframe}

    @classmethod
    def from_fields(cls, header: dict[str, Any], data: bytes | memoryview) -> Packet:
        """Inverse of fields() for a validated PACKET message."""
        return cls(header["stream"], header["pts"], header["dts"], header.get("duration"),
                   Fraction(*header["tb"]), header["key"], bytes(data))


def open_source(spec: str | os.PathLike, *, threads: int = 0, rate: int | Fraction = 25,
                live: Any = None, stop: Any = None) -> VideoSource:
    """Open a video file, an image (png/jpg/bmp/tiff/webp) or an image sequence ("frames/%06d.png"), or a
    live input: a URL (rtsp://, rtmp://, http(s):// HLS, udp://, ...) or a V4L2 device (/dev/video0), which
    returns a live_source.LiveSource (same info/side_buffers/items()/close(), plus reconnects and drops).

    threads: decoder threads (0 = FFmpeg's choice). rate: frame rate given to images and image sequences.
    live: live_source.LiveOptions for live inputs (None: defaults). stop: a callable polled while a live
    input waits for its camera; True aborts with SourceInterrupted.
    Raises SourceError with a one-line message when the input is missing, empty, not media or has no video
    (for live inputs: at once for a malformed URL, else only when the options' retry limits are reached).
    """
    spec = os.fspath(spec)
    if spec.lower().startswith("file://"):
        spec = spec[len("file://"):]
    from .live_source import is_live_spec, open_live  # late: live_source imports this module

    if is_live_spec(spec):
        return open_live(spec, live, stop=stop, threads=threads or None)
    rate = Fraction(rate)
    files = None
    if _SEQUENCE.search(Path(spec).name):
        kind = "sequence"
        try:
            files = sequence.scan(spec)
        except sequence.SequenceError as e:
            raise SourceError(str(e)) from None
    else:
        kind = "image" if Path(spec).suffix.lower() in IMAGE_EXTENSIONS else "video"
        _check_file(spec)
    try:
        if files is not None:
            container = files.open(rate)  # every file, across gaps in the numbering
        else:
            container = av.open(spec, options={"framerate": str(rate)} if kind == "image" else {})
    except av.FFmpegError as e:
        raise SourceError(_open_error(spec, e)) from None
    try:
        src = VideoSource(container, spec, kind, threads)
    except BaseException:
        container.close()
        raise
    if files is not None:
        src.info.update(frames=len(files.numbers), missing_images=len(files.missing),
                        start_number=files.numbers[0])  # a sequence output keeps the input's numbers
        if files.warning():
            src.warnings.insert(0, files.warning())
    return src


class VideoSource:
    """An open input. Use as a context manager; iterate items() once."""

    def __init__(self, container: av.container.InputContainer, spec: str, kind: str, threads: int) -> None:
        self.spec = spec
        self.is_live = False
        self.warnings: list[str] = []
        self.truncated = False
        self.frames_decoded = 0
        self.packets_corrupt = 0
        self._container = container
        self._video = _pick_video_stream(container, spec)
        self._video.thread_type = "AUTO"
        self._video.thread_count = threads
        rate = self._video.average_rate or self._video.guessed_rate
        self.account = InputAccount(float(1 / rate) if rate else 0.0, self._video.frames or None,
                                    _declared_duration(self._video))
        self._sides = [s for s in container.streams if s.type in ("audio", "subtitle") and _codec_name(s)]
        keep = {self._video.index, *(s.index for s in self._sides)}
        for s in container.streams:
            if s.index not in keep:
                s.discard = "all"
        self._events = self._demux()
        self._iterated = False
        self._pending: deque[av.VideoFrame | Packet] = deque()
        first = self._peek_first_frame()
        self._setup_picture(first, kind)
        self.info = self._describe(first, kind)
        self._sizes = SizeKeeper(self.info["width"], self.info["height"])
        self.side_buffers = [s.codec_context.extradata or b"" if s.codec_context else b"" for s in self._sides]

    # ------------------------------------------------------------------------------------------ public
    def items(self) -> Iterator[Frame | Packet]:
        """Frames (upright RGB) and side-stream packets in demux order; stops early on a damaged file."""
        if self._iterated:
            raise RuntimeError("VideoSource.items() can only be iterated once")
        self._iterated = True
        while self._pending:
            yield self._convert(self._pending.popleft())
        for event in self._events:
            yield self._convert(event)
        self._check_complete()

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ decoding
    def _demux(self) -> Iterator[av.VideoFrame | Packet]:
        video = self._video
        try:
            for packet in self._container.demux(video, *self._sides):
                if packet.stream.index != video.index:
                    if packet.size:  # size 0: the demuxer's end-of-stream flush packet
                        yield _side_packet(packet)
                    continue
                if packet.size:
                    self.account.packet(packet.is_corrupt)
                try:
                    frames = packet.decode()  # the size-0 flush packet drains the decoder
                except av.FFmpegError as e:
                    self.packets_corrupt += 1
                    self.account.undecodable()
                    logger.debug("%s: undecodable packet at dts %s: %s", self.spec, packet.dts, e)
                    continue
                yield from frames
        except av.FFmpegError as e:  # a read error mid-file: keep what we have, drain the decoder
            self.truncated = True
            self.account.read_error(_reason(e))
            try:
                yield from video.decode(None)
            except av.FFmpegError:
                pass

    def _peek_first_frame(self) -> av.VideoFrame:
        held = 0
        for event in self._events:
            self._pending.append(event)
            if isinstance(event, av.VideoFrame):
                return event
            held += len(event.data)
            if held > MAX_PEEK_BYTES:
                raise SourceError(f"no video frame within the first {MAX_PEEK_BYTES >> 20} MiB of {self.spec}")
        raise SourceError(f"no decodable video frames in {self.spec}")

    def _convert(self, event: av.VideoFrame | Packet) -> Frame | Packet:
        if isinstance(event, Packet):
            return event
        self.frames_decoded += 1
        matrix, color_range = colors.decode_params(event, self._fallback_matrix)
        rgb = self._orient(colors.to_rgb(event, matrix, color_range))
        duration = event.duration or None
        time_base = event.time_base or self._video.time_base
        seconds = None if event.pts is None else float(event.pts * time_base)
        rgb = self._sizes.fit(rgb, self.frames_decoded - 1, seconds)  # a size change mid-file: scaled
        self.account.frame(seconds, float(duration * time_base) if duration else None)
        return Frame(event.pts, time_base, rgb, duration)

    def _orient(self, rgb: np.ndarray) -> np.ndarray:
        if self._turn is None:
            return rgb
        return np.ascontiguousarray(_TURNS[self._turn](rgb))

    def _check_complete(self) -> None:
        """One line each for a size change (resize.py) and a damaged or truncated input (accounting.py)."""
        for line in (self._sizes.warning(), self.account.summary()):
            if not line:
                continue
            self.truncated = self.truncated or self.account.missing > 0 or self.account.ended_early()
            self.warnings.append(line)

    # ------------------------------------------------------------------------------------------ description
    def _setup_picture(self, first: av.VideoFrame, kind: str) -> None:
        self._fallback_matrix = colors.default_matrix(first.width, first.height, image=kind != "video")
        self.rotation, self._turn = _orientation(first)
        cc = self._video.codec_context
        if cc.color_trc in colors.HDR_TRANSFERS or first.color_trc in colors.HDR_TRANSFERS:
            self.warnings.append("HDR input (%s): frames are passed on without tone mapping"
                                 % colors.TRANSFERS[max(cc.color_trc, first.color_trc)])
        self._declared_end = _declared_duration(self._video)

    def _describe(self, first: av.VideoFrame, kind: str) -> dict[str, Any]:
        v, cc = self._video, self._video.codec_context
        rate = v.average_rate or v.guessed_rate
        width, height = (first.height, first.width) if self._turn in _SWAPS else (first.width, first.height)
        matrix, color_range = colors.decode_params(first, self._fallback_matrix)
        tags = colors.tags(_pick(first.color_primaries, cc.color_primaries), _pick(first.color_trc, cc.color_trc),
                           _pick(first.colorspace, cc.colorspace), first.color_range or cc.color_range)
        frames = v.frames or None
        if kind == "image":
            frames = 1
        duration = self._declared_end
        if duration is None and self._container.duration:
            duration = self._container.duration / 1e6
        return {
            "source": self.spec,
            "kind": kind,
            "is_image": kind != "video",
            "is_sequence": kind == "sequence",
            "is_live": self.is_live,
            "container": self._container.format.name,
            "codec": _codec_name(v),
            "pix_fmt": first.format.name,
            "width": width,
            "height": height,
            "coded_width": first.width,
            "coded_height": first.height,
            "time_base": _ratio(first.time_base or v.time_base),
            "frame_rate": _ratio(rate) if rate else None,
            "frames": frames,
            "duration": duration,
            "start_pts": first.pts,
            "start_time": v.start_time,  # the stream's, in time_base (what the demuxer says after edit lists)
            "color": tags,
            "color_used": None if not colors.is_yuv(first.format.name) else {
                "matrix": colors.MATRICES[matrix], "range": colors.RANGES[color_range],
                "assumed": not colors.has_matrix(first)},
            "rotation": self.rotation,
            "orientation": self._turn,
            "side_streams": [_describe_side(s) for s in self._sides],
        }


# ---------------------------------------------------------------------------------------------- helpers
def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise SourceError(f"input not found: {path}")
    if os.path.isdir(path):
        raise SourceError(f"input is a directory, not a file: {path}")
    if not os.access(path, os.R_OK):
        raise SourceError(f"input is not readable (permission denied): {path}")
    if os.path.getsize(path) == 0:
        raise SourceError(f"input is empty (0 bytes): {path}")


def _open_error(spec: str, e: av.FFmpegError) -> str:
    if isinstance(e, av.InvalidDataError):
        return f"not a video file (or damaged beyond reading): {spec}"
    return f"cannot open {spec}: {_reason(e)}"


def _reason(e: av.FFmpegError) -> str:
    return (getattr(e, "strerror", None) or str(e)).strip().splitlines()[0]


def _pick_video_stream(container: av.container.InputContainer, spec: str) -> av.VideoStream:
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not videos:
        extra = " (only cover art)" if container.streams.video else ""
        raise SourceError(f"no video stream in {spec}{extra}")
    default = [s for s in videos if s.disposition & av.stream.Disposition.default]
    stream = (default or videos)[0]
    if stream.codec_context is None:
        raise SourceError(f"no decoder for the video codec of {spec}")
    return stream


def _codec_name(stream: av.stream.Stream) -> str | None:
    cc = stream.codec_context
    return cc.codec.canonical_name if cc is not None else None


def _side_packet(packet: av.Packet) -> Packet:
    return Packet(packet.stream.index, packet.pts, packet.dts, packet.duration or None,
                  packet.time_base, bool(packet.is_keyframe), bytes(packet))


def _describe_side(s: av.stream.Stream) -> dict[str, Any]:
    cc = s.codec_context
    desc: dict[str, Any] = {
        "index": s.index,
        "type": s.type,
        "codec": _codec_name(s),
        "profile": cc.profile,
        "time_base": _ratio(s.time_base),
        "start_time": s.start_time,
        "bit_rate": cc.bit_rate or None,
        "extradata_size": cc.extradata_size,
        "language": s.language,
        "title": s.metadata.get("title"),
        "default": bool(s.disposition & av.stream.Disposition.default),
        "forced": bool(s.disposition & av.stream.Disposition.forced),
    }
    if s.type == "audio":
        layout = cc.layout
        desc.update(sample_rate=cc.sample_rate, channels=cc.channels,
                    layout=layout.name if layout.name and "channels" not in layout.name else None,
                    sample_format=cc.format.name if cc.format else None, frame_size=cc.frame_size or None)
    return desc


_TURNS = {  # how to turn a decoded H x W x 3 picture upright; named after FFmpeg's filters
    "clock": lambda a: np.rot90(a, -1),
    "cclock": lambda a: np.rot90(a, 1),
    "rotate180": lambda a: a[::-1, ::-1],
    "hflip": lambda a: a[:, ::-1],
    "vflip": lambda a: a[::-1],
    "cclock_flip": lambda a: a.transpose(1, 0, 2),  # = transpose
    "clock_flip": lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # = anti-transpose
}
_SWAPS = frozenset({"clock", "cclock", "cclock_flip", "clock_flip"})


def _orientation(frame: av.VideoFrame) -> tuple[int, str | None]:
    """(degrees CCW as the display matrix says, the _TURNS key that shows the picture upright) following
    FFmpeg's own autorotate (fftools: get_rotation(), then transpose / hflip / vflip)."""
    matrix = None
    for sd in frame.side_data:
        if sd.type == av.sidedata.sidedata.Type.DISPLAYMATRIX:
            matrix = np.frombuffer(bytes(sd), dtype="<i4")
    if matrix is None:
        return 0, None
    degrees = int(round(frame.rotation))
    theta = (-degrees) % 360  # clockwise degrees the picture must turn, as fftools computes it
    if abs(theta - 90) < 1:
        return degrees, "cclock_flip" if matrix[3] > 0 else "clock"
    if abs(theta - 270) < 1:
        return degrees, "clock_flip" if matrix[3] < 0 else "cclock"
    if abs(theta - 180) < 1:
        h, v = matrix[0] < 0, matrix[4] < 0
        return degrees, "rotate180" if h and v else "hflip" if h else "vflip" if v else None
    if abs(theta) < 1:
        return degrees, "vflip" if matrix[4] < 0 else None
    return degrees, None  # arbitrary angles are not applied (FFmpeg would rotate and pad)


def _declared_duration(stream: av.stream.Stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION")  # Matroska writes one per track
    if tag:
        try:
            h, m, s = tag.split(":")
            return int(h) * 3600 + int(m) * 60 + float(s)
        except ValueError:
            return None
    return None


def _pick(frame_value: int, stream_value: int) -> int:
    return frame_value if frame_value not in (0, 2) else stream_value


def _ratio(value: Fraction) -> list[int]:
    value = Fraction(value)
    return [value.numerator, value.denominator]
