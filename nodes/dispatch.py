"""The decoder's side of the workers: credits, frames in flight, re-dispatch, heartbeats, and the sockets
(WorkerLinks) that local and remote workers join.

    local workers   DEALER ──► ROUTER ipc://…/work      results PUSHed straight to the encoder (fast path)
    remote workers  DEALER ──► ROUTER --listen tcp://…  results come back on the same connection; the
                                                        decoder forwards them to the encoder (remote_workers.py)

A frame stays owned by the worker it was sent to until that worker reports it `done` (a local worker), or its
valid result arrives (a remote worker, checked by nodes/remote_workers.py; a remote `done` only returns credit).
A local worker's last `retain` finished frames are kept too. A worker that says BYE, goes silent for `liveness`
heartbeat intervals, whose connection is gone, or that remote_workers.py drops (a bad result, frames held past
their deadline) loses its frames to the retry queue (nodes/roster.py); they go to whoever has credit next.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from typing import Any

import zmq

from ..transport import protocol
from ..transport.liveness import DropLog
from .answer_clock import AnswerClock
from .node import NodeError, socket
from .remote_workers import LOCAL, REMOTE, Listener, RemoteResults, worker_name
from .roster import expire_silent, hand_over, join
from .settings import CreditSettings, LinkSettings

logger = logging.getLogger(__name__)
MAX_CREDIT = 4 * protocol.MAX_BATCH_CREDIT  # per worker


class Dispatcher:
    """Credits per worker, frames in flight per worker, and re-dispatch of a departed worker's frames."""

    def __init__(self, settings: CreditSettings):
        self.max_inflight, self.window, self.retain = settings.max_inflight, settings.window, settings.retain
        self.patience = settings.heartbeat_s * settings.liveness
        self.credits: "OrderedDict[bytes, int]" = OrderedDict()
        self.inflight: dict[int, tuple[bytes, list[Any]]] = {}  # seq -> (worker, message parts)
        self.retry: deque[int] = deque()  # seqs to send again
        self.forward: deque[tuple[int, list[Any]]] = deque()  # results of remote workers, for the encoder
        self.delivered: dict[bytes, "OrderedDict[int, list[Any]]"] = {}  # last frames each local worker finished
        self.heard: dict[bytes, float] = {}  # worker -> last time anything came from it
        self.departed: "OrderedDict[bytes, None]" = OrderedDict()  # dropped ids: must say hello again
        self.drops = DropLog(logger, "dispatcher: dropped a bad message")
        self.banned: "OrderedDict[bytes, None]" = OrderedDict()  # sent bad results: never taken back
        self.clock = AnswerClock(settings.answer_s, settings.answer_factor)
        self.remote = RemoteResults(self)  # what remote workers send: checked (nodes/remote_workers.py)
        self.lost_workers = 0

    @property
    def bad_messages(self) -> int:
        return self.drops.count

    @property
    def bad_workers(self) -> int:
        """Workers dropped for an invalid result or for reporting a frame done without its result."""
        return self.remote.rejects.count

    @property
    def overdue_workers(self) -> int:
        """Remote workers dropped for holding frames past their deadline."""
        return self.remote.overdue

    def has_credit(self) -> bool:
        return any(c > 0 for c in self.credits.values())

    def busy(self) -> bool:
        """Frames are out with workers or waiting to go on to the encoder."""
        return bool(self.inflight or self.forward or self.retry)

    def can_send_new(self, next_seq: int) -> bool:
        """A new frame may go out: some worker has credit, and both the in-flight and seq windows allow it."""
        if not self.has_credit() or len(self.inflight) + len(self.forward) >= self.max_inflight:
            return False
        oldest = min(self.inflight) if self.inflight else next_seq
        if self.forward:
            oldest = min(oldest, self.forward[0][0])
        return next_seq < oldest + self.window

    def pick_worker(self) -> bytes:
        worker = max(self.credits, key=lambda k: self.credits[k])
        self.credits[worker] -= 1
        self.credits.move_to_end(worker)  # ties go round-robin
        return worker

    def assign(self, seq: int, worker: bytes, parts: list[Any]) -> None:
        """Frame `seq` is now owned by `worker` (b"" = nobody: waiting to be sent again)."""
        idle = bool(worker) and not self.holds(worker)
        self.inflight[seq] = (worker, parts)
        if worker:
            self.clock.sent(worker, time.monotonic(), idle)

    def holds(self, worker: bytes) -> bool:
        return any(w == worker for w, _ in self.inflight.values())

    def on_message(self, worker: bytes, parts: list[Any]) -> None:
        try:
            msg = protocol.unpack(parts)
        except protocol.ProtocolError as exc:
            self.drops(f"from worker {worker_name(worker)}: {exc}")
            return
        known = worker in self.credits
        if known:
            self.heard[worker] = time.monotonic()
        if msg.kind == protocol.READY:
            self._ready(worker, msg.header, known)
        elif msg.kind == protocol.FRAME:  # only remote workers answer here; local ones PUSH to the encoder
            self.remote.result(worker, msg, parts, known, time.monotonic())
        elif msg.kind == protocol.BYE:
            if known:
                logger.info("worker %s said bye", worker_name(worker))
                self.drop_worker(worker, said_bye=True)
        elif msg.kind != protocol.HEARTBEAT:  # a heartbeat only proves life (recorded above)
            self.drops(f"unexpected {msg.kind} message from worker {worker_name(worker)}")

    def _ready(self, worker: bytes, h: dict, known: bool) -> None:
        if not join(self, worker, h, known):  # a hello registers a worker (nodes/roster.py)
            return
        self.credits[worker] = min(self.credits[worker] + h["credit"], MAX_CREDIT)
        finished = 0
        for seq in h.get("done") or []:
            held = self.inflight.get(seq)
            if held is not None and held[0] == worker:
                if worker[:1] == REMOTE:  # its result comes first on the same connection: none came
                    self.remote.reject(worker, f"reported frame {seq} done without sending its result")
                    return
                finished += 1
                del self.inflight[seq]
                if self.retain:
                    kept = self.delivered.setdefault(worker, OrderedDict())
                    kept[seq] = held[1]
                    while len(kept) > self.retain:
                        kept.popitem(last=False)
        if finished:
            self.clock.answered(worker, time.monotonic(), self.holds(worker))

    def drop_worker(self, worker: bytes, said_bye: bool = False, quiet: bool = False) -> None:
        """`worker` is gone: forgotten, and the frames it held (and, unless it said BYE, the last ones it
        finished) queued again (nodes/roster.py)."""
        hand_over(self, worker, said_bye, quiet)

    def next_retry(self) -> int | None:
        """The next frame to send again (one whose owner is gone), or None."""
        while self.retry:
            seq = self.retry.popleft()
            held = self.inflight.get(seq)
            if held is not None and held[0] not in self.credits:
                return seq
        return None

    def expire(self) -> list[bytes]:
        """Drop the workers silent for longer than heartbeat × liveness (nodes/roster.py), and the remote workers
        holding frames without answering past their deadline (nodes/remote_workers.py); returns them."""
        now = time.monotonic()
        return expire_silent(self, now) + self.remote.expire(now)


class WorkerLinks:
    """The sockets workers join: the local ROUTER and the optional --listen one (remote_workers.Listener, which
    also forwards remote results to the encoder). Heartbeats go to every registered worker."""

    def __init__(self, ctx: zmq.Context, disp: Dispatcher, settings: LinkSettings):
        self.disp = disp
        self.interval = settings.heartbeat_s
        self.next_beat = time.monotonic() + self.interval
        self.routers: dict[bytes, zmq.Socket] = {}
        self.listener: Listener | None = None
        local = socket(ctx, zmq.ROUTER, linger=0)
        local.setsockopt(zmq.ROUTER_MANDATORY, 1)
        local.bind(settings.work)
        self.routers[LOCAL] = local
        if settings.listen:  # remote workers (nodes/remote_workers.py)
            try:
                self.listener = Listener(ctx, settings)
            except NodeError:
                self.close()
                raise
            self.routers[REMOTE] = self.listener.router

    def pump(self, timeout_ms: int) -> None:
        """Wait up to `timeout_ms` for worker messages, take them all, forward results, heartbeat, expire."""
        poller = zmq.Poller()
        for sock in self.routers.values():
            poller.register(sock, zmq.POLLIN)
        if self.disp.forward:
            poller.register(self.listener.forwarder, zmq.POLLOUT)
        wait = min(timeout_ms, max(0, int((self.next_beat - time.monotonic()) * 1000)))
        events = dict(poller.poll(wait))
        for tag, sock in self.routers.items():
            if sock in events:
                for _ in range(1000):  # bounded: a flood must not starve the frames
                    try:
                        worker, *parts = sock.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    self.disp.on_message(tag + worker.bytes, parts)
        if self.disp.forward:
            self.listener.forward(self.disp.forward)
        if time.monotonic() >= self.next_beat:
            self.next_beat = time.monotonic() + self.interval
            beat = protocol.pack(protocol.HEARTBEAT)
            for worker in list(self.disp.credits):
                self._send(worker, beat)
        self.disp.expire()

    def send_frame(self, seq: int, parts: list[Any]) -> None:
        """Send frame `seq` to the worker with most credit; a worker that cannot take it loses its turn."""
        disp = self.disp
        worker = disp.pick_worker()
        disp.assign(seq, worker, parts)
        if not self._send(worker, parts, frame=True):
            disp.inflight[seq] = (b"", parts)
            if seq not in disp.retry:
                disp.retry.appendleft(seq)

    def _send(self, worker: bytes, parts: list[Any], frame: bool = False) -> bool:
        sock = self.routers[worker[:1]]
        try:
            sock.send_multipart([worker[1:], *parts], flags=zmq.NOBLOCK, copy=False)
            return True
        except zmq.Again:  # its queue is full: it is not reading
            if frame and worker in self.disp.credits:
                self.disp.credits[worker] = 0
            return False
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EHOSTUNREACH:
                raise
            if worker in self.disp.credits:  # its connection is gone (drop_worker warns if it held frames)
                logger.info("worker %s disconnected", worker_name(worker))
                self.disp.drop_worker(worker)
            return False

    def close(self) -> None:
        self.routers[LOCAL].close()
        if self.listener is not None:
            self.listener.close()
