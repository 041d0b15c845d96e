"""Image outputs: one image, or a numbered image sequence ("frames/%06d.png").

    with ImageSink("out/f_%06d.png", "sequence", info, start_number=None) as sink:
        sink.write_frame(rgb)                 # out/f_000000.png when the input sequence starts at 0

Numbering: `start_number` if given, else the input image sequence's first number (info["start_number"]),
else 1 (like FFmpeg), so output frame N has the number of input frame N. Every file is encoded in memory
and written through its partial name and renamed into place (output_file.py): a full disk or a killed run
never leaves a half image under a frame's name. One run at a time writes a pattern (SequenceLock).
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from . import planes
from .encode_options import SinkError
from .frames import Planes
from .output_file import SequenceLock, write_atomically

logger = logging.getLogger(__name__)

_QUALITY = {".jpg": ["IMWRITE_JPEG_QUALITY", 95], ".jpeg": ["IMWRITE_JPEG_QUALITY", 95],
            ".webp": ["IMWRITE_WEBP_QUALITY", 95]}  # OpenCV names: cv2 is imported when an image is written


class ImageSink:
    """One image (the only frame) or a numbered image sequence; see the module docstring."""

    def __init__(self, path: str, kind: str, info: dict[str, Any], *, overwrite: bool = False,
                 start_number: int | None = None) -> None:
        self.path, self.kind = path, kind
        self.overwrite = overwrite
        self.warnings: list[str] = []
        self.frames_written = 0
        self.packets_ignored = 0
        if kind == "image" and not (info.get("is_image") and info.get("frames") in (1, None)):
            raise SinkError(f"{path} is a single image but the input is a video; use an image sequence "
                            f"like {Path(path).with_suffix('')}_%06d{Path(path).suffix} or a video file")
        first = info.get("start_number") if start_number is None else start_number
        if first is not None and (not isinstance(first, int) or isinstance(first, bool) or first < 0):
            raise SinkError(f"start number must be a whole number >= 0, not {first!r}")
        self.start_number = 1 if first is None else first
        self._lock = SequenceLock(path) if kind == "sequence" else None

    @property
    def written_to(self) -> str:
        return self.path

    def write_frame(self, rgb: np.ndarray | Planes, pts: int | None = None, time_base: Fraction | None = None,
                    duration: int | None = None, *, new_segment: bool = False,
                    captured_at: float | None = None) -> None:
        rgb = rgb8(rgb)  # RGB as it is, planes converted
        if self.kind == "image" and self.frames_written:
            raise SinkError(f"{self.path} is a single image but a second frame arrived")
        target = self.path if self.kind == "image" else self.path % (self.start_number + self.frames_written)
        import cv2

        quality = _QUALITY.get(Path(target).suffix.lower())
        ok, data = cv2.imencode(Path(target).suffix.lower(), np.ascontiguousarray(rgb[..., ::-1]),
                                [getattr(cv2, quality[0]), quality[1]] if quality else [])
        if not ok:
            raise SinkError(f"could not encode {target}")
        # a sequence's files were checked (and the pattern locked) at the start: a number is written once
        write_atomically(target, data.tobytes(), overwrite=self.overwrite or self.kind == "sequence",
                         durable=self.kind == "image")
        self.frames_written += 1

    def write_packet(self, packet: object) -> None:
        if not self.packets_ignored:
            self.warnings.append("audio and subtitles are not written to image outputs")
        self.packets_ignored += 1

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> ImageSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rgb8(picture: Planes | np.ndarray) -> np.ndarray:
    """The 8-bit RGB that RGB outputs take (images, segments, pushes; video that cannot be encoded from the
    planes): YUV planes converted, deep (uint16) RGB rounded to 8 bits, RGB checked (SinkError) and kept."""
    if isinstance(picture, Planes):
        rgb = planes.to_rgb(picture)
        return rgb if rgb.dtype == np.uint8 else np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    if isinstance(picture, np.ndarray) and picture.dtype == np.uint16:
        picture = np.clip(np.rint(picture / 257.0), 0, 255).astype(np.uint8)
    check_rgb(picture)
    return picture


def check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise SinkError(f"frames must be H x W x 3 uint8 RGB arrays, got {getattr(rgb, 'dtype', type(rgb))} "
                        f"{getattr(rgb, 'shape', '')}")
