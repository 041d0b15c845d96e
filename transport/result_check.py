"""Is a result the answer to the frame it claims to answer? The dispatcher's check of a remote worker's result
before the frame counts as done (docs/protocol.md, "Results path").

A worker answers a frame `w`×`h` with a tightly packed rgb24 frame `4w`×`4h` (or the `out` size it was asked
for) carrying the same `seq`, `pts`, `tb` and the optional `seg` / `dur` / `out` / `cmp` it was sent (`wall`, a
float for latency only, is not compared). The message itself has already passed protocol.unpack, so the fields
have the right types and the plane fits the header.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from . import protocol

logger = logging.getLogger(__name__)
COPIED = ("seq", "pts", "tb", "seg", "dur", "out", "cmp")  # header fields a result repeats exactly


def mismatch(sent_header: Any, result: protocol.Message) -> str | None:
    """Why `result` (a validated FRAME message) is not the answer to the frame whose header part was
    `sent_header` (the JSON bytes the dispatcher sent); None when it is."""
    try:
        sent = json.loads(bytes(sent_header))
        want_w, want_h = sent["out"] if "out" in sent else (4 * sent["w"], 4 * sent["h"])
    except (ValueError, KeyError, TypeError):  # our own message: cannot happen, but never trust blindly
        return "the frame it answers cannot be read back"
    got = result.header
    if (got["w"], got["h"]) != (want_w, want_h):
        return f"{got['w']}x{got['h']}, not {want_w}x{want_h}"
    if got["fmt"] != "rgb24":
        return f"pixel format {got['fmt']!r}, not 'rgb24'"
    stride = 3 * want_w
    if got["strides"] != [stride] or result.buffers[0].nbytes != stride * want_h:
        return (f"a plane of {result.buffers[0].nbytes} bytes with stride {got['strides'][0]}, "
                f"not {stride * want_h} bytes with stride {stride}")
    for name in COPIED:
        if sent.get(name) != got.get(name):  # absent on both sides is equal
            return f"{name} {got.get(name)!r}, not {sent.get(name)!r}"
    return None
