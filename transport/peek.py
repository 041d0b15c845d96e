"""A look at a message's header without validating it: what a node needs to answer a message that failed
protocol.unpack (did it take a credit? which version and frame does the error reply name?). Valid messages are
read with protocol.unpack only.

    kind = peek_kind(parts)        # None when the header is not a JSON object with a string "kind"
"""

from __future__ import annotations

import json
from typing import Any

from . import protocol


def peek_header(parts: list[Any]) -> dict:
    """The JSON object in frame 0, or {} (not JSON, not an object, too large, no frames)."""
    try:
        raw = parts[0].bytes if hasattr(parts[0], "bytes") else bytes(parts[0])
        if len(raw) > protocol.MAX_HEADER_BYTES:
            return {}
        header = json.loads(raw)
        return header if isinstance(header, dict) else {}
    except (ValueError, RecursionError, IndexError):
        return {}


def peek_kind(parts: list[Any]) -> str | None:
    kind = peek_header(parts).get("kind")
    return kind if isinstance(kind, str) else None


def peek_version(parts: list[Any]) -> int:
    """The version a client speaks (answers go back in it), this node's own when it is not one we speak."""
    v = peek_header(parts).get("v")
    return v if type(v) is int and v in protocol.VERSIONS else protocol.PROTOCOL_VERSION


def peek_seq(parts: list[Any]) -> int | None:
    """The frame a bad message claims to be, for the ERROR that answers it; None when it names none."""
    seq = peek_header(parts).get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq < 2**62 else None
