"""Remote workers: gfn-worker processes on other machines that join a job over its --listen endpoint (tcp://,
CurveZMQ when keys are given). What the decoder does for them beyond the credit ledger (nodes/dispatch.py):

    Listener        the --listen ROUTER, and the PUSH that forwards their results to the encoder without copying
    RemoteResults   a remote result is taken only as the valid answer (transport/result_check.py: right seq, size
                    and fields) to a frame that worker holds; a worker that sends an invalid one, or reports a frame
                    done without its result, is dropped and never taken back; one that holds frames without
                    answering past its deadline (nodes/answer_clock.py) is dropped

A worker's key in the dispatcher is one byte for the ROUTER it came in on (LOCAL, REMOTE) + its identity.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import zmq

from ..transport import keys, protocol
from ..transport.endpoints import parse
from ..transport.liveness import MAX_PART_BYTES, DropLog
from ..transport.result_check import mismatch
from . import exitcodes
from .node import NodeError, socket
from .settings import LinkSettings

logger = logging.getLogger(__name__)
LOCAL, REMOTE = b"L", b"R"  # first byte of a worker key: which ROUTER it came in on
MAX_BANNED = 4096


def worker_name(worker: bytes) -> str:
    return ("remote " if worker[:1] == REMOTE else "local ") + worker[1:].hex()


class RemoteResults:
    """The checks on one Dispatcher's remote workers (composed by it: `ledger` is that Dispatcher)."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        self.rejects = DropLog(logger, "dispatcher: dropped a worker that sent a bad result", first=10, every=100)
        self.overdue = 0  # remote workers that held frames past their deadline
        self.duplicates = 0  # results of frames that went to another worker in the meantime

    def result(self, worker: bytes, msg: protocol.Message, parts: list[Any], known: bool, now: float) -> None:
        """A remote worker's result: forwarded, and its frame done, only when it is the valid answer to a frame
        this worker holds; a worker that sends an invalid one is dropped and its frames go to the others."""
        d = self.ledger
        seq = msg.header["seq"]
        if not known:
            if worker in d.departed or worker in d.banned:
                self.duplicates += 1  # a worker we dropped, answering late: its frames went elsewhere
            else:
                d.drops(f"a result (frame {seq}) from {worker_name(worker)}, which never joined")
            return
        held = d.inflight.get(seq)
        if held is None or held[0] != worker:
            self.duplicates += 1  # e.g. a worker that reconnected, answering what it held before: went elsewhere
            return
        wrong = mismatch(held[1][0], msg)
        if wrong is not None:
            self.reject(worker, f"returned frame {seq} with {wrong}")
            return
        del d.inflight[seq]
        d.forward.append((seq, parts))
        d.clock.answered(worker, now, d.holds(worker))

    def reject(self, worker: bytes, why: str) -> None:
        """A worker that lies about its results: it loses its frames and is never taken back."""
        d = self.ledger
        self.rejects(f"worker {worker_name(worker)} {why}; its frames go to the other workers")
        d.drop_worker(worker, quiet=True)
        d.banned[worker] = None
        while len(d.banned) > MAX_BANNED:
            d.banned.popitem(last=False)

    def expire(self, now: float) -> list[bytes]:
        """Drop the remote workers holding frames without answering past their deadline; returns them."""
        d = self.ledger
        if not any(w[:1] == REMOTE for w in d.credits):  # none registered: no frames to look through
            return []
        holding = {w for w, _ in d.inflight.values() if w[:1] == REMOTE and w in d.credits}
        gone = []
        for w, waited, allowed in d.clock.overdue(sorted(holding), d.credits, now):
            logger.warning("worker %s has held frames for %.1f s without answering (limit %.1f s): dropping it",
                           worker_name(w), waited, allowed)
            self.overdue += 1
            d.drop_worker(w)
            gone.append(w)
        return gone


class Listener:
    """The --listen ROUTER remote workers join (CurveZMQ when keys are given) and the PUSH that forwards their
    results to the encoder. Raises NodeError (exit code 2) when it cannot listen."""

    def __init__(self, ctx: zmq.Context, settings: LinkSettings) -> None:
        ep = parse(settings.listen, kind="router", mode="bind", allowed=("router+bind",))
        remote = socket(ctx, zmq.ROUTER, hwm=256, linger=0)
        remote.setsockopt(zmq.MAXMSGSIZE, MAX_PART_BYTES)
        remote.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.auth = None
        try:
            keys.require_keys(ep, settings.key, settings.allow, "--allow")
            if settings.key:
                self.auth = keys.server_socket(ctx, remote, settings.key, settings.allow)
            remote.bind(ep.url)
        except (keys.SecurityError, zmq.ZMQError) as exc:
            remote.close()
            if self.auth is not None:
                self.auth.stop()
            raise NodeError(f"cannot listen on {ep.url}: {exc}", exitcodes.USAGE) from None
        self.router = remote
        self.forwarder = socket(ctx, zmq.PUSH, hwm=settings.result_hwm)
        self.forwarder.connect(settings.results)
        logger.info("listening for workers on %s%s", ep.url, " (CurveZMQ)" if self.auth else "")

    def forward(self, results: deque[tuple[int, list[Any]]]) -> None:
        """Send the checked results on to the encoder, as many as it takes now."""
        while results:
            try:
                self.forwarder.send_multipart(results[0][1], flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            results.popleft()

    def close(self) -> None:
        """Its ROUTER, the forwarder and the authenticator."""
        self.router.close()
        self.forwarder.close()
        if self.auth is not None:
            self.auth.stop()
