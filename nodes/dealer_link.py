"""A worker's DEALER connection to its dispatcher (nodes/worker_loops.py DealerLoop): the socket opened with its
limits and CurveZMQ keys, connected, and a hello queued with the credit the worker has; closed; and watched on a
ZeroMQ monitor socket. A refused CurveZMQ handshake (this worker's key not in the dispatcher's allow-list, a wrong
--server-key) is logged once. A second successful handshake on the same socket means a dispatcher that may not
know this worker: a new one at the endpoint (a batch's next file binds the same ipc:// path) or the old one back
after a break; the loop then says hello at once (hello_again), not after a silent liveness period. A dispatcher
silent for the liveness period: the loop reconnects on a fresh socket (reconnect).
"""

from __future__ import annotations

import logging
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from ..transport import keys, protocol
from ..transport.liveness import MAX_PART_BYTES
from .worker_settings import WorkerSettings

logger = logging.getLogger(__name__)
AUTH_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
               | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)


class DealerLink:
    def __init__(self, ctx: zmq.Context, settings: WorkerSettings, url: str, capacity: int) -> None:
        self.ctx, self.s, self.url, self.capacity = ctx, settings, url, capacity
        self.sock: zmq.Socket | None = None
        self.monitor: zmq.Socket | None = None

    def open(self, credit: int, outbox: Any) -> zmq.Socket:
        """A fresh socket (a new identity), connecting; its hello with `credit` queued on `outbox`."""
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_PART_BYTES)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 4 * self.capacity + 64)
        sock.setsockopt(zmq.SNDHWM, self.s.result_hwm + 64)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        if self.s.key:
            keys.client_socket(sock, self.s.key, self.s.server_key)
        # handshake failures mean a refusal only with CurveZMQ; without it they are a dispatcher that went away
        # mid-handshake (e.g. a decoder that stopped at a bad input), which its own error reports
        self.monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | (AUTH_FAILED if self.s.key else 0))
        self.refused_logged = False
        self.handshakes = 0  # connections this socket made
        sock.connect(self.url)
        self.sock = sock
        outbox.put(sock, protocol.pack(protocol.READY, {"credit": credit, "done": [], "hello": True}))
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.disable_monitor()
            self.monitor.close(linger=0)
            self.sock.close()

    def connected_again(self) -> bool:
        """Read one monitor event; True when it is a second successful handshake (say hello again)."""
        try:
            event = recv_monitor_message(self.monitor, zmq.NOBLOCK)
        except zmq.Again:
            return False
        if event["event"] & AUTH_FAILED and not self.refused_logged:
            self.refused_logged = True
            logger.error(
                "%s: the dispatcher at %s refused the connection (CurveZMQ handshake failed: is this worker's "
                "public key in its allow-list, and --server-key right?)", self.s.name, self.url,
            )
        elif event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            logger.info("%s: connected to %s", self.s.name, self.url)
            self.handshakes += 1
            return self.handshakes > 1
        return False


def reconnect(loop: Any) -> None:
    """Paranoid Pirate: the dispatcher went silent. Drop the frames not started (it re-sends them
    elsewhere), open a fresh socket (a new identity) and say hello with the credit left."""
    dropped = loop.engine.drop_pending()
    idle = dropped == 0 and loop.engine.in_progress() == 0  # e.g. between the files of a batch: nothing lost
    (logger.info if idle else logger.warning)(
        "%s: no word from the dispatcher at %s for %.0f s; reconnecting (%d queued frame(s) dropped)",
        loop.s.name, loop.ep.url, loop.hb.patience, dropped,
    )
    loop.hb.back_off()
    loop.stats.reconnects += 1
    loop.outbox.discard(loop.sock)
    loop.link.close()
    loop.sock = loop.link.open(max(0, loop.capacity - loop.engine.in_progress()), loop.outbox)


def hello_again(loop: Any) -> None:
    """The same socket connected again: the dispatcher there may not know this worker (what it held was
    re-sent anyway), so hello now, with the credit left."""
    loop.engine.drop_pending()
    loop.hb.alive()
    credit = max(0, loop.capacity - loop.engine.in_progress())
    loop.outbox.put(loop.sock, protocol.pack(protocol.READY, {"credit": credit, "done": [], "hello": True}))
