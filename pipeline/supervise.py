"""Supervise a run's processes: read the nodes' STATUS (typed events, transport/status.py) / ERROR messages
from the control socket into the run's state, decide what a dead process means (a live run restarts a local
worker; another worker may take over its frames; else the run fails), and stop everything in order (Ctrl-C: let
the encoder close the file first).

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
from .config import RunConfig
from .node_settings import LocalWorker
from .processes import send_signal, start, worker_process
from .progress import Progress
from .worker_report import dispatch_warnings

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0  # how long nodes get to finish after SIGTERM before SIGKILL
RESTARTS_MAX = 5  # live mode: a local worker that dies is restarted, at most this often ...
RESTARTS_WINDOW_S = 600.0  # ... within this many seconds; then its death ends the run as in file mode


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


def can_restart(state: RunState, name: str, now: float | None = None) -> bool:
    """Live mode restarts a dead local worker, at most RESTARTS_MAX times in RESTARTS_WINDOW_S."""
    if not state.live or name not in state.worker_cfgs:
        return False
    return restart_allowed(state.restarts.setdefault(name, deque()), time.monotonic() if now is None else now)


def restart_allowed(recent: deque, now: float, most: int = RESTARTS_MAX, window_s: float = RESTARTS_WINDOW_S) -> bool:
    """Fewer than `most` restarts within `window_s` before `now` (`recent`: their times, oldest first; the ones
    that left the window are forgotten)."""
    while recent and now - recent[0] > window_s:
        recent.popleft()
    return len(recent) < most


def restart_worker(procs: dict, state: RunState, name: str, died: str) -> None:
    state.restarts[name].append(time.monotonic())
    state.worker_restarts += 1
    state.worker_errors.pop(name, None)
    worker = state.worker_cfgs[name]
    procs[name] = worker_process(worker.node, worker.settings)
    start({name: procs[name]})
    logger.warning("%s; restarted it (%d restart(s) in this run)", died, state.worker_restarts)


def supervise(cfg: RunConfig, control: zmq.Socket, procs: dict, progress: Progress, state: RunState) -> None:
    def handle(parts: list[bytes]) -> None:
        handle_control(parts, progress, state,
                        lambda name: can_restart(state, name) or others_can_go_on(cfg, procs, state, name))

    while True:
        if control.poll(100):
            handle(control.recv_multipart())
            if state.encoder_code is not None:
                if state.encoder_code == exitcodes.INTERRUPTED:
                    raise RunFailed("interrupted", exitcodes.INTERRUPTED)
                if state.decoded is not None and state.frames_out < state.decoded:
                    raise RunFailed(
                        f"the output holds {state.frames_out} of {state.decoded} decoded frames", exitcodes.WORKER
                    )
                return  # the output is closed: stop_all stops every node at once, the encoder's exit included
            continue
        for name, p in list(procs.items()):
            if p.exitcode is None or name in state.lost_workers:
                continue
            # drain pending reports first: a node's own error message beats "it died"
            while control.poll(200):
                handle(control.recv_multipart())
            if name == "encoder" and state.encoder_code is not None:
                break
            said = state.worker_errors.get(name)
            died = said[0] if said else f"{name} (pid {p.pid}) {describe_exit(p.exitcode)}"
            if name.startswith("worker ") and can_restart(state, name):
                # a live run keeps going: the decoder re-sends what the worker held, the new one joins
                restart_worker(procs, state, name, died)
                continue
            if name.startswith("worker ") and others_can_go_on(cfg, procs, state, name):
                # the decoder notices too (heartbeats) and sends the frames it held to the other workers
                state.lost_workers.add(name)
                state.warnings.append(f"{died}; its frames went to the other workers")
                logger.info("%s; its frames go to the other workers", died)  # the summary warns once
                continue
            raise RunFailed(died, said[1] if said else exitcodes.WORKER)


def others_can_go_on(cfg: RunConfig, procs: dict, state: RunState, name: str) -> bool:
    """A dead local worker ends the run unless another local worker lives or remote workers may join."""
    if cfg.pipeline.listen:
        return True
    return any(
        n.startswith("worker ") and n != name and n not in state.lost_workers and p.exitcode is None
        for n, p in procs.items()
    )


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
        code = int(h.get("code", exitcodes.FAILURE))
        node = h.get("node")
        if (isinstance(node, str) and node.startswith("worker ") and code == exitcodes.WORKER
                and worker_replaceable is not None and worker_replaceable(node)):
            # a worker failing on its own (a hung or failed model) while others can take its frames: it exits
            # next, and _supervise reports it as a lost worker with these words
            state.worker_errors[node] = (str(h["message"]), code)
            return
        raise RunFailed(h["message"], code)
    if msg.kind != protocol.STATUS:
        return
    try:
        report = status.decode(h)  # the typed event (transport/status.py)
    except status.StatusError as exc:
        logger.warning("bad status message: %s", exc)
        return
    if report.peak_rss_mb is not None:
        state.peak_rss_mb[report.node] = max(state.peak_rss_mb.get(report.node, 0.0), report.peak_rss_mb)
    if state.metrics is not None:
        try:
            state.metrics.update(report)
        except Exception as exc:  # metrics must never stop a run
            logger.debug("metrics update failed: %s", exc)
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


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited unexpectedly with code {code}"


def stop_for_interrupt(control: zmq.Socket, procs: dict, state: RunState) -> None:
    """Ctrl-C: stop decoding and workers, let the encoder close the file, report what it holds."""
    for name, p in procs.items():
        if name != "encoder" and p.is_alive():
            send_signal(p, signal.SIGTERM)
    enc = procs.get("encoder")
    if enc is not None and enc.is_alive():
        send_signal(enc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and not state.closed:
            if control.poll(100):
                try:
                    handle_control(control.recv_multipart(), Progress(True), state)
                except RunFailed:
                    pass
            elif not enc.is_alive():
                break


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
        try:
            handle_control(control.recv_multipart(), Progress(True), state)
        except RunFailed:
            pass
