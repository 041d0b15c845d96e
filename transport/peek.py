"""A look at a message's header without validating it, and what the answer to a refused message takes from a
header (did it take a credit? which version and frame does the error reply name?). Messages are read with
protocol.unpack; these only serve the ones refused.

    kind = peek_kind(parts)        # None when the header is not a JSON object with a string "kind"
    seq = claimed_seq(peek_header(parts))   # what an ERROR answering it names
"""

from __future__ import annotations

from typing import Any

from . import protocol


def peek_header(parts: list[Any]) -> dict:
    """The JSON object in frame 0 (protocol.read_header), or {} (not JSON, not an object, too large, no frames)."""
    try:
        return protocol.read_header(parts)
    except protocol.ProtocolError:
        return {}


def peek_kind(parts: list[Any]) -> str | None:
    kind = peek_header(parts).get("kind")
    return kind if isinstance(kind, str) else None


def answer_version(header: dict) -> int:
    """The version a client speaks (answers go back in it), this node's own when it is not one we speak."""
    v = header.get("v")
    return v if type(v) is int and v in protocol.VERSIONS else protocol.PROTOCOL_VERSION


def claimed_seq(header: dict) -> int | None:
    """The frame a bad message claims to be, for the ERROR that answers it; None when it names none."""
    seq = header.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq < 2**62 else None
