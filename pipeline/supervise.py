"""Supervise a run's processes: read the nodes' STATUS (typed events, transport/status.py) / ERROR messages
from the control socket into the run's state until the encoder reports its output closed, and stop everything.
What a process that dies before that means (restart, hand over, fail), and Ctrl-C: recovery.py.

The first failure raises RunFailed: its one-line message and exit code become the run's.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import zmq

from ..nodes import exitcodes
from ..transport import protocol, status
from . import recovery
from .config import RunConfig
from .node_settings import LocalWorker
from .processes import send_signal
from .progress import Progress
from .worker_report import dispatch_warnings

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0  # how long nodes get to finish after SIGTERM before SIGKILL


class RunFailed(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


@dataclass
class RunState:
    total: int | None = None
    frames_out: int = 0
    decoded: int | None = None
    closed: bool = False
    output_at: str | None = None  # the file that holds the frames, as the encoder's close reported it
    encoder_code: int | None = None
    warnings: list[str] = field(default_factory=list)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    first_frame_s: float | None = None
    lost_workers: set[str] = field(default_factory=set)  # local workers that died while others went on
    # a local worker's own last words (message, exit code) for a failure other workers can take over from
    worker_errors: dict[str, tuple[str, int]] = field(default_factory=dict)
    worker_cfgs: dict[str, LocalWorker] = field(default_factory=dict)  # how each local worker was started
    restarts: dict[str, deque] = field(default_factory=dict)  # live mode: when each local worker was restarted
    worker_restarts: int = 0
    live: bool = False
    live_stats: status.Live = field(default_factory=status.Live)  # the decoder's latest "live" report
    input: dict[str, Any] = field(default_factory=dict)  # the decoder's accounting of a file input
    latency_max_s: float = 0.0
    metrics: Any = None


def supervise(cfg: RunConfig, control: zmq.Socket, procs: dict, progress: Progress, state: RunState) -> None:
    worker_replaceable = recovery.replaceable(cfg, procs, state)

    def handle(parts: list[bytes]) -> None:
        handle_control(parts, progress, state, worker_replaceable)

    while state.encoder_code is None:  # until the encoder has closed the output (also read while a death is looked at)
        if control.poll(100):
            handle(control.recv_multipart())
            continue
        dead = [name for name, p in procs.items() if p.exitcode is not None and name not in state.lost_workers]
        failure = recovery.after_exit(cfg, control, procs, state, dead[0], handle) if dead else None
        if failure is not None:
            raise RunFailed(*failure)
    if state.encoder_code == exitcodes.INTERRUPTED:
        raise RunFailed("interrupted", exitcodes.INTERRUPTED)
    if state.decoded is not None and state.frames_out < state.decoded:
        raise RunFailed(f"the output holds {state.frames_out} of {state.decoded} decoded frames", exitcodes.WORKER)
    # the output is closed: stop_all stops every node at once, the encoder's exit included


def handle_control(
    parts: list[bytes], progress: Progress, state: RunState, worker_replaceable: Callable[[str], bool] | None = None
) -> None:
    try:
        msg = protocol.unpack(parts)
    except protocol.ProtocolError as exc:
        logger.warning("bad control message: %s", exc)
        return
    h = msg.header
    if msg.kind == protocol.ERROR:
        if not recovery.worker_can_fail(h, state, worker_replaceable):  # else the run goes on without it
            raise RunFailed(h["message"], int(h.get("code", exitcodes.FAILURE)))
        return
    if msg.kind != protocol.STATUS:
        return
    try:
        report = status.decode(h)  # the typed event (transport/status.py)
    except status.StatusError as exc:
        logger.warning("bad status message: %s", exc)
        return
    if report.peak_rss_mb is not None:
        state.peak_rss_mb[report.node] = max(state.peak_rss_mb.get(report.node, 0.0), report.peak_rss_mb)
    if state.metrics is not None:  # --metrics-port (pipeline/metrics.py)
        state.metrics.update(report)
    ev = report.event
    if isinstance(ev, status.Live):
        state.live_stats = ev
        logger.info("live: %s", {k: getattr(ev, k) for k in ("frames_in", "sent", "dropped", "latency_dropped",
                                                                 "reconnects")})
    elif isinstance(ev, status.Info):
        state.total = ev.info.get("frames")
        progress.set_total(state.total)
        logger.info("input: %s", ev.info)
    elif isinstance(ev, status.Progress):
        if ev.latency_s:
            state.latency_max_s = max(state.latency_max_s, max(ev.latency_s))
        state.frames_out = ev.frames
        if state.frames_out and state.first_frame_s is None:
            state.first_frame_s = time.monotonic() - state.started
        progress.update(state.frames_out)
    elif isinstance(ev, status.Decoded):
        state.decoded = ev.frames
        state.input = ev.input or {}
        state.warnings.extend(ev.warnings)
        if ev.bad_messages:
            state.warnings.append(f"decoder dropped {ev.bad_messages} bad message(s)")
        state.warnings.extend(dispatch_warnings(ev))
    elif isinstance(ev, status.Closed):
        state.closed = True
        state.output_at = ev.output
        state.frames_out = ev.frames
        progress.update(state.frames_out)
        state.warnings.extend(ev.warnings)
        if ev.complete:
            state.encoder_code = exitcodes.OK
        elif ev.interrupted:
            state.encoder_code = exitcodes.INTERRUPTED
        # otherwise the encoder failed: its ERROR message follows
    elif isinstance(ev, status.Ready):
        logger.info("%s ready on %s (%s, %s)", report.node, ev.device, ev.model, ev.precision)


def stop_all(procs: dict, control: zmq.Socket, state: RunState) -> None:
    alive = [p for p in procs.values() if p.is_alive()]
    for p in alive:
        send_signal(p, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for p in alive:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            logger.warning("%s did not stop in time; killing it", p.name)
            p.kill()
            p.join(2)
    while control.poll(0):  # keep the frame count of a closing encoder
        absorb(control.recv_multipart(), state)


def absorb(parts: list[bytes], state: RunState) -> None:
    """A report read while stopping: counted into the state, a failure no longer raised."""
    try:
        handle_control(parts, Progress(True), state)
    except RunFailed:
        pass
