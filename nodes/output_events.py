"""What a live run's outputs tell the launcher besides the encoder's progress (nodes/encoder.py): each --segment
file as it is closed (appended from the sink's closing thread) and a push output's state every few seconds, as
their own status events (Segment, Push), and live frames' latency (capture to written) for the progress. A file
output has none of these."""

from __future__ import annotations

import logging
import time
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
        self._latencies: list[float] = []  # capture → written, seconds (live inputs)

    def written(self, extra: dict[str, Any]) -> None:
        """A frame was written: a live frame's latency, from its capture time ("wall": CLOCK_MONOTONIC)."""
        if "wall" in extra:
            self._latencies.append(round(time.monotonic() - extra["wall"], 4))

    def latencies(self) -> list[float]:
        """The latencies since the last call (the newest 256), for a Progress event."""
        taken, self._latencies = self._latencies[-256:], []
        return taken

    def report(self, sink: Any, final: bool = False) -> None:
        """Segment files closed since the last call, and (when due, or `final`) a push output's state."""
        while self.segments:
            seg = self.segments.popleft()
            self.reporter.status(Segment(path=seg.path, start=seg.start, frames=seg.frames, error=seg.error))
        if (self.push_every.due() or final) and sink is not None and hasattr(sink, "stats"):  # only a PushSink's
            self.reporter.status(Push(**sink.stats()))
