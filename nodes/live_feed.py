"""The decoder's side of a live input (media/live_source.py: a camera, a stream): the newest frame whenever a
worker has room (older ones count as dropped there), a frame that waited past --max-latency dropped here, audio
and subtitle packets passed on at once, and the input's state reported twice a second. nodes/decoder.py uses it
for live inputs only; a file is read item by item."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from ..media.frames import Frame, SourceError
from ..media.packets import Packet
from ..transport.status import Every, Live
from . import exitcodes
from .node import NodeError, Reporter

logger = logging.getLogger(__name__)
REPORT_S = 0.5


class LiveFeed:
    def __init__(self, src: Any, max_latency_s: float | None, reporter: Reporter, camera: bool = True) -> None:
        self.src, self.reporter = src, reporter
        self.camera = camera  # read as a camera (pump); else item by item like a file, every frame
        self.max_latency = max_latency_s or float("inf")
        self.latency_drops = 0
        self.every = Every(REPORT_S)

    @classmethod
    def of(cls, src: Any, max_latency_s: float | None, forced: bool | None, reporter: Reporter) -> LiveFeed | None:
        """The feed of a live input, None for a file. A finite "live" input (a file over HTTP, HLS VOD) is read
        like a file, every frame, unless --live (forced True); --no-live (forced False) reads any like a file."""
        if not getattr(src, "is_live", False):
            return None
        camera = forced is not False and not (src.info.get("finite") and forced is not True)
        return cls(src, max_latency_s, reporter, camera)

    def pump(self, room: Callable[[], bool], send_frame: Callable[[Frame], None],
             send_packet: Callable[[Packet], None]) -> bool:
        """Packets first (audio never waits for worker credit), then frames while `room()`; True once the input
        has ended."""
        try:
            for pkt in self.src.take_packets():
                send_packet(pkt)
            while room():
                frame = self.src.latest(timeout=0.02)  # the newest frame; older ones count as dropped
                if frame is None:
                    return self.src.ended
                if time.monotonic() - frame.captured_at > self.max_latency:
                    self.latency_drops += 1  # waited too long for a worker: would break the latency bound
                    continue
                send_frame(frame)
        except SourceError as exc:
            raise NodeError(str(exc), exitcodes.INPUT) from None
        return False

    def report(self, sent: int, final: bool = False) -> None:
        """The input's state (frames in, drops, reconnects) every REPORT_S, and once more at the end."""
        if final or self.every.due():
            self.reporter.status(Live(**self.src.stats(), latency_dropped=self.latency_drops, sent=sent, final=final))


def live_fields(frame: Frame) -> dict[str, Any]:
    """A FRAME message's fields from a live frame (none from a file's): its capture time, "wall" (CLOCK_MONOTONIC,
    shared by local processes: the encoder measures the latency), and "seg" on the first frame of a new resolution
    (a segment output starts a new file there)."""
    extra: dict[str, Any] = {}
    if getattr(frame, "captured_at", None) is not None:
        extra["wall"] = frame.captured_at
    if getattr(frame, "new_segment", False):
        extra["seg"] = True
    return extra
