"""The output's picture size: `--outscale S`, `--size WxH`, `--width W`, `--height H`.

The network always makes 4x; a smaller output is that 4x picture resampled once, on the worker (so fewer
pixels travel to the encoder). Sizes are rounded to what the output's pixel format needs (even sides for 4:2:0
and 4:2:2 widths), never above 4x the input:

    req = SizeRequest(outscale=2.0)                   # or width=1280 / height=720 / both
    req.check()                                       # SizeError for a request no input can satisfy
    w, h = req.for_input(320, 180, step=(2, 2))       # (640, 360); SizeError for this input's impossibles
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass

logger = logging.getLogger(__name__)

SCALE = 4  # what the network makes
MIN_OUTSCALE, MAX_OUTSCALE = 1.0, float(SCALE)


class SizeError(ValueError):
    """A picture size that cannot be made; one line that says why."""


@dataclass(frozen=True)
class SizeRequest:
    outscale: float | None = None  # final size = outscale x input (1..4)
    width: int | None = None  # final width (the height from the input's aspect ratio unless given too)
    height: int | None = None

    @property
    def default(self) -> bool:
        """No request: the network's 4x, as it is."""
        return self.outscale is None and self.width is None and self.height is None

    def check(self) -> None:
        """Refuse what no input can satisfy (before any process starts)."""
        if self.outscale is not None:
            if self.width is not None or self.height is not None:
                raise SizeError("--outscale and --size / --width / --height exclude each other")
            if not (isinstance(self.outscale, (int, float)) and math.isfinite(self.outscale)
                    and MIN_OUTSCALE <= self.outscale <= MAX_OUTSCALE):
                raise SizeError(f"--outscale must be a number from {MIN_OUTSCALE:g} to {MAX_OUTSCALE:g} "
                                f"(the network makes {SCALE}x), not {self.outscale!r}")
        for name, value in (("width", self.width), ("height", self.height)):
            if value is not None and value < 1:
                raise SizeError(f"the output {name} must be at least 1 pixel, not {value}")

    def for_input(self, width: int, height: int, step: tuple[int, int] = (1, 1)) -> tuple[int, int]:
        """(width, height) of the output for a width x height input; `step`: the multiples the pixel
        format needs (2, 2 for yuv420p). Raises SizeError when it cannot be made from this input."""
        sw, sh = step
        max_w, max_h = SCALE * width, SCALE * height
        if self.default:
            return max_w, max_h
        if self.outscale is not None:
            out = (_fit(self.outscale * width, sw, max_w), _fit(self.outscale * height, sh, max_h))
        elif self.width is not None and self.height is not None:
            out = (_fit(self.width, sw, max_w), _fit(self.height, sh, max_h))
        elif self.width is not None:  # the other side from the rounded one: the aspect ratio as close as can be
            w = _fit(self.width, sw, max_w)
            out = (w, _fit(w * height / width, sh, max_h))
        else:
            h = _fit(self.height, sh, max_h)
            out = (_fit(h * width / height, sw, max_w), h)
        if (self.width is not None and self.width > max_w) or (self.height is not None and self.height > max_h) \
                or out[0] > max_w or out[1] > max_h:
            raise SizeError(f"{self.describe()} is larger than {SCALE}x the {width}x{height} input "
                            f"(at most {max_w}x{max_h}: the network makes {SCALE}x)")
        asked = (self.width, self.height)
        if any(a is not None and a != o for a, o in zip(asked, out)):
            logger.info("%s rounded to %dx%d (multiples of %dx%d for the pixel format)", self.describe(), *out, *step)
        return out

    def describe(self) -> str:
        if self.outscale is not None:
            return f"--outscale {self.outscale:g}"
        if self.width is not None and self.height is not None:
            return f"--size {self.width}x{self.height}"
        return f"--width {self.width}" if self.width is not None else f"--height {self.height}"

    def fields(self) -> dict:
        return {"outscale": self.outscale, "width": self.width, "height": self.height}


def _fit(value: float, step: int, limit: int) -> int:
    """`value` rounded to the nearest multiple of `step` (at least one step), not above `limit` when a
    multiple at or under it exists."""
    n = max(1, math.floor(value / step + 0.5)) * step  # halves round up (65 -> 66), not to even
    if n > limit and limit >= step and value <= limit:
        n = (limit // step) * step
    return n


def parse_size(text: str) -> tuple[int, int]:
    """'1920x1080' -> (1920, 1080); SizeError for anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX:]\s*(\d+)\s*", text or "")
    if not m:
        raise SizeError(f"--size must be WIDTHxHEIGHT in pixels, e.g. 1920x1080, not {text!r}")
    return int(m.group(1)), int(m.group(2))


def pix_fmt_step(pix_fmt: str | None) -> tuple[int, int]:
    """(width, height) multiples a pixel format needs: (2, 2) for yuv420p, (2, 1) for yuv422p, (1, 1) for
    yuv444p, RGB and image outputs (None)."""
    if not pix_fmt:
        return 1, 1
    import av

    try:
        fmt = av.VideoFormat(pix_fmt, 4, 4)
    except (ValueError, av.FFmpegError):
        return 2, 2  # an unknown format is refused by the encoder's own check; even sides are always safe
    if len(fmt.components) < 3 or fmt.is_rgb:
        return 1, 1
    chroma = fmt.components[1]
    return 4 // max(chroma.width, 1), 4 // max(chroma.height, 1)


@dataclass(frozen=True)
class FramePlan:
    """What the decoder asks of the workers for every frame (the FRAME fields `out` and `cmp`): the output
    size for the frame's size (computed once per input size: live inputs may change it between segments) and
    whether the result is a split screen."""

    outscale: float | None = None
    width: int | None = None
    height: int | None = None
    step: tuple[int, int] = (1, 1)  # pix_fmt_step of the output
    compare: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "step", tuple(self.step))
        object.__setattr__(self, "_sizes", {})  # input size -> FRAME fields, computed once per size

    @property
    def request(self) -> SizeRequest:
        return SizeRequest(self.outscale, self.width, self.height)

    def out_size(self, width: int, height: int) -> tuple[int, int]:
        return self.request.for_input(width, height, self.step)

    def fields(self, width: int, height: int) -> dict:
        """The FRAME fields for a width x height input frame ({} for a plain 4x result); SizeError when it
        cannot be made."""
        key = (width, height)
        if key not in self._sizes:
            fields: dict = {}
            if not self.request.default:
                size = self.out_size(width, height)
                if size != (SCALE * width, SCALE * height):
                    fields["out"] = list(size)
            if self.compare:
                fields["cmp"] = True
            self._sizes[key] = fields
        return self._sizes[key]
