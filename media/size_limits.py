"""How big an input frame can be: checked when the input is opened, before any frame is upscaled.

An 8192x8192 input has a 32768x32768 4x output: 3.2 GB per RGB frame, and no H.264 encoder takes it
(libx264 stops at 16384 px per side; H.264 levels at 8192x4320). Without this check the run used 6.6 GB
and then failed with a misleading message. The limits:

- the output encoder's largest picture (measured: libx264 opens 16384 px per side and refuses 16386;
  libsvtav1 16384 wide, 8704 high); other encoders: 65535 (FFmpeg's int16 picture sides in most codecs);
- memory: about a dozen 4x RGB frames are alive at once (the decoder's window, a worker's batch, the
  encoder's reorder buffer and its encoder's look-ahead), which must fit in the memory available now.

    check_frame_size(8192, 8192, codec="libx264", kind="video")   # raises FrameTooLarge (one line)
"""

from __future__ import annotations

import logging
from pathlib import Path

from .output_path import VIDEO_CONTAINERS

logger = logging.getLogger(__name__)

SCALE = 4
MAX_SIDE = {"libx264": (16384, 16384), "libsvtav1": (16384, 8704)}  # (width, height) the encoder opens
ANY_SIDE = 65535
FRAMES_ALIVE = 12  # 4x RGB frames held at once across the pipeline (a lower bound for the memory needed)


class FrameTooLarge(Exception):
    """The input's frames cannot be upscaled and written; one line that says the limit and why."""


def check_frame_size(width: int, height: int, *, codec: str | None, kind: str = "video",
                     available: int | None = None, out: tuple[int, int] | None = None) -> None:
    """Raise FrameTooLarge when a width x height input cannot be processed. codec: the output's video
    encoder (None for image outputs); available: bytes of memory free (default: MemAvailable); out: the
    output size when it is not 4x (--outscale / --size: the encoder gets that, the workers still make 4x)."""
    out_w, out_h = width * SCALE, height * SCALE
    if kind == "video" and codec is not None:
        max_w, max_h = MAX_SIDE.get(codec, (ANY_SIDE, ANY_SIDE))
        if out is not None and out != (out_w, out_h):
            if out[0] > max_w or out[1] > max_h:
                raise FrameTooLarge(f"the output size {out[0]}x{out[1]} exceeds the {max_w}x{max_h} that {codec} "
                                    "can encode; ask for a smaller one")
        elif out_w > max_w or out_h > max_h:
            fit_w, fit_h = max_w // SCALE, max_h // SCALE
            raise FrameTooLarge(
                f"input frames of {width}x{height} are too large: the {SCALE}x output {out_w}x{out_h} exceeds "
                f"the {max_w}x{max_h} that {codec} can encode; use an input of at most {fit_w}x{fit_h} "
                f"(scale it down first) or an image output")
    frame_bytes = out_w * out_h * 3
    need = frame_bytes * FRAMES_ALIVE
    free = available if available is not None else mem_available()
    if free is not None and need > free:
        raise FrameTooLarge(
            f"input frames of {width}x{height} are too large: each {SCALE}x output frame ({out_w}x{out_h}) is "
            f"{frame_bytes / 2**30:.1f} GiB and a run holds about {FRAMES_ALIVE} of them "
            f"({need / 2**30:.1f} GiB), but only {free / 2**30:.1f} GiB of memory is available")


def mem_available() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (None where there is no such file)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_for_output(width: int, height: int, output: str, codec: str, out: tuple[int, int] | None = None) -> None:
    """check_frame_size for a run's output: `codec` counts for video files and pushed streams only."""
    video = "://" in output or Path(output).suffix.lower() in VIDEO_CONTAINERS
    check_frame_size(width, height, codec=codec if video else None, kind="video" if video else "image", out=out)
