"""A worker's inference thread and its non-blocking outbox (used by the worker's loops: nodes/worker_loops.py,
nodes/router_loop.py).

The I/O loop owns every socket; the Engine thread only runs the model. Frames go in with put(); the engine
takes the leading run of equal-size frames (at most `batch`, waiting up to `wait_s` for stragglers), enhances
them, queues the results and wakes the loop over an inproc PAIR, whose other end the loop polls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import zmq

from ..transport import protocol
from .stall_watch import overrun

logger = logging.getLogger(__name__)


@dataclass
class Job:
    reply_to: Any  # router mode: the client's routing id; dealer mode: None
    header: protocol.FrameHeader
    image: Any  # H x W x 3 view, or a list of plane views, on the received zmq frames (kept alive by this)

    @property
    def key(self) -> tuple:
        """Frames of one key share a batch: the same format and size."""
        return (self.header.pix_fmt, self.header.width, self.header.height)


class Engine:
    """The inference thread, fed by put() and read by collect() (the module docstring says how it batches)."""

    def __init__(self, ctx: zmq.Context, work: Any, batch: int, wait_s: float):
        # nodes/pictures.py's PictureWork, or faults.py's FaultyWork around it (--test-fault): run(jobs) -> answers
        self.work = work
        self.batch, self.wait_s = batch, wait_s
        self.batch_started: float | None = None  # when the running batch started (None: idle)
        self.slowest_s = 0.0  # the longest batch so far
        self.busy_s = 0.0  # seconds spent in finished batches
        self.abandoned = False  # set when the thread is hung: close() does not wait for it
        self.cond = threading.Condition()
        self.pending: deque[Job] = deque()
        self.running = 0
        self.finished: deque[tuple[list[Job], list[Any] | None]] = deque()
        self.error: BaseException | None = None
        self._stop = False
        addr = f"inproc://gfn-engine-{id(self):x}"
        self.wake = ctx.socket(zmq.PAIR)  # read by the I/O loop
        self.wake.setsockopt(zmq.LINGER, 0)
        self.wake.bind(addr)
        self._ring = ctx.socket(zmq.PAIR)  # written by the engine thread only
        self._ring.setsockopt(zmq.LINGER, 0)
        self._ring.connect(addr)
        self.thread = threading.Thread(target=self._run, name="gfn-engine", daemon=True)
        self.thread.start()

    def put(self, job: Job) -> None:
        with self.cond:
            self.pending.append(job)
            self.cond.notify()

    def held(self) -> int:
        """Frames queued, running, or finished and not yet collected."""
        with self.cond:
            return len(self.pending) + self.running + sum(len(j) for j, _ in self.finished)

    def in_progress(self) -> int:
        """Frames whose results are still to come out of collect() (running or finished)."""
        with self.cond:
            return self.running + sum(len(j) for j, _ in self.finished)

    def stalled(self, floor_s: float, factor: float) -> tuple[float, float] | None:
        """(seconds running, limit) when the running batch has overrun max(floor_s, factor x the slowest batch so
        far), else None: the stall watchdog's rule, nodes/stall_watch.py."""
        with self.cond:
            return overrun(self.batch_started, self.slowest_s, floor_s, factor)

    def busy_seconds(self) -> float:
        """Seconds spent running batches so far, the running one included (a worker's utilisation)."""
        with self.cond:
            started, busy = self.batch_started, self.busy_s
        return busy + (time.monotonic() - started if started is not None else 0.0)

    def drop_pending(self) -> int:
        with self.cond:
            n = len(self.pending)
            self.pending.clear()
            return n

    def collect(self) -> list[tuple[list[Job], list[Any] | None]]:
        while True:
            try:
                self.wake.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
        with self.cond:
            done = list(self.finished)
            self.finished.clear()
        return done

    def close(self) -> None:
        with self.cond:
            self._stop = True
            self.cond.notify_all()
        self.thread.join(timeout=0 if self.abandoned else 60)
        self.wake.close()
        self._ring.close()

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.pending and not self._stop:
                    self.cond.wait()
                if self._stop:
                    return
                deadline = time.monotonic() + self.wait_s
                while len(self.pending) < self.batch and not self._stop:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self.cond.wait(left):
                        break
                if not self.pending:
                    continue
                size = self.pending[0].key
                take: list[Job] = []
                while self.pending and len(take) < self.batch and self.pending[0].key == size:
                    take.append(self.pending.popleft())
                self.running = len(take)
                self.batch_started = started = time.monotonic()
            outs: list[Any] | None = None
            try:
                outs = self.work.run(take)  # nodes/pictures.py: [(answer header, picture)]
            except BaseException as exc:  # reported by the I/O loop as the worker's failure
                self.error = exc
            with self.cond:
                self.finished.append((take, outs))
                self.running = 0
                self.batch_started = None
                took = time.monotonic() - started
                self.slowest_s = max(self.slowest_s, took)
                self.busy_s += took
            try:
                self._ring.send(b"", zmq.NOBLOCK)
            except zmq.ZMQError:  # closed: the worker stopped without waiting for this batch (abandoned)
                return
            if self.error is not None:
                return


class Outbox:
    """Messages waiting for room on their socket, sent in order without ever blocking the loop."""

    def __init__(self) -> None:
        self.items: deque[tuple[zmq.Socket, list[Any], float]] = deque()

    def put(self, sock: zmq.Socket, parts: list[Any]) -> None:
        self.items.append((sock, parts, time.monotonic()))

    def head(self) -> zmq.Socket | None:
        return self.items[0][0] if self.items else None

    def discard(self, sock: zmq.Socket) -> None:
        self.items = deque(i for i in self.items if i[0] is not sock)

    def flush(self, stall_s: float | None = None) -> None:
        while self.items:
            sock, parts, since = self.items[0]
            try:
                sock.send_multipart(parts, flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                if stall_s is None or time.monotonic() - since < stall_s:
                    return
                logger.warning("a client has not taken its result for %.0f s: dropped it", stall_s)
            except zmq.ZMQError as exc:
                if exc.errno != zmq.EHOSTUNREACH:
                    raise
                logger.info("a client left before its result was sent")
            self.items.popleft()
