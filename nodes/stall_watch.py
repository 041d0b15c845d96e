"""The stall watchdog's rule (nodes/engine.py's Engine.stalled, checked by the worker's loop): when the running
batch has taken so long that the model must be hung, so the worker exits and its frames go elsewhere.

    over = overrun(started, slowest_s, floor_s=60.0, factor=20.0)   # None, or (seconds running, limit)
"""

from __future__ import annotations

import time


def overrun(started: float | None, slowest_s: float, floor_s: float, factor: float,
            now: float | None = None) -> tuple[float, float] | None:
    """(seconds running, limit) when the batch running since `started` (time.monotonic(); None: idle) has overrun
    its limit, else None.

    The limit is max(floor_s, factor x the slowest batch so far, `slowest_s`). There is none before a first batch
    has finished (its warm-up and size have no baseline: a 1080p frame tiled on a CPU takes minutes), nor with
    floor_s <= 0 (off). A hung model (a driver fault, a deadlock) keeps the worker's heartbeats going, so
    without this its frames would never come back.
    """
    if floor_s <= 0 or started is None or slowest_s <= 0:
        return None
    running = (time.monotonic() if now is None else now) - started
    limit = max(floor_s, factor * slowest_s)
    return (running, limit) if running > limit else None
