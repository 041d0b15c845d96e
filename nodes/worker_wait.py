"""--worker-wait: the decoder fails the job when frames are waiting and no worker has been there for
`worker_wait_s` (longer at the start, while local workers load their model: `startup_wait_s`). The decoder
checks it every turn of its loop (nodes/decoder.py); with workers there it has nothing to do."""

from __future__ import annotations

import logging
import time
from typing import Any

from . import exitcodes
from .node import NodeError
from .settings import DecoderSettings

logger = logging.getLogger(__name__)


class NoWorkerClock:
    def __init__(self, settings: DecoderSettings):
        self.wait_s = settings.worker_wait_s
        self.start_s = max(self.wait_s, settings.startup_wait_s) if settings.local_workers else self.wait_s
        self.listen = settings.links.listen
        self.since: float | None = None
        self.ever = False

    def check(self, disp: Any, busy: bool, frames: int) -> None:
        """`disp`: the decoder's Dispatcher; `busy`: frames are waiting (unread, or out with workers)."""
        if disp.credits or not busy:
            self.ever = self.ever or bool(disp.credits)
            self.since = None
            return
        now = time.monotonic()
        if self.since is None:
            self.since = now
        allowed = self.wait_s if self.ever else self.start_s
        if now - self.since > allowed:
            where = f" (workers join with: gfn-worker dealer+connect:{self.listen})" if self.listen else ""
            raise NodeError(
                f"no worker for {allowed:g} s with frames waiting: {len(disp.inflight)} frame(s) of the "
                f"{frames} decoded so far not processed{where}",
                exitcodes.WORKER,
            )
