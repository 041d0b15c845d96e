"""How long a worker may hold frames without answering any of them, from the time answers have taken so far.

For each worker the clock runs from the moment it holds at least one frame and restarts at each answer (a
valid result, or a local worker's `done`). The longest such wait is that worker's slowest answer. A remote
worker holding frames for longer than

    max(floor_s, factor × its slowest answer so far)

loses them to the other workers (the dispatcher drops it). Before its first answer the typical answer of
the run stands in (the median of the last RECENT answers of any worker: a maximum would be ruled by start-up,
when local workers wait for the encoder to open). Before any worker has answered at all: floor_s when another
worker has credit to take the frames over, else factor × floor_s (the first batch may include the model's
warm-up, and nobody could do better). Heartbeats do not count: a worker that heartbeats but never answers is
what this catches.
"""

from __future__ import annotations

import logging
import statistics
from collections import deque

logger = logging.getLogger(__name__)
RECENT = 64  # answers of any worker that make the run's typical answer time


class AnswerClock:
    def __init__(self, floor_s: float, factor: float):
        self.floor_s = floor_s
        self.factor = factor
        self.since: dict[bytes, float] = {}  # worker -> since when it has held frames without answering
        self.slowest: dict[bytes, float] = {}  # worker -> its longest wait for an answer so far
        self.recent: deque[float] = deque(maxlen=RECENT)  # the last waits for an answer, any worker

    def sent(self, worker: bytes, now: float, idle: bool) -> None:
        """A frame went to `worker`: its clock starts, unless it already held frames (then it keeps running)."""
        if idle:
            self.since[worker] = now
        else:
            self.since.setdefault(worker, now)

    def answered(self, worker: bytes, now: float, still_holding: bool) -> None:
        start = self.since.pop(worker, None)
        if start is not None:
            self.slowest[worker] = max(self.slowest.get(worker, 0.0), now - start)
            self.recent.append(now - start)
        if still_holding:
            self.since[worker] = now

    def forget(self, worker: bytes) -> None:
        self.since.pop(worker, None)
        self.slowest.pop(worker, None)

    def limit(self, worker: bytes, others_free: bool) -> float:
        """Seconds `worker` may hold frames without answering; `others_free`: another worker has credit."""
        if worker in self.slowest:
            return max(self.floor_s, self.factor * self.slowest[worker])
        if self.recent:
            return max(self.floor_s, self.factor * statistics.median(self.recent))
        return self.floor_s if others_free else self.factor * self.floor_s

    def overdue(self, holders: list[bytes], credits: dict[bytes, int], now: float) -> list[tuple[bytes, float, float]]:
        """(worker, seconds waited, limit) for each of `holders` past its limit (none when floor_s is 0)."""
        if self.floor_s <= 0:
            return []
        late = []
        for w in holders:
            start = self.since.get(w)
            if start is None:
                continue
            allowed = self.limit(w, any(c > 0 for o, c in credits.items() if o != w))
            if now - start > allowed:
                late.append((w, now - start, allowed))
        return late
