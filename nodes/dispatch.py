"""The decoder's side of the workers: credits, frames in flight, re-dispatch, heartbeats, and the sockets
(WorkerLinks) that local and remote workers join.

    local workers   DEALER ──► ROUTER ipc://…/work      results PUSHed straight to the encoder (fast path)
    remote workers  DEALER ──► ROUTER --listen tcp://…  results come back on the same connection; the
                                                        decoder forwards them to the encoder without copying

A frame stays owned by the worker it was sent to until that worker reports it `done` (a local worker), or its
valid result arrives (a remote worker: right seq, size and fields, from the worker it was given to, see
transport/result_check.py; a remote `done` only returns credit). A worker that says BYE, goes silent for `liveness`
heartbeat intervals, whose connection is gone, that sends an invalid result or reports a frame done without
its result, or (remote) that holds frames without answering past its deadline (nodes/answer_clock.py), loses
its frames to the retry queue; they go to whoever has credit next. The encoder drops the duplicates this can
make. A local worker's `done` only means its result was handed to its PUSH socket, which dies with the
process, so the last `retain` frames it finished are kept and re-sent too if it dies (not after a BYE: a
worker leaving cleanly has flushed its results).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from typing import Any

import zmq

from ..transport import keys, protocol
from ..transport.endpoints import parse
from ..transport.liveness import HEARTBEAT_S, LIVENESS, MAX_PART_BYTES, DropLog
from ..transport.result_check import mismatch
from . import exitcodes
from .answer_clock import AnswerClock
from .node import NodeError, socket
from .settings import CreditSettings, LinkSettings

logger = logging.getLogger(__name__)
LOCAL, REMOTE = b"L", b"R"  # first byte of a worker key: which ROUTER it came in on
MAX_WORKERS = 256  # registered at once; more hellos are ignored
MAX_CREDIT = 4 * protocol.MAX_BATCH_CREDIT  # per worker


class Dispatcher:
    """Credits per worker, frames in flight per worker, and re-dispatch of a departed worker's frames."""

    def __init__(
        self,
        max_inflight: int,
        window: int,
        heartbeat_s: float = HEARTBEAT_S,
        liveness: int = LIVENESS,
        retain: int = 16,
        answer_s: float = 10.0,
        answer_factor: float = 10.0,
    ):
        self.max_inflight = max_inflight
        self.window = window
        self.patience = heartbeat_s * liveness
        self.retain = retain
        self.credits: "OrderedDict[bytes, int]" = OrderedDict()
        self.inflight: dict[int, tuple[bytes, list[Any]]] = {}  # seq -> (worker, message parts)
        self.retry: deque[int] = deque()  # seqs to send again
        self.forward: deque[tuple[int, list[Any]]] = deque()  # results of remote workers, for the encoder
        self.delivered: dict[bytes, "OrderedDict[int, list[Any]]"] = {}  # last frames each local worker finished
        self.heard: dict[bytes, float] = {}  # worker -> last time anything came from it
        self.departed: "OrderedDict[bytes, None]" = OrderedDict()  # dropped ids: must say hello again
        self.drops = DropLog(logger, "dispatcher: dropped a bad message")
        self.rejects = DropLog(logger, "dispatcher: dropped a worker that sent a bad result", first=10, every=100)
        self.banned: "OrderedDict[bytes, None]" = OrderedDict()  # sent bad results: never taken back
        self.clock = AnswerClock(answer_s, answer_factor)
        self.duplicates = 0
        self.lost_workers = 0
        self.overdue_workers = 0  # remote workers that held frames past their deadline

    @classmethod
    def from_settings(cls, c: CreditSettings) -> "Dispatcher":
        return cls(c.max_inflight, c.window, heartbeat_s=c.heartbeat_s, liveness=c.liveness, retain=c.retain,
                   answer_s=c.answer_s, answer_factor=c.answer_factor)

    @property
    def bad_messages(self) -> int:
        return self.drops.count

    @property
    def bad_workers(self) -> int:
        """Workers dropped for an invalid result or for reporting a frame done without its result."""
        return self.rejects.count

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
        idle = bool(worker) and not self._holds(worker)
        self.inflight[seq] = (worker, parts)
        if worker:
            self.clock.sent(worker, time.monotonic(), idle)

    def _holds(self, worker: bytes) -> bool:
        return any(w == worker for w, _ in self.inflight.values())

    def on_message(self, worker: bytes, parts: list[Any]) -> None:
        try:
            msg = protocol.unpack(parts)
        except protocol.ProtocolError as exc:
            self.drops(f"from worker {_name(worker)}: {exc}")
            return
        known = worker in self.credits
        if known:
            self.heard[worker] = time.monotonic()
        if msg.kind == protocol.READY:
            self._ready(worker, msg.header, known)
        elif msg.kind == protocol.FRAME:
            self._result(worker, msg, parts, known)
        elif msg.kind == protocol.BYE:
            if known:
                logger.info("worker %s said bye", _name(worker))
                self.drop_worker(worker, said_bye=True)
        elif msg.kind != protocol.HEARTBEAT:  # a heartbeat only proves life (recorded above)
            self.drops(f"unexpected {msg.kind} message from worker {_name(worker)}")

    def _ready(self, worker: bytes, h: dict, known: bool) -> None:
        hello = h.get("hello") is True
        if hello and known:  # the same identity starting over: what it held is not coming back
            self.drop_worker(worker)
            known = False
        if not known:
            if (worker in self.departed and not hello) or worker in self.banned or len(self.credits) >= MAX_WORKERS:
                return  # a dropped worker must start over on a fresh connection (it will: we stay silent)
            if h["v"] != protocol.PROTOCOL_VERSION:  # it could not read our frames (YUV planes): never registered
                self.drops(f"worker {_name(worker)} speaks protocol version {h['v']}; this dispatcher sends version "
                           f"{protocol.PROTOCOL_VERSION} frames: upgrade that gfn-worker")
                return
            self.departed.pop(worker, None)
            self.credits[worker] = 0
            self.heard[worker] = time.monotonic()
            logger.info("worker %s joined with %d credit(s)", _name(worker), h["credit"])
        self.credits[worker] = min(self.credits[worker] + h["credit"], MAX_CREDIT)
        finished = 0
        for seq in h.get("done") or []:
            held = self.inflight.get(seq)
            if held is not None and held[0] == worker:
                if worker[:1] == REMOTE:  # its result comes first on the same connection: none came
                    self._reject(worker, f"reported frame {seq} done without sending its result")
                    return
                finished += 1
                del self.inflight[seq]
                if self.retain and worker[:1] != REMOTE:
                    kept = self.delivered.setdefault(worker, OrderedDict())
                    kept[seq] = held[1]
                    while len(kept) > self.retain:
                        kept.popitem(last=False)
        if finished:
            self.clock.answered(worker, time.monotonic(), self._holds(worker))

    def _result(self, worker: bytes, msg: protocol.Message, parts: list[Any], known: bool) -> None:
        """A remote worker's result: forwarded, and its frame done, only when it is the valid answer to a frame
        this worker holds; a worker that sends an invalid one is dropped and its frames go to the others."""
        seq = msg.header["seq"]
        if not known:
            if worker in self.departed or worker in self.banned:
                self.duplicates += 1  # a worker we dropped, answering late: its frames went elsewhere
            else:
                self.drops(f"a result (frame {seq}) from {_name(worker)}, which never joined")
            return
        held = self.inflight.get(seq)
        if held is None or held[0] != worker:
            self.duplicates += 1  # e.g. a worker that reconnected, answering what it held before: went elsewhere
            return
        wrong = mismatch(held[1][0], msg)
        if wrong is not None:
            self._reject(worker, f"returned frame {seq} with {wrong}")
            return
        del self.inflight[seq]
        self.forward.append((seq, parts))
        self.clock.answered(worker, time.monotonic(), self._holds(worker))

    def _reject(self, worker: bytes, why: str) -> None:
        """A worker that lies about its results: it loses its frames and is never taken back."""
        self.rejects(f"worker {_name(worker)} {why}; its frames go to the other workers")
        self.drop_worker(worker, quiet=True)
        self.banned[worker] = None
        while len(self.banned) > 4096:
            self.banned.popitem(last=False)

    def drop_worker(self, worker: bytes, said_bye: bool = False, quiet: bool = False) -> None:
        """`worker` is gone: the frames it held (and, unless it said BYE, the last ones it finished) are
        queued again. BYE comes after a worker's last results, so what it finished then is safe."""
        self.credits.pop(worker, None)
        self.heard.pop(worker, None)
        self.clock.forget(worker)
        self.departed[worker] = None
        while len(self.departed) > 4096:
            self.departed.popitem(last=False)
        lost = sorted(s for s, (w, _) in self.inflight.items() if w == worker)
        for seq in lost:
            self.inflight[seq] = (b"", self.inflight[seq][1])
        held = len(lost)
        kept = self.delivered.pop(worker, None) or {}
        for seq, parts in ({} if said_bye else kept).items():
            if seq not in self.inflight:  # finished there, but its result may have died with the worker
                self.inflight[seq] = (b"", parts)
                lost.append(seq)
        self.retry.extend(lost)
        self.lost_workers += 1
        if lost and not quiet:
            again = f" and {len(lost) - held} it had finished" if len(lost) > held else ""
            logger.warning("worker %s left holding %d frame(s)%s; sending them again", _name(worker), held, again)

    def next_retry(self) -> int | None:
        """The next frame to send again (one whose owner is gone), or None."""
        while self.retry:
            seq = self.retry.popleft()
            held = self.inflight.get(seq)
            if held is not None and held[0] not in self.credits:
                return seq
        return None

    def expire(self) -> list[bytes]:
        """Drop the workers silent for longer than heartbeat × liveness, and the remote workers holding frames
        without answering past their deadline (nodes/answer_clock.py); returns them."""
        now = time.monotonic()
        limit = now - self.patience
        gone = [w for w, t in self.heard.items() if t < limit]
        for w in gone:
            logger.warning("worker %s silent for %.0f s: dropping it", _name(w), self.patience)
            self.drop_worker(w)
        holding = {w for w, _ in self.inflight.values() if w[:1] == REMOTE and w in self.credits}
        for w, waited, allowed in self.clock.overdue(sorted(holding), self.credits, now):
            logger.warning("worker %s has held frames for %.1f s without answering (limit %.1f s): dropping it",
                        _name(w), waited, allowed)
            self.overdue_workers += 1
            self.drop_worker(w)
            gone.append(w)
        return gone


def _name(worker: bytes) -> str:
    return ("remote " if worker[:1] == REMOTE else "local ") + worker[1:].hex()


class WorkerLinks:
    """The sockets workers join: the local ROUTER, the optional --listen ROUTER (CurveZMQ when keys are given),
    and the PUSH that forwards remote results to the encoder. Heartbeats go to every registered worker."""

    def __init__(self, ctx: zmq.Context, disp: Dispatcher, settings: LinkSettings):
        self.disp = disp
        self.interval = settings.heartbeat_s
        self.next_beat = time.monotonic() + self.interval
        self.routers: dict[bytes, zmq.Socket] = {}
        self.auth = None
        self.forwarder = None
        local = socket(ctx, zmq.ROUTER, linger=0)
        local.setsockopt(zmq.ROUTER_MANDATORY, 1)
        local.bind(settings.work)
        self.routers[LOCAL] = local
        if settings.listen:
            ep = parse(settings.listen, kind="router", mode="bind", allowed=("router+bind",))
            remote = socket(ctx, zmq.ROUTER, hwm=256, linger=0)
            remote.setsockopt(zmq.MAXMSGSIZE, MAX_PART_BYTES)
            remote.setsockopt(zmq.ROUTER_MANDATORY, 1)
            try:
                keys.require_keys(ep, settings.key, settings.allow, "--allow")
                if settings.key:
                    self.auth = keys.server_socket(ctx, remote, settings.key, settings.allow)
                remote.bind(ep.url)
            except (keys.SecurityError, zmq.ZMQError) as exc:
                remote.close()
                self.close()
                raise NodeError(f"cannot listen on {ep.url}: {exc}", exitcodes.USAGE) from None
            self.routers[REMOTE] = remote
            self.forwarder = socket(ctx, zmq.PUSH, hwm=settings.result_hwm)
            self.forwarder.connect(settings.results)
            logger.info("listening for workers on %s%s", ep.url, " (CurveZMQ)" if self.auth else "")

    def pump(self, timeout_ms: int) -> None:
        """Wait up to `timeout_ms` for worker messages, take them all, forward results, heartbeat, expire."""
        poller = zmq.Poller()
        for sock in self.routers.values():
            poller.register(sock, zmq.POLLIN)
        if self.disp.forward:
            poller.register(self.forwarder, zmq.POLLOUT)
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
        while self.disp.forward:
            try:
                self.forwarder.send_multipart(self.disp.forward[0][1], flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            self.disp.forward.popleft()
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
                logger.info("worker %s disconnected", _name(worker))
                self.disp.drop_worker(worker)
            return False

    def close(self) -> None:
        for sock in self.routers.values():
            sock.close()
        if self.forwarder is not None:
            self.forwarder.close()
        if self.auth is not None:
            self.auth.stop()
