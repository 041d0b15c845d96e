"""Image sequence inputs ("frames/%06d.png"): find every file of the pattern and open them as one stream.

FFmpeg's image2 demuxer stops at the first missing number, so a sequence with a gap (0005.png missing of
0001..0010) would silently end after 0004. Here every file that matches is read, in numeric order; the
missing numbers are named in one warning and the images keep their order with no hole in the timing
(frame k of the output is the k-th file present):

    seq = scan("frames/%04d.png")              # SequenceFiles: numbers present, missing, warning
    container = seq.open(Fraction(25))         # image2 when complete, else FFmpeg's concat demuxer
    seq.describe(source.info, source.warnings) # frames, missing_images, start_number; the warning
    src = open_sequence("frames/%04d.png", Fraction(25), read)   # all three; read(container): the source
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, TypeVar

import av

from .frames import SourceError
from .input_checks import open_error

logger = logging.getLogger(__name__)

PATTERN = re.compile(r"%(0?\d*)d")
MAX_NAMED = 10  # missing numbers spelled out in the warning; the rest are counted
S = TypeVar("S")


class SequenceError(SourceError):
    """The pattern matches nothing or is malformed; one line for the user."""


@dataclass
class SequenceFiles:
    spec: str
    numbers: list[int]  # present, ascending

    @property
    def missing(self) -> list[int]:
        present = set(self.numbers)
        return [n for n in range(self.numbers[0], self.numbers[-1] + 1) if n not in present]

    def warning(self) -> str | None:
        """One line naming the gap(s), or None for a complete sequence."""
        missing = self.missing
        if not missing:
            return None
        name = Path(self.spec).name
        shown = ", ".join(name % n for n in missing[:MAX_NAMED])
        more = f" and {len(missing) - MAX_NAMED} more" if len(missing) > MAX_NAMED else ""
        return (f"image sequence {self.spec} has {len(missing)} missing number(s) between {self.numbers[0]} "
                f"and {self.numbers[-1]} ({shown}{more}); all {len(self.numbers)} images that exist were read in order")

    def describe(self, info: dict[str, Any], warnings: list[str]) -> None:
        """What a source reading this sequence tells: its frames, the missing images, its first number (a
        sequence output keeps the input's numbers), and the warning about any gap (first)."""
        info.update(frames=len(self.numbers), missing_images=len(self.missing), start_number=self.numbers[0])
        gap = self.warning()
        if gap:
            warnings.insert(0, gap)

    def open(self, rate: Fraction) -> av.container.InputContainer:
        """The sequence as one video stream at `rate` frames per second."""
        if not self.missing:
            return av.open(self.spec, format="image2",
                           options={"framerate": str(rate), "start_number": str(self.numbers[0])})
        duration = 1 / Fraction(rate)
        with tempfile.TemporaryDirectory(prefix="gfn-seq-") as tmp:  # the demuxer reads the list when opened
            listing = os.path.join(tmp, "list.ffconcat")
            with open(listing, "w", encoding="utf-8") as f:
                f.write("ffconcat version 1.0\n")
                for n in self.numbers:
                    path = os.path.abspath(self.spec % n).replace("'", "'\\''")
                    # framerate: each image's time base is 1/rate, so the durations add up exactly
                    f.write(f"file '{path}'\noption framerate {rate}\nduration {float(duration):.9f}\n")
            return av.open(listing, format="concat", options={"safe": "0"})


def scan(spec: str) -> SequenceFiles:
    """The files of a %d / %0Nd pattern that exist (any number of digits for %d, at least N for %0Nd)."""
    folder = Path(spec).parent
    if not folder.is_dir():
        raise SequenceError(f"image sequence folder not found: {folder}")
    parts = PATTERN.split(Path(spec).name)
    if len(parts) != 3:
        raise SequenceError(f"an image sequence pattern needs exactly one %d: {spec}")
    width = int(parts[1]) if parts[1] else 0
    digits = r"\d{%d,}" % width if width else r"\d+"
    regex = re.compile(re.escape(parts[0]) + f"({digits})" + re.escape(parts[2]) + "$")
    numbers = sorted({int(m.group(1)) for name in os.listdir(folder) if (m := regex.match(name))})
    # a name the pattern would not write back (0007 for %d, 00012 for %04d) is not part of the sequence
    numbers = [n for n in numbers if os.path.exists(os.path.join(folder, Path(spec).name % n))]
    if not numbers:
        raise SequenceError(f"no images match {spec}")
    return SequenceFiles(spec, numbers)


def open_sequence(spec: str, rate: Fraction, read: Callable[[av.container.InputContainer], S]) -> S:
    """The sequence's files as one stream at `rate`, read by `read` (source.open_source: a VideoSource, which
    closes the container when it fails), and described: frames, missing images, first number, the gap warning."""
    files = scan(spec)  # a SequenceError is a SourceError
    try:
        container = files.open(rate)  # every file, across gaps in the numbering
    except av.FFmpegError as e:
        raise SourceError(open_error(spec, e)) from None
    src = read(container)
    files.describe(src.info, src.warnings)
    return src
