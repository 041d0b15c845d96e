"""Heartbeat bookkeeping (zguide's Paranoid Pirate) and rate-limited logging of dropped messages.

Both ends send a `heartbeat` every `interval` seconds; any message from a peer counts as a sign of life, and a
peer silent for `liveness` intervals is dead: the dispatcher re-sends the frames it held, a worker closes its
socket and says hello again on a fresh one (the wait doubling up to 32 s while nobody answers).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

HEARTBEAT_S = 1.0  # seconds between heartbeats
LIVENESS = 3  # silent intervals before a peer counts as dead (3..5 is reasonable)
MAX_BACKOFF_S = 32.0  # a worker's longest wait for an answer before opening a fresh socket
MAX_PART_BYTES = (3 * 16384 + 4096) * 16384  # the largest valid plane (protocol.MAX_DIM); bigger: disconnect


@dataclass
class Heartbeat:
    """When to send the next heartbeat, and whether the peer has been silent too long."""

    interval: float = HEARTBEAT_S
    liveness: int = LIVENESS

    def __post_init__(self) -> None:
        now = time.monotonic()
        self.heard = now  # last time anything came from the peer
        self.next_beat = now + self.interval
        self.patience = self.interval * self.liveness  # how long silence may last now (grows with backoff)

    def alive(self) -> None:
        self.heard = time.monotonic()
        self.patience = self.interval * self.liveness

    def due(self) -> bool:
        """True (and schedules the next one) when a heartbeat should go out now."""
        now = time.monotonic()
        if now < self.next_beat:
            return False
        self.next_beat = now + self.interval
        return True

    def expired(self) -> bool:
        return time.monotonic() - self.heard > self.patience

    def back_off(self) -> None:
        """The peer stayed silent: start over, and wait longer (doubling, at most MAX_BACKOFF_S) next time."""
        self.heard = time.monotonic()
        self.patience = min(max(self.patience * 2, self.interval * self.liveness), MAX_BACKOFF_S)

    def wait_s(self) -> float:
        """Seconds until the next heartbeat is due (a poll timeout)."""
        return max(0.0, self.next_beat - time.monotonic())


class DropLog:
    """Count dropped messages (or refused peers); log the first few in full, then one line per `every` (a
    flood must not flood the log). `what` says what happened, e.g. "worker 1: dropped a bad message"."""

    def __init__(self, log: logging.Logger, what: str, first: int = 5, every: int = 1000):
        self.log, self.what, self.first, self.every = log, what, first, every
        self.count = 0

    def __call__(self, reason: object) -> None:
        self.count += 1
        if self.count <= self.first:
            self.log.warning("%s (%d so far): %s", self.what, self.count, reason)
        elif self.count % self.every == 0:
            self.log.warning("%s: %d so far (latest: %s)", self.what, self.count, reason)
