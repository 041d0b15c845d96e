"""Read a video file, a single image or an image sequence: upright RGB frames plus the untouched compressed
packets of its audio and subtitle streams, in demux order.

    with open_source("in.mp4") as src:
        send(src.info, src.side_buffers)             # JSON description + per-side-stream extradata
        for item in src.items():                     # Frame | Packet
            ...
        log(src.warnings)

Opening decodes the first video frame (keeping the packets demuxed before it), so `info` describes what
will be delivered (size after rotation, the colour tags actually used) and a file that cannot be decoded
fails here with a SourceError rather than in the middle of a run. The description: describe.py; the checks of
opening: input_checks.py; rotated inputs: orientation.py; image sequences: sequence.py; --preview's few frames
found by seeking, instead of items(): stills.take.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av

from . import colors, orientation, planes, sequence
from .accounting import InputAccount
from .describe import codec_name, declared_duration, describe_input
from .frames import IMAGE_EXTENSIONS, Frame, Planes, SourceError, error_line
from .input_checks import check_file, open_error, pick_video_stream
from .packets import Packet
from .resize import SizeKeeper

logger = logging.getLogger(__name__)

MAX_PEEK_BYTES = 64 << 20  # side-stream bytes we hold while looking for the first video frame


def open_source(spec: str | os.PathLike, *, threads: int = 0, rate: int | Fraction = 25,
                planes: bool = False) -> VideoSource:
    """Open a video file, an image (png/jpg/bmp/tiff/webp) or an image sequence ("frames/%06d.png").
    Live inputs (URLs, /dev/video*) are opened by inputs.open_input, which tells the two apart.

    threads: decoder threads (0 = FFmpeg's choice). rate: frame rate given to images and image sequences.
    planes: give 4:2:0 YUV video as its planes (Frame.planes, 8 or 10 bits; other YUV deeper than 8 bits as
    10-bit 4:2:0 planes) and deep RGB as uint16, instead of 8-bit RGB (what the pipeline sends to workers).
    Raises SourceError with a one-line message when the input is missing, empty, not media or has no video.
    """
    spec = os.fspath(spec)
    if spec.lower().startswith("file://"):
        spec = spec[len("file://"):]
    rate = Fraction(rate)
    if sequence.PATTERN.search(Path(spec).name):  # "frames/%06d.png": every file of it, as one stream
        return sequence.open_sequence(spec, rate, lambda container: _read(container, spec, "sequence", threads, planes))
    kind = "image" if Path(spec).suffix.lower() in IMAGE_EXTENSIONS else "video"
    check_file(spec)
    try:
        container = av.open(spec, options={"framerate": str(rate)} if kind == "image" else {})
    except av.FFmpegError as e:
        raise SourceError(open_error(spec, e)) from None
    return _read(container, spec, kind, threads, planes)


def _read(container: av.container.InputContainer, spec: str, kind: str, threads: int, planes: bool) -> VideoSource:
    """The source reading an open container; the container is closed when that fails."""
    try:
        return VideoSource(container, spec, kind, threads, planes)
    except BaseException:
        container.close()
        raise


class VideoSource:
    """An open input. Use as a context manager; iterate items() once, or take stills instead (media/stills.py
    seeks `container`'s `video` stream, whose duration is `declared_end`, and gives the frames through convert)."""

    def __init__(self, container: av.container.InputContainer, spec: str, kind: str, threads: int,
                 planes: bool = False) -> None:
        self.spec = spec
        self._planes = planes
        self.is_live = False
        self.warnings: list[str] = []
        self.truncated = False
        self.frames_decoded = 0
        self.packets_corrupt = 0
        self.container = container
        self.video = pick_video_stream(container, spec)
        self.video.thread_type = "AUTO"
        self.video.thread_count = threads
        rate = self.video.average_rate or self.video.guessed_rate
        self.declared_end = declared_duration(self.video)
        self.account = InputAccount(float(1 / rate) if rate else 0.0, self.video.frames or None, self.declared_end)
        self._sides = [s for s in container.streams if s.type in ("audio", "subtitle") and codec_name(s)]
        keep = {self.video.index, *(s.index for s in self._sides)}
        for s in container.streams:
            if s.index not in keep:
                s.discard = "all"
        self._events = self._demux()
        self.iterated = False
        self._pending: deque[av.VideoFrame | Packet] = deque()
        first = self._peek_first_frame()
        self._setup_picture(first, kind)
        self.info = describe_input(container, self.video, first, spec=spec, kind=kind,
                                   fallback_matrix=self._fallback_matrix, swap=self._swap,
                                   declared_end=self.declared_end, rotation=self.rotation, turn=self._turn,
                                   sides=self._sides)
        self._sizes = SizeKeeper(self.info["width"], self.info["height"])
        self.side_buffers = [s.codec_context.extradata or b"" if s.codec_context else b"" for s in self._sides]

    # ------------------------------------------------------------------------------------------ public
    def items(self) -> Iterator[Frame | Packet]:
        """Frames (upright RGB) and side-stream packets in demux order; stops early on a damaged file."""
        if self.iterated:
            raise RuntimeError("VideoSource.items() can only be iterated once")
        self.iterated = True
        while self._pending:
            yield self.convert(self._pending.popleft())
        for event in self._events:
            yield self.convert(event)
        self._check_complete()

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ decoding
    def _demux(self) -> Iterator[av.VideoFrame | Packet]:
        video = self.video
        try:
            for packet in self.container.demux(video, *self._sides):
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
            self.account.read_error(error_line(e))
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

    def convert(self, event: av.VideoFrame | Packet) -> Frame | Packet:
        if isinstance(event, Packet):
            return event
        self.frames_decoded += 1
        matrix, color_range = planes.decode_params(event, self._fallback_matrix)
        duration = event.duration or None
        time_base = event.time_base or self.video.time_base
        seconds = None if event.pts is None else float(event.pts * time_base)
        self.account.frame(seconds, float(duration * time_base) if duration else None)
        fmt = event.format.name
        if self._planes and (planes.native_format(fmt) or (planes.is_yuv(fmt) and planes.bit_depth(fmt) > 8)):
            return Frame(event.pts, time_base, None, duration, planes=self._native(event, matrix, color_range, seconds))
        deep = self._planes and planes.bit_depth(fmt) > 8  # deep RGB (PNG 16, gbrp10): uint16, no matrix
        rgb = planes.frame_to_rgb(event, matrix, color_range, deep=deep)
        if self._turn is not None:
            rgb = orientation.upright(rgb, self._turn)
        rgb = self._sizes.fit(rgb, self.frames_decoded - 1, seconds)  # a size change mid-file: scaled
        return Frame(event.pts, time_base, rgb, duration)

    def _native(self, event: av.VideoFrame, matrix: int, color_range: int, seconds: float | None) -> Planes:
        """4:2:0 planes, upright, at the first frame's size (deep 4:2:2 / 4:4:4 YUV: as 10-bit 4:2:0)."""
        w, h = (event.height, event.width) if self._swap else (event.width, event.height)
        fmt = planes.native_format(event.format.name) or "yuv420p10le"
        if self._sizes.seen(w, h, self.frames_decoded - 1, seconds) or fmt != event.format.name:
            event = event.reformat(width=self.info["coded_width"], height=self.info["coded_height"], format=fmt,
                                   interpolation=planes.BICUBIC)
        picture = planes.from_frame(event, matrix, color_range)
        if self._turn is not None:
            picture.data = [orientation.upright(p, self._turn) for p in picture.data]
        return picture

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
        self.rotation, self._turn = orientation.read(first)  # a phone's display matrix: turned upright
        self._swap = self._turn in orientation.SWAPS
        cc = self.video.codec_context
        if cc.color_trc in colors.HDR_TRANSFERS or first.color_trc in colors.HDR_TRANSFERS:
            self.warnings.append("HDR input (%s): frames are passed on without tone mapping"
                                 % colors.TRANSFERS[max(cc.color_trc, first.color_trc)])

# ---------------------------------------------------------------------------------------------- helpers
def _side_packet(packet: av.Packet) -> Packet:
    return Packet(packet.stream.index, packet.pts, packet.dts, packet.duration or None,
                  packet.time_base, bool(packet.is_keyframe), bytes(packet))
