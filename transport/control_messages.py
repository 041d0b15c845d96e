"""The fields of the messages around the frames, checked on a received protocol.Message (its need / count /
no_buffers / fail raise ProtocolError): end of stream, a node's fatal error, status events (their vocabulary:
status.py), the stream description and the side-stream packets. protocol.unpack runs these; frames and
credits are checked in protocol.py itself."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def eos(msg: Any) -> None:
    msg.count("frames")
    msg.no_buffers()


def error(msg: Any) -> None:
    msg.need("message", str)
    msg.no_buffers()


def status(msg: Any) -> None:
    msg.need("node", str)
    msg.need("event", str)
    msg.no_buffers()


def stream_info(msg: Any) -> None:
    msg.need("info", dict)


def packet(msg: Any) -> None:
    msg.count("stream", maximum=1024)
    for name in ("pts", "dts"):
        msg.need(name, int, optional=True)
    msg.count("duration", optional=True)
    tb = msg.need("tb", list)
    if len(tb) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in tb):
        msg.fail(f"bad time base {tb!r}")
    msg.need("key", bool)
    if len(msg.buffers) != 1:
        msg.fail("needs exactly one payload buffer")
