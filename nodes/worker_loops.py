"""The worker's socket loops, on the I/O thread that owns every socket (the inference runs in engine.py's thread
and wakes the loop over an inproc PAIR when a batch is done): DealerLoop here, RouterLoop on the Loop base here.

    DealerLoop   dealer+connect: a Paranoid Pirate worker of a dispatcher: credit-based, heartbeats both
                 ways, reconnects, BYE on stop (every worker of a gfn-stream job; its socket: dealer_link.py)
    RouterLoop   router+bind: serve clients directly (nodes/router_loop.py, on the Loop base here)

See worker.py for how one is chosen and docs/protocol.md for the messages.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable

import zmq

from ..transport import protocol
from ..transport.endpoints import Endpoint
from ..transport.liveness import DropLog, Heartbeat
from ..transport.peek import peek_kind
from ..transport.status import Every, WorkerStatus
from . import exitcodes
from .dealer_link import DealerLink, hello_again, reconnect
from .engine import Engine, Job, Outbox
from .node import NodeError, Reporter, socket
from .worker_settings import WorkerSettings, WorkerStats

logger = logging.getLogger(__name__)


class Loop:
    def __init__(self, ctx, stop, settings: WorkerSettings, ep: Endpoint, engine: Engine, stats: WorkerStats,
                 reporter: Reporter | None = None):
        self.ctx, self.stop, self.s, self.ep, self.engine, self.stats = ctx, stop, settings, ep, engine, stats
        self.reporter, self.every = reporter, Every()
        self.capacity = 2 * max(1, settings.batch)  # frames held at most: one batch running, one queued
        self.outbox = Outbox()
        self.drops = DropLog(logger, f"{settings.name}: dropped a bad message")
        self.stopping_since: float | None = None

    def stopping(self) -> bool:
        if self.stop.set and self.stopping_since is None:
            self.stopping_since = time.monotonic()
            what = "the launcher is gone, dropping" if self.stop.abandoned else "stopping: finishing"
            logger.info("%s: %s %d held frame(s)", self.s.name, what, self.engine.held())
        return self.stopping_since is not None

    def finished_stopping(self) -> bool:
        if self.stop.abandoned:  # the launcher is gone: nobody takes results any more
            self.engine.abandoned = True
            return True
        if self.engine.held() == 0 and not self.outbox.items:
            return True
        if time.monotonic() - self.stopping_since > self.s.drain_s:
            held = self.engine.held()  # 0: only results nobody takes any more (the encoder is gone): nothing to say
            (logger.warning if held else logger.info)("%s: gave up on %d frame(s) after %.0f s", self.s.name, held,
                                                      self.s.drain_s)
            return True
        return False

    def report(self) -> None:
        """The periodic worker status (frames, queue, busy time), also /health's sign of life for this worker."""
        if self.reporter is not None and self.every.due():
            self.reporter.status(WorkerStatus(frames=self.stats.frames, queue=self.engine.held(),
                                              busy_s=round(self.engine.busy_seconds(), 3)))

    def check_engine(self) -> None:
        if self.engine.error is not None:
            exc = self.engine.error
            raise NodeError(f"{self.s.name}: inference failed: {type(exc).__name__}: {exc}", exitcodes.WORKER)
        over = self.engine.stalled(self.s.stall_s, self.s.stall_factor)
        if over is not None:
            self.engine.abandoned = True
            raise NodeError(
                f"{self.s.name}: inference stalled: a batch has run {over[0]:.3g} s, over its limit of {over[1]:.3g} s "
                f"(the slowest batch so far x {self.s.stall_factor:g}, at least {self.s.stall_s:g} s): the model seems "
                "hung", exitcodes.WORKER)

    def drop(self, reason: str) -> None:
        self.stats.bad_messages += 1
        self.drops(reason)


class DealerLoop(Loop):
    """Paranoid Pirate worker: credit-based DEALER with heartbeats and reconnects."""

    def run(self, on_ready: Callable[[str], None]) -> None:
        s = self.s
        self.push = None
        if s.results:
            self.push = socket(self.ctx, zmq.PUSH, hwm=s.result_hwm)
            self.push.connect(s.results)
        self.hb = Heartbeat(s.heartbeat_s, s.liveness)
        self.link = DealerLink(self.ctx, s, self.ep.url, self.capacity)  # nodes/dealer_link.py
        self.sock = self.link.open(self.capacity, self.outbox)
        on_ready(self.ep.url)
        try:
            while True:
                if self.stopping() and self.finished_stopping():
                    break
                self.check_engine()
                poller = zmq.Poller()
                poller.register(self.sock, zmq.POLLIN)
                poller.register(self.engine.wake, zmq.POLLIN)
                poller.register(self.link.monitor, zmq.POLLIN)
                if self.outbox.head() is not None:
                    poller.register(self.outbox.head(), zmq.POLLOUT)
                events = dict(poller.poll(int(min(self.hb.wait_s(), 0.1) * 1000) + 1))
                if self.engine.wake in events:
                    self._results()
                if events.get(self.sock, 0) & zmq.POLLIN:
                    self._receive()
                if self.link.monitor in events and self.link.connected_again():
                    hello_again(self)  # nodes/dealer_link.py
                self.outbox.flush()
                if self.hb.due():
                    send_now(self.sock, protocol.pack(protocol.HEARTBEAT))
                if self.hb.expired():
                    reconnect(self)  # the dispatcher went silent (nodes/dealer_link.py)
                self.report()
            self.outbox.flush()
            send_now(self.sock, protocol.pack(protocol.BYE))
            self.sock.setsockopt(zmq.LINGER, 250)  # let BYE go out (a dispatcher that is gone: no need)
        finally:
            self.link.close()
            if self.push is not None:
                self.push.close()

    def _results(self) -> None:
        stopping = self.stopping_since is not None
        for jobs, outs in self.engine.collect():
            if outs is None:
                return  # the engine failed: check_engine() reports it
            for header, out in outs:  # nodes/pictures.py: the answer's header and picture
                self.outbox.put(self.push or self.sock, protocol.pack_frame(header, out))
            self.stats.frames += len(jobs)
            credit = 0 if stopping else len(jobs)
            ready = {"credit": credit, "done": [j.header.seq for j in jobs]}
            self.outbox.put(self.sock, protocol.pack(protocol.READY, ready))
            if self.s.faults.exit_after is not None and self.stats.frames >= self.s.faults.exit_after:
                self.outbox.flush()
                time.sleep(0.05)
                os._exit(70)

    def _receive(self) -> None:
        for _ in range(1000):  # bounded, so heartbeats still go out during a flood
            try:
                parts = self.sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self.hb.alive()
            try:
                msg = protocol.unpack(parts)
            except protocol.ProtocolError as exc:
                self._refuse(str(exc), peek_kind(parts))
                continue
            if msg.kind == protocol.HEARTBEAT:
                continue
            if msg.kind != protocol.FRAME:
                self._refuse(f"a worker takes frames, not {msg.kind}", msg.kind)
            elif self.stopping_since is not None:
                self.stats.refused_while_stopping += 1  # still ours at the dispatcher: re-sent after BYE
            else:
                self.engine.put(Job(None, *protocol.unpack_frame(msg)))

    def _refuse(self, reason: str, kind: str | None) -> None:
        self.drop(reason)
        if kind != protocol.HEARTBEAT:  # it took a credit: give it back
            self.outbox.put(self.sock, protocol.pack(protocol.READY, {"credit": 1, "done": []}))


def send_now(sock: zmq.Socket, parts: list[Any]) -> None:
    """Send if there is room right now; heartbeats and error replies are not worth waiting for."""
    try:
        sock.send_multipart(parts, flags=zmq.NOBLOCK)
    except zmq.Again:
        pass
    except zmq.ZMQError as exc:
        if exc.errno != zmq.EHOSTUNREACH:
            raise
