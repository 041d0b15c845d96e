"""Write enhanced frames (YUV planes or RGB) to a video file (mp4/mov/mkv/webm), an image or an image sequence,
and remux the source's audio and subtitle packets into the video file untouched.

    kind = check_output_path("out.mp4", overwrite=False, options=opts)     # before any work
    with open_sink("out.mp4", info, side_buffers, opts) as sink:            # info/side_buffers: VideoSource's
        sink.write_packet(packet)                                          # may come before the first frame
        sink.write_frame(rgb, pts, time_base)                              # size fixed by the first frame

Timing: output pts = input pts moved onto one output timeline (timeline.py: the earliest start of the
written streams becomes 0, every stream keeps its offset; the encoder runs in the source's time base), so
VFR stays VFR and audio stays in sync; MP4/MOV edit lists keep late starts and codec priming. A missing pts
continues from the previous frame; a pts that does not increase is bumped by one tick (`pts_fixed`).

Colour: BT.709 when the output is HD (width >= 1280 or height >= 720), else BT.601, BT.2020 kept for a BT.2020
source, tv range; matrix, range, primaries and transfer tagged in the stream (video_stream.py), HDR mastering
metadata passed on (hdr.py). YUV planes in that matrix and the output's pix_fmt are encoded as they are; RGB is
converted (planes.py). pix_fmt "auto": yuv420p10le for a source of more than 8 bits, else yuv420p.

Interruptions: what was muxed survives a crash, even SIGKILL (fragmented MP4, Matroska clusters, each packet
flushed: mux_options.py); close(), also on exceptions and Ctrl-C, drains the encoder and writes the trailer.

Safety (output_file.py): a file is written as NAME.partial.EXT, locked against a second writer, and renamed
to NAME when close() succeeds; a crash or a failed write (disk full: SinkError, one line) leaves the partial
file and never the output's name on a cut file. Options: encode_options.py; images: image_sink.py; audio and
subtitles: side_streams.py.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from . import planes
from .encode_options import EncodeOptions, SinkError
from .frames import Planes, ffmpeg_error_line
from .image_sink import ImageSink, rgb8
from .mux_options import muxer_options
from .output_file import OutputFile, write_error
from .output_path import VIDEO_CONTAINERS, check_output_path
from .packets import Packet
from .plane_resample import convert
from .side_streams import SidePackets, rescale
from .timeline import Timeline
from .video_stream import add_stream, plan_stream

logger = logging.getLogger(__name__)


def open_sink(path: str | os.PathLike, info: dict[str, Any], side_buffers: list[bytes],
              options: EncodeOptions | None = None, *, overwrite: bool = False,
              start_number: int | None = None) -> VideoSink | ImageSink:
    """Open an output for the source described by info/side_buffers (VideoSource.info / .side_buffers).
    start_number: the first number of an image-sequence output (default: the input sequence's, else 1)."""
    options = options or EncodeOptions()
    kind = check_output_path(path, overwrite, options)
    if kind == "video":
        return VideoSink(os.fspath(path), info, side_buffers, options, overwrite=overwrite)
    return ImageSink(os.fspath(path), kind, info, overwrite=overwrite, start_number=start_number)


class VideoSink:
    """A video file being written. Use as a context manager (close() drains the encoder, writes the trailer).

    The muxer comes from the file extension, with crash-safe options (see above); the file is written as
    NAME.partial.EXT and renamed at close (output_file.py); an existing file is only replaced with overwrite.
    Inside another sink (a push's connection, a chunk, a segment): inner_sink.InnerSink."""

    def __init__(self, path: str, info: dict[str, Any], side_buffers: list[bytes], options: EncodeOptions, *,
                 overwrite: bool = False) -> None:
        self.path, self.info, self.options = path, info, options
        self.format, self._container_options = self._muxer()
        self.warnings: list[str] = []
        self.frames_written = 0
        self.pts_fixed = 0
        self._out: av.container.OutputContainer | None = None
        self._video: av.VideoStream | None = None
        self._size: tuple[int, int] | None = None  # (height, width) of the frames we are given
        self._last_pts: int | None = None
        self._step: int | None = None
        self._last_step = 1
        self._closed = False
        self._started = False
        self._sides = SidePackets(self.format, info.get("side_streams", []), side_buffers, self.warnings)
        self.timeline = Timeline.from_info(info, keep=self._sides.routes) if "is_live" in info else Timeline()
        self._failed = False  # a write failed: the file is kept under its partial name, never renamed
        self._file = self._reserve(overwrite)  # last: nothing to undo after it

    # ------------------------------------------------------------------------------------------ public
    def write_frame(self, rgb: np.ndarray | Planes, pts: int | None, time_base: Fraction,
                    duration: int | None = None, *, new_segment: bool = False,
                    captured_at: float | None = None) -> None:
        """Encode one H x W x 3 RGB frame (uint8; uint16 rounded to 8 bits, rgb8) or YUV planes (as they are when they
        have the output's pix_fmt and matrix); pts/duration in time_base (None: continue the sequence). new_segment /
        captured_at (live frames): accepted for a uniform call with live_sink's sinks, ignored here (one file has one
        size)."""
        if not isinstance(rgb, Planes):
            rgb = rgb8(rgb)  # checked before anything is opened
        size = (rgb.height, rgb.width) if isinstance(rgb, Planes) else rgb.shape[:2]
        if self._out is None:
            self._start(size[0], size[1], Fraction(time_base))
        if size != self._size:
            raise SinkError(f"frame {self.frames_written} is {size[1]}x{size[0]} but the output is "
                            f"{self._size[1]}x{self._size[0]}")
        tb = self._video.codec_context.time_base
        pts = self.timeline.shift(pts, Fraction(time_base))
        pts = self._next_pts(None if pts is None else rescale(pts, Fraction(time_base), tb))
        if isinstance(rgb, Planes) and self._pad == (0, 0) and self._pix_fmt in ("yuv420p", "yuv420p10le"):
            frame = planes.to_frame(convert(rgb, self._pix_fmt, self._matrix))  # itself when it is that already
        else:  # RGB, or planes of odd sizes / for 4:2:2, 4:4:4, RGB outputs: through 8-bit RGB as before
            rgb = rgb8(rgb) if isinstance(rgb, Planes) else rgb  # RGB was made 8-bit above
            if self._pad != (0, 0):
                rgb = np.pad(rgb, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
            frame = planes.rgb_to_frame(rgb, self._pix_fmt, self._matrix)
        frame.color_primaries, frame.color_trc = self._primaries, self._transfer
        frame.pts, frame.time_base = pts, tb
        if duration:
            frame.duration = rescale(duration, Fraction(time_base), tb)
        for packet in self._video.encode(frame):
            self._mux(packet)
        self.frames_written += 1

    def write_packet(self, packet: Packet) -> None:
        """Remux (or, where the container cannot take its codec, re-encode) one side-stream packet: held until
        the first video frame opens the output (side_streams.py SidePackets)."""
        self._sides.put(packet, self.timeline.packet)

    @property
    def written_to(self) -> str:
        """The file that holds what was written: the output, or its partial file when closing failed."""
        return self._file.written_to

    def close(self) -> None:
        """Drain the encoder, write the trailer and (a file) rename it into place. Safe to call twice; runs
        on exceptions via __exit__. A failed write leaves the partial file and raises SinkError."""
        if self._closed:
            return
        self._closed = True
        if self._out is None:
            self._file.discard()
            if self._sides.pending:
                self.warnings.append(f"no video frames arrived; {self.path} was not written")
            return
        try:
            try:
                if not self._failed:
                    for packet in self._video.encode():
                        self._mux(packet)
                    for packet in self._sides.flush():
                        self._mux(packet)
            finally:
                self._out.close()  # writes the trailer if anything was muxed; no file otherwise
        except BaseException as e:
            self._file.keep()  # what was written stays in the partial file
            if isinstance(e, OSError):
                self._failed = True
                raise SinkError(self._write_error(e) or f"cannot finish {self.path}: {ffmpeg_error_line(e)}") from None
            raise
        if self._failed:
            self._file.keep()
            return
        if self._started:
            self._file.commit()
        else:
            self._file.discard()

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # already failing: still try to leave a playable file, but keep the original error
            self.close()
        except Exception as e:  # noqa: BLE001
            logger.warning("closing %s after an error failed too: %s", self.path, e)

    # ------------------------------------------------------------------------------------------ internals
    def _muxer(self) -> tuple[str, dict[str, str]]:
        """The muxer and its options: from the file extension, crash-safe (mux_options.py)."""
        name = VIDEO_CONTAINERS[Path(self.path).suffix.lower()]
        return name, muxer_options(name)

    def _reserve(self, overwrite: bool) -> OutputFile:
        """The file the muxer writes (output_file.py)."""
        return OutputFile(self.path, overwrite)

    def _start(self, height: int, width: int, time_base: Fraction) -> None:
        """The first frame fixes the size: the stream is planned and added (video_stream.py), the file opened."""
        self._size = (height, width)
        p = plan_stream(self.info, self.options, height, width, time_base, self.warnings)
        self._pix_fmt, self._pad, self._matrix, self._step = p.pix_fmt, p.pad, p.matrix, p.step
        self._primaries, self._transfer = p.primaries, p.transfer
        self._out = av.open(self._file.partial, "w", format=self.format, container_options=self._container_options)
        try:
            self._video = add_stream(self._out, self.options, p, self.info.get("hdr"))
            self._sides.open(self._out)
        except (av.FFmpegError, ValueError) as e:
            out, self._out = self._out, None
            out.close()
            raise SinkError(f"cannot set up {self.path}: {ffmpeg_error_line(e)}") from None
        self._sides.start(self._mux)

    def _mux(self, packet: av.Packet) -> None:
        # The header is written with the first packet in hand: an MP4 in hybrid_fragmented mode whose
        # trailer is written without a single packet crashes FFmpeg 8.1 (segfault), so never start early.
        if not self._started:
            try:
                self._out.start_encoding()
            except (av.FFmpegError, ValueError) as e:
                raise SinkError(self._write_error(e) or f"cannot write {self.path}: {ffmpeg_error_line(e)}") from None
            self._started = True
        try:
            self._out.mux(packet)
        except OSError as e:
            message = self._write_error(e)
            if message is None:
                raise
            raise SinkError(message) from None

    def _write_error(self, e: BaseException) -> str | None:
        """One line for a failed write of the output (disk full, ...), or None for other errors. A failed
        write is final: the file is not renamed into place (output_file.py)."""
        message = write_error(e, self.path, self.frames_written, self._file.partial)
        if message is not None:
            self._failed = True
            self._file.keep()
        return message

    def _next_pts(self, pts: int | None) -> int:
        last = self._last_pts
        if pts is None:  # one frame after the previous (by the frame rate, else the last frame's length)
            pts = 0 if last is None else last + (self._step or self._last_step)
        elif last is not None and pts <= last:
            self.pts_fixed += 1
            pts = last + 1
        if last is not None:
            self._last_step = pts - last
        self._last_pts = pts
        return pts
