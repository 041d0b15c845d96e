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
    if got["v"] != sent.get("v"):
        return f"protocol version {got['v']}, not {sent.get('v')}"
    if got["fmt"] != sent.get("fmt"):
        return f"pixel format {got['fmt']!r}, not {sent.get('fmt')!r}"
    shapes = protocol.plane_shapes(got["fmt"], want_w, want_h)
    strides = [cols * ch * bps for _, cols, ch, bps in shapes]
    sizes = [s * rows for s, (rows, *_) in zip(strides, shapes)]
    if got["strides"] != strides or [b.nbytes for b in result.buffers] != sizes:
        join = lambda xs: "/".join(map(str, xs))  # noqa: E731
        return (f"a plane of {join(b.nbytes for b in result.buffers)} bytes with stride {join(got['strides'])}, "
                f"not {join(sizes)} bytes with stride {join(strides)}")
    if got["fmt"] in protocol.YUV_FORMATS:
        want = sent.get("ocol") or sent
        if (got["mx"], got["rng"]) != (want.get("mx"), want.get("rng")):
            return f"colour mx {got['mx']} rng {got['rng']}, not mx {want.get('mx')} rng {want.get('rng')}"
    for name in COPIED:
        if sent.get(name) != got.get(name):  # absent on both sides is equal
            return f"{name} {got.get(name)!r}, not {sent.get(name)!r}"
    return None
