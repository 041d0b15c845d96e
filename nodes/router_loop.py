"""The worker's router+bind loop: serve clients directly (nodes/client.py, gfn-worker router+bind:ENDPOINT),
answering each FRAME with a FRAME, or an ERROR naming the frame, to its sender, in the protocol version the
client speaks; heartbeats are echoed. A gfn-stream job never runs it: its workers join the decoder with
DealerLoop (nodes/worker_loops.py, whose Loop base this shares).
"""

from __future__ import annotations

import logging
from typing import Callable

import zmq

from ..transport import keys, protocol
from ..transport.liveness import MAX_PART_BYTES
from ..transport.peek import answer_version, claimed_seq, peek_header
from . import exitcodes
from .engine import Job
from .node import NodeError, socket
from .worker_loops import Loop, send_now

logger = logging.getLogger(__name__)
STALLED_CLIENT_S = 10.0  # a result its client has not taken for this long is dropped


class RouterLoop(Loop):
    """Serve clients: each FRAME is answered with a FRAME (or an ERROR) to its sender; heartbeats are echoed."""

    def run(self, on_ready: Callable[[str], None]) -> None:
        s = self.s
        sock = socket(self.ctx, zmq.ROUTER, hwm=4 * self.capacity + 64, linger=1000)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_PART_BYTES)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        auth = keys.server_socket(self.ctx, sock, s.key, s.allow) if s.key else None
        try:
            try:
                sock.bind(self.ep.url)
            except zmq.ZMQError as exc:
                raise NodeError(f"{s.name}: cannot bind {self.ep.url}: {exc}", exitcodes.USAGE) from None
            self.sock = sock
            on_ready(sock.getsockopt_string(zmq.LAST_ENDPOINT))
            while True:
                if self.stopping() and self.finished_stopping():
                    break
                self.check_engine()
                poller = zmq.Poller()
                poller.register(self.engine.wake, zmq.POLLIN)
                room = self.engine.held() + len(self.outbox.items) < self.capacity
                flags = (zmq.POLLIN if room else 0) | (zmq.POLLOUT if self.outbox.items else 0)
                if flags:
                    poller.register(sock, flags)
                events = dict(poller.poll(100))
                if self.engine.wake in events:
                    self._results()
                if events.get(sock, 0) & zmq.POLLIN:
                    self._receive()
                self.outbox.flush(stall_s=STALLED_CLIENT_S)
                self.report()
        finally:
            sock.close()
            if auth is not None:
                auth.stop()

    def _results(self) -> None:
        for jobs, outs in self.engine.collect():
            if outs is None:
                return
            for job, (header, out) in zip(jobs, outs):
                self.outbox.put(self.sock, [job.reply_to, *protocol.pack_frame(header, out)])
            self.stats.frames += len(jobs)

    def _receive(self) -> None:
        for _ in range(self.capacity):
            if self.engine.held() + len(self.outbox.items) >= self.capacity:
                return
            try:
                client, *parts = self.sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            if not parts:
                continue
            try:
                msg = protocol.unpack(parts)
            except protocol.ProtocolError as exc:
                msg, reason = None, str(exc)
            else:
                reason = None if msg.kind == protocol.FRAME else f"a worker takes frames, not {msg.kind}"
            if msg is not None and msg.kind == protocol.HEARTBEAT:  # answered in the client's version
                send_now(self.sock, [client, *protocol.pack(protocol.HEARTBEAT, version=msg.version)])
                continue
            if reason is None and self.stopping_since is not None:
                reason = "the worker is stopping"
            if reason is None:
                self.engine.put(Job(client, *protocol.unpack_frame(msg)))
                continue
            self.drop(reason)
            h = msg.header if msg is not None else peek_header(parts)  # read once, for the ERROR's fields
            fields = {"message": reason, "code": exitcodes.USAGE, "seq": claimed_seq(h)}
            send_now(self.sock, [client, *protocol.pack(protocol.ERROR, fields, version=answer_version(h))])
