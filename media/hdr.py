"""HDR10 / HLG metadata carried from the input to the output: the mastering display (SMPTE ST 2086) and content
light level (CTA-861.3) side data of the first decoded frame, written again by the encoders that take them.

    hdr = read(first_frame)          # {"master_display": "G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)", "max_cll": "1000,400"}
    opts = encoder_options("libx265", hdr, opts)   # x265-params / x264-params / svtav1-params added

The strings use x265's units (chromaticity in 1/50000, luminance in 1/10000 cd/m2), which x264 takes too;
SVT-AV1 gets the same values as decimals. The colour tags themselves (BT.2020, PQ / HLG) are the stream's
primaries / transfer / matrix, which the writer copies from the source (sink.py).
"""

from __future__ import annotations

import logging
import struct
from fractions import Fraction
from typing import Any

import av

logger = logging.getLogger(__name__)

_MASTERING = av.sidedata.sidedata.Type.MASTERING_DISPLAY_METADATA
_LIGHT = av.sidedata.sidedata.Type.CONTENT_LIGHT_LEVEL


def read(frame: av.VideoFrame) -> dict[str, Any] | None:
    """The frame's mastering display and content light level, or None when it has neither."""
    out: dict[str, Any] = {}
    for sd in frame.side_data:
        data = bytes(sd)
        if sd.type == _MASTERING and len(data) >= 88:
            v = struct.unpack("<20i2i", data[:88])
            q = [Fraction(v[i], v[i + 1]) if v[i + 1] else Fraction(0) for i in range(0, 20, 2)]
            (rx, ry, gx, gy, bx, by, wx, wy, lo, hi), has_xy, has_l = q, v[20], v[21]
            if has_xy and has_l:
                xy = lambda *p: ",".join(str(round(c * 50000)) for c in p)  # noqa: E731
                out["master_display"] = (f"G({xy(gx, gy)})B({xy(bx, by)})R({xy(rx, ry)})WP({xy(wx, wy)})"
                                         f"L({round(hi * 10000)},{round(lo * 10000)})")
                out["mastering"] = {"red": [float(rx), float(ry)], "green": [float(gx), float(gy)],
                                    "blue": [float(bx), float(by)], "white": [float(wx), float(wy)],
                                    "min_luminance": float(lo), "max_luminance": float(hi)}
        elif sd.type == _LIGHT and len(data) >= 8:
            max_cll, max_fall = struct.unpack("<2I", data[:8])
            out["max_cll"] = f"{max_cll},{max_fall}"
    return out or None


def encoder_options(codec: str, hdr: dict[str, Any] | None, options: dict[str, str]) -> dict[str, str]:
    """`options` with the HDR metadata added for encoders that write it (x265, x264, SVT-AV1); others unchanged."""
    if not hdr:
        return options
    md, cll = hdr.get("master_display"), hdr.get("max_cll")
    if codec == "libx265":
        extra = ["hdr10=1", "repeat-headers=1"] + ([f"master-display={md}"] if md else []) + (
            [f"max-cll={cll}"] if cll else [])
        key = "x265-params"
    elif codec == "libx264":
        extra = ([f"mastering-display={md}"] if md else []) + ([f"cll={cll}"] if cll else [])
        key = "x264-params"
    elif codec == "libsvtav1" and "mastering" in hdr:
        m = hdr["mastering"]
        pt = lambda p: f"({p[0]:.4f},{p[1]:.4f})"  # noqa: E731
        extra = [f"mastering-display=G{pt(m['green'])}B{pt(m['blue'])}R{pt(m['red'])}WP{pt(m['white'])}"
                 f"L({m['max_luminance']:g},{m['min_luminance']:g})"] + ([f"content-light={cll}"] if cll else [])
        key = "svtav1-params"
    else:
        logger.info("%s does not write HDR mastering metadata: the output keeps the colour tags only", codec)
        return options
    if not extra:
        return options
    merged = dict(options)
    merged[key] = ":".join(filter(None, [merged.get(key, ""), *extra]))
    return merged
