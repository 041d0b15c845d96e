"""A live recording cut into files (SegmentSink, the same calls as sink.VideoSink).

A new file starts with the first frame whose pts reaches the next boundary (first frame + k * segment_s on the
stream's timeline, so an outage does not shift the grid), on a frame that carries new_segment=True, or when the
frame size changes. Each segment is a complete sink.VideoSink: its own encoder, so it starts with a keyframe (IDR)
and decodes on its own; crash-safe while written; closed (encoder drained, trailer written) in a background thread
so the next segment starts at once (`on_segment(info)` is called from that thread when a file is done). Timestamps
restart near 0 in every segment (frame pts minus the segment's first frame pts; audio shifted by the same amount:
audio from past the boundary waits for the next segment, and what would land before 0 there - at most the one
frame interval between the boundary and that segment's first frame - is dropped and counted), so each file plays
from 0 like a normal recording; the file name carries the start time. Names: time.strftime(pattern) at the
segment's first frame, in local time; with write_frame(..., captured_at=frame.captured_at) the capture time rather
than the write time. A name already used (or, without overwrite, already on disk) gets "-1", "-2", ... before the
extension. strftime codes in the folder part create folders (recordings/%Y-%m-%d/cam-%H%M%S.mp4).
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

import numpy as np

from .encode_options import EncodeOptions, SinkError
from .frames import Planes
from .image_sink import rgb8
from .inner_sink import InnerSink
from .output_file import partial_path
from .output_path import VIDEO_CONTAINERS, check_folder
from .packets import Packet

logger = logging.getLogger(__name__)

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
            check_folder(folder)
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
        self._sink: InnerSink | None = None
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

    def write_frame(self, rgb: np.ndarray | Planes, pts: int | None, time_base: Fraction, duration: int | None = None,
                    *, new_segment: bool = False, captured_at: float | None = None) -> None:
        """Encode one frame (8-bit RGB: planes converted); starts a new segment first when a boundary, new_segment or
        a new size says so."""
        rgb = rgb8(rgb)
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
            self._rotate(t, size, captured_at)
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
    def _rotate(self, t: Fraction, size: tuple[int, int], captured_at: float | None) -> None:
        old, old_info = self._sink, self._current
        if self._origin is None or size != self._size:
            self._origin = t  # a new size restarts the grid
        seg = Fraction(self.segment_s).limit_denominator(1000)
        k = (t - self._origin) // seg
        self._boundary = self._origin + (k + 1) * seg
        self._start, self._size = t, size
        path = self._name(captured_at)
        self._current = SegmentInfo(path, float(t))
        self.segments.append(self._current)
        self._sink = InnerSink(path, self.info, self.side_buffers, self.options, overwrite=self.overwrite)
        logger.info("segment %s starts at %.3f s", path, float(t))
        if old is not None:
            self._finish(old, old_info, background=True)
        pending, self._pending = self._pending, []
        for packet in pending:
            self._write_side(packet)

    def _name(self, captured_at: float | None) -> str:
        now = time.time() if captured_at is None else time.time() - (time.monotonic() - captured_at)
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

    def _finish(self, sink: InnerSink, info: SegmentInfo, background: bool = False) -> None:
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
