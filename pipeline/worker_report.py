"""End-of-run warnings about the workers the dispatcher had to drop (from the decoder's "decoded" report)."""

from __future__ import annotations

import logging

from ..transport.status import Decoded

logger = logging.getLogger(__name__)


def dispatch_warnings(decoded: Decoded) -> list[str]:
    """One line per kind of misbehaving worker; nothing when every worker behaved."""
    lines = []
    bad = decoded.bad_workers
    if bad > 0:
        lines.append(f"{bad} worker connection(s) sent invalid results (wrong size, seq or fields, or 'done' without "
                     "a result) and were dropped; their frames went to the other workers")
    late = decoded.overdue_workers
    if late > 0:
        lines.append(f"{late} worker connection(s) held frames without answering past their deadline and were "
                     "dropped; their frames went to the other workers")
    return lines
