"""One picture size per output: a file whose resolution changes mid-stream (an MPEG-TS concatenation, a
broadcast switching formats) is scaled to the size of its first frame, as live mode does for cameras.

    keep = SizeKeeper(width, height)        # the first frame's upright size
    rgb = keep.fit(rgb, index, seconds)     # as it is, or scaled to width x height
    keep.warning()                          # one line naming the frame where the size changed, or None
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)


class SizeKeeper:
    def __init__(self, width: int, height: int) -> None:
        self.size = (width, height)
        self.changes: list[tuple[int, float | None, tuple[int, int]]] = []  # (frame, seconds, new size)
        self.scaled = 0
        self._current = self.size

    def seen(self, width: int, height: int, index: int, seconds: float | None = None) -> bool:
        """Note a frame's upright size; True when it must be scaled to the first frame's (counted)."""
        size = (width, height)
        if size != self._current:
            self._current = size
            self.changes.append((index, seconds, size))
            logger.info("frame %d: the picture size changed to %dx%d", index, *size)
        if size == self.size:
            return False
        self.scaled += 1
        return True

    def fit(self, rgb: np.ndarray, index: int, seconds: float | None = None) -> np.ndarray:
        size = (rgb.shape[1], rgb.shape[0])
        if not self.seen(size[0], size[1], index, seconds):
            return rgb
        import cv2  # only for a file whose size changes: readers start without OpenCV

        shrink = size[0] * size[1] > self.size[0] * self.size[1]
        return cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)

    def warning(self) -> str | None:
        if not self.changes:
            return None
        index, seconds, size = self.changes[0]
        at = f" ({seconds:.2f} s)" if seconds is not None else ""
        more = f", {len(self.changes) - 1} more change(s) after it" if len(self.changes) > 1 else ""
        return (f"the picture size changes mid-file: {size[0]}x{size[1]} from frame {index}{at}{more}; "
                f"{self.scaled} frame(s) scaled to the first frame's {self.size[0]}x{self.size[1]}")
