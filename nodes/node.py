"""What every node process shares: one ZeroMQ context made after spawn, role-named sockets with LINGER,
SIGTERM → a clean stop flag, and status reports to the launcher over a PUSH socket (JSON, no pickle)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from typing import Any, Callable

import zmq

from ..transport import protocol
from ..transport.status import Event, encode
from . import exitcodes
from .parent_watch import LAUNCHER_GONE, die_with_parent
from .settings import NodeSettings

logger = logging.getLogger(__name__)

LINGER_MS = 2000  # how long close() may wait to deliver queued messages


class StopFlag:
    """Set by SIGTERM (and by the node itself); polled by node loops."""

    def __init__(self) -> None:
        self.set = False
        self.reason = ""
        self.parent: int | None = None  # the launcher's pid, for a node it started

    def __call__(self, signum: int, _frame: Any) -> None:
        self.set = True
        gone = self.parent is not None and os.getppid() != self.parent  # PR_SET_PDEATHSIG: the launcher died
        self.reason = LAUNCHER_GONE if gone else signal.Signals(signum).name

    @property
    def abandoned(self) -> bool:
        """The launcher is gone: nobody takes this node's output any more, so there is nothing to finish."""
        return self.reason == LAUNCHER_GONE


def socket(ctx: zmq.Context, kind: int, *, hwm: int | None = None, linger: int = LINGER_MS) -> zmq.Socket:
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, linger)
    if hwm is not None:
        s.setsockopt(zmq.SNDHWM, hwm)
        s.setsockopt(zmq.RCVHWM, hwm)
    return s


class Reporter:
    """Sends STATUS (typed events, transport/status.py) / ERROR messages to the launcher's control endpoint
    (None = log only)."""

    def __init__(self, ctx: zmq.Context, endpoint: str | None, node: str):
        self.node = node
        self.sock = None
        if endpoint:
            self.sock = socket(ctx, zmq.PUSH)
            self.sock.connect(endpoint)

    def status(self, event: Event) -> None:
        """Report a typed event (transport/status.py); every report carries the process's peak memory so far."""
        if self.sock is not None:
            self.sock.send_multipart(protocol.pack(protocol.STATUS, encode(self.node, event, peak_rss_mb())))

    def error(self, message: str, code: int) -> None:
        if self.sock is not None:
            fields = {"node": self.node, "message": message, "code": code}
            self.sock.send_multipart(protocol.pack(protocol.ERROR, fields))

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
        stream=sys.stderr,
    )


def node_main(name: str, body: Callable[[zmq.Context, Reporter, StopFlag], int], node: NodeSettings) -> None:
    """Entry point of a node process (`name`: its role, for logs): signals, context, reporter, error → exit code.
    Never returns."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the launcher's to handle
    stop = StopFlag()
    signal.signal(signal.SIGTERM, stop)
    configure_logging(node.log_level)
    if node.control:  # a pipeline node: never outlive the launcher (e.g. when it is SIGKILLed)
        stop.parent = os.getppid()
        die_with_parent(stop, exitcodes.INTERRUPTED)
    code = 0
    ctx = zmq.Context()
    reporter = Reporter(ctx, node.control, node.name)
    try:
        code = body(ctx, reporter, stop)
    except NodeError as exc:
        logger.debug("%s: node error", name, exc_info=True)
        reporter.error(str(exc), exc.code)
        code = exc.code
    except Exception as exc:  # report, never die silently
        logger.debug("%s: unexpected failure", name, exc_info=True)
        reporter.error(f"{name}: {type(exc).__name__}: {exc}", 1)
        if node.log_level == "debug":
            traceback.print_exc()
        code = 1
    finally:
        if not stop.abandoned:  # the launcher gone: queued messages have no one to go to, do not linger on them
            reporter.close()
            # destroy, not term: a socket some thread left open (a hung model's engine) must not block the exit
            ctx.destroy(linger=LINGER_MS)
    logger.debug("%s: exiting with code %d (%s)", name, code, stop.reason or "done")
    sys.stdout.flush()
    os._exit(code)


class NodeError(Exception):
    """A failure a node reports in one line, with the exit code the launcher passes on."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB: VmHWM (reset by exec, unlike ru_maxrss which a spawned
    child inherits from its parent), falling back to ru_maxrss where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

