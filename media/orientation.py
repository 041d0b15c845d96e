"""Rotated and mirrored inputs (a phone video's display matrix): how to turn the decoded picture upright,
following FFmpeg's own autorotate (fftools: get_rotation(), then transpose / hflip / vflip).

    degrees, turn = read(first_frame)       # turn: None for an upright input, else a TURNS key
    upright(picture, turn)                  # H x W (x C) array, turned; a contiguous copy
"""

from __future__ import annotations

import logging

import av
import numpy as np

logger = logging.getLogger(__name__)

TURNS = {  # how to turn a decoded H x W x 3 picture upright; named after FFmpeg's filters
    "clock": lambda a: np.rot90(a, -1),
    "cclock": lambda a: np.rot90(a, 1),
    "rotate180": lambda a: a[::-1, ::-1],
    "hflip": lambda a: a[:, ::-1],
    "vflip": lambda a: a[::-1],
    "cclock_flip": lambda a: np.swapaxes(a, 0, 1),  # = transpose
    "clock_flip": lambda a: np.swapaxes(a[::-1, ::-1], 0, 1),  # = anti-transpose
}
SWAPS = frozenset({"clock", "cclock", "cclock_flip", "clock_flip"})  # the turns that swap width and height


def upright(picture: np.ndarray, turn: str) -> np.ndarray:
    return np.ascontiguousarray(TURNS[turn](picture))


def read(frame: av.VideoFrame) -> tuple[int, str | None]:
    """(degrees CCW as the display matrix says, the TURNS key that shows the picture upright)."""
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
