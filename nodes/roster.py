"""Who works for the dispatcher (nodes/dispatch.py): workers joining and leaving.

join: a worker's first READY (a hello) registers it, unless it was dropped and did not start over (a dropped
identity must say hello again), it was banned, there are MAX_WORKERS already, or it speaks another protocol
version (it could not read our frames); a hello from a known identity means it started over (what it held is
not coming back).

expire_silent: a worker silent (not even a heartbeat) for `liveness` heartbeat intervals is gone.

hand_over: a worker that is gone (it said BYE, went silent for `liveness` heartbeat intervals, its connection is
gone, or remote_workers.py dropped it) is forgotten and its frames go back to the retry queue, to whoever has
credit next; the encoder drops the duplicates this can make. The frames it held are queued again, and unless it
said BYE also the last `retain` it finished: a local worker's `done` only means its result was handed to its
PUSH socket, which dies with the process (a worker leaving cleanly has flushed its results before its BYE). That
is a warning while other workers take them, and only an info line when none is left (the launcher then restarts
one, waits for a remote one, or fails the run with the worker's own one-line error).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..transport import protocol
from .remote_workers import worker_name

logger = logging.getLogger(__name__)
MAX_WORKERS = 256  # registered at once; more hellos are ignored
MAX_DEPARTED = 4096  # dropped identities remembered (they must say hello again)


def join(ledger: Any, worker: bytes, h: dict, known: bool) -> bool:
    """Whether `worker`, whose READY header is `h`, is (now) registered in `ledger` (a Dispatcher)."""
    d = ledger
    hello = h.get("hello") is True
    if hello and known:  # the same identity starting over: what it held is not coming back
        d.drop_worker(worker)
        known = False
    if known:
        return True
    if (worker in d.departed and not hello) or worker in d.banned or len(d.credits) >= MAX_WORKERS:
        return False  # a dropped worker must start over on a fresh connection (it will: we stay silent)
    if h["v"] != protocol.PROTOCOL_VERSION:  # it could not read our frames (YUV planes): never registered
        d.drops(f"worker {worker_name(worker)} speaks protocol version {h['v']}; this dispatcher sends "
                f"version {protocol.PROTOCOL_VERSION} frames: upgrade that gfn-worker")
        return False
    d.departed.pop(worker, None)
    d.credits[worker] = 0
    d.heard[worker] = time.monotonic()
    logger.info("worker %s joined with %d credit(s)", worker_name(worker), h["credit"])
    return True


def hand_over(ledger: Any, worker: bytes, said_bye: bool = False, quiet: bool = False) -> None:
    """Forget `worker` in `ledger` (nodes/dispatch.py Dispatcher) and queue its frames again."""
    d = ledger
    d.credits.pop(worker, None)
    d.heard.pop(worker, None)
    d.clock.forget(worker)
    d.departed[worker] = None
    while len(d.departed) > MAX_DEPARTED:
        d.departed.popitem(last=False)
    lost = sorted(s for s, (w, _) in d.inflight.items() if w == worker)
    for seq in lost:
        d.inflight[seq] = (b"", d.inflight[seq][1])
    held = len(lost)
    kept = d.delivered.pop(worker, None) or {}
    for seq, parts in ({} if said_bye else kept).items():
        if seq not in d.inflight:  # finished there, but its result may have died with the worker
            d.inflight[seq] = (b"", parts)
            lost.append(seq)
    d.retry.extend(lost)
    d.lost_workers += 1
    if lost and not quiet:
        again = f" and {len(lost) - held} it had finished" if len(lost) > held else ""
        if d.credits:  # another worker takes them: the run goes on, worth a warning
            logger.warning("worker %s left holding %d frame(s)%s; sending them again", worker_name(worker), held,
                           again)
        else:  # nobody left to send them to: the launcher decides (a restart, a remote worker, or the run fails
            # with the worker's own words, which a second line here would only blur)
            logger.info("worker %s left holding %d frame(s)%s; they go to the next worker that joins",
                        worker_name(worker), held, again)


def expire_silent(ledger: Any, now: float) -> list[bytes]:
    """Drop the workers of `ledger` silent for longer than its patience (heartbeat × liveness); returns them."""
    gone = [w for w, t in ledger.heard.items() if t < now - ledger.patience]
    for w in gone:
        logger.warning("worker %s silent for %.0f s: dropping it", worker_name(w), ledger.patience)
        ledger.drop_worker(w)
    return gone
