"""Colour tags shared by the source and the sink: FFmpeg's colour enums by name, and the YUV matrix and range to
use when a stream declares none. The conversions themselves (swscale, per frame) are planes.py's.

The rule for untagged video is the one players use: BT.601 for SD, BT.709 for HD (width >= 1280 or
height >= 720, so a 1280x536 cinemascope crop counts as HD). Single images (JPEG, WebP) are BT.601
whatever their size, as JFIF says. Ranges default to "tv" (limited) except for the yuvj* formats.

The sink writes with the same rule applied to the output size and tags what it wrote, so a player that
honours tags and a player that guesses from the size both show the right colours.
"""

from __future__ import annotations

import logging
from typing import Any

import av

from . import planes

logger = logging.getLogger(__name__)

# FFmpeg's AVColorPrimaries / AVColorTransferCharacteristic / AVColorSpace / AVColorRange values, named
# as `ffprobe` names them. These numbers are part of FFmpeg's ABI (and of H.264/HEVC VUI).
PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film", 9: "bt2020",
             10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213"}
TRANSFERS = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear", 9: "log100",
             10: "log316", 11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1", 14: "bt2020-10",
             15: "bt2020-12", 16: "smpte2084", 17: "smpte428", 18: "arib-std-b67"}
MATRICES = {0: "gbr", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "ycgco",
            9: "bt2020nc", 10: "bt2020c", 11: "smpte2085", 14: "ictcp"}
RANGES = {1: "tv", 2: "pc"}
HDR_TRANSFERS = frozenset({16, 18})  # PQ and HLG: passed through without tone mapping

_MATRIX_ID = {"bt709": 1, "bt601": 6, "smpte170m": 6, "bt470bg": 5, "bt2020nc": 9}

BT709, BT601 = 1, 6  # AVColorSpace ids this module writes: bt709 and smpte170m (BT.601 525)

def is_hd(width: int, height: int) -> bool:
    """The size at which players switch their untagged-video guess from BT.601 to BT.709."""
    return width >= 1280 or height >= 720


def default_matrix(width: int, height: int, *, image: bool = False) -> int:
    """AVColorSpace id to assume for an untagged YUV picture of this (coded) size."""
    return BT709 if is_hd(width, height) and not image else BT601


def output_matrix(width: int, height: int, source_matrix: int | None, option: str = "auto") -> int:
    """The matrix an output of this size is written with: `option` when it names one; "auto": BT.2020 for a
    BT.2020 source (HDR10 and HLG stay BT.2020), else by size (BT.709 for HD, BT.601 for SD)."""
    if option != "auto":
        return matrix_id(option)
    if source_matrix in (9, 10):
        return 9
    return default_matrix(width, height)


def matrix_id(name: str) -> int:
    """AVColorSpace id for "bt709", "bt601"/"smpte170m", "bt470bg" or "bt2020nc"."""
    try:
        return _MATRIX_ID[name]
    except KeyError:
        raise ValueError(f"unknown colour matrix {name!r} (use one of {', '.join(_MATRIX_ID)})") from None


def tags(primaries: int, transfer: int, matrix: int, color_range: int) -> dict[str, Any]:
    """A JSON-able description of colour tags: names (None when unspecified) and the raw FFmpeg ids."""
    return {
        "primaries": PRIMARIES.get(primaries),
        "transfer": TRANSFERS.get(transfer),
        "matrix": MATRICES.get(matrix),
        "range": RANGES.get(color_range),
        "ids": {"primaries": primaries, "transfer": transfer, "matrix": matrix, "range": color_range},
    }


def has_matrix(frame: av.VideoFrame) -> bool:
    """Whether the frame declares a YUV matrix we can use."""
    return frame.colorspace in planes.SWS_MATRIX

