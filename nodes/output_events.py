"""What a live run's outputs tell the launcher besides the encoder's progress (nodes/encoder.py): each --segment
file as it is closed (appended from the sink's closing thread) and a push output's state every few seconds, as
their own status events (Segment, Push). A file output has neither."""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from ..transport.status import Every, Push, Segment
from .node import Reporter

logger = logging.getLogger(__name__)


class OutputEvents:
    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.segments: deque[Any] = deque()  # SegmentInfo of closed segments (appended by the sink's closing threads)
        self.push_every = Every()

    def report(self, sink: Any, final: bool = False) -> None:
        """Segment files closed since the last call, and (when due, or `final`) a push output's state."""
        while self.segments:
            seg = self.segments.popleft()
            self.reporter.status(Segment(path=seg.path, start=seg.start, frames=seg.frames, error=seg.error))
        if (self.push_every.due() or final) and sink is not None and hasattr(sink, "stats"):  # only a PushSink's
            self.reporter.status(Push(**sink.stats()))
