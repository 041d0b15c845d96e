"""What a dead process means, and Ctrl-C: the supervisor (supervise.py) reads the nodes' reports and asks here
when a node exits before the end. A live run restarts a dead local worker (at most RESTARTS_MAX times in
RESTARTS_WINDOW_S); a worker whose frames another worker (local, or remote with --listen) can take is lost and
the run goes on; anything else fails the run with the node's own words or how it exited. A plain file job whose
processes all live to the end runs none of this (Ctrl-C aside).

    failure = after_death(cfg, procs, state, name, proc)   # None: restarted or lost, the run goes on
"""

from __future__ import annotations

import logging
import signal
import time
from collections import deque
from typing import Any, Callable

import zmq

from ..nodes import exitcodes
from .config import RunConfig
from .processes import send_signal, start, worker_process

logger = logging.getLogger(__name__)

RESTARTS_MAX = 5  # live mode: a local worker that dies is restarted, at most this often ...
RESTARTS_WINDOW_S = 600.0  # ... within this many seconds; then its death ends the run as in file mode


def after_death(cfg: RunConfig, procs: dict, state: Any, name: str, proc: Any) -> tuple[str, int] | None:
    """A node exited before the end: restart it (a live run's worker), let the other workers take its frames (None
    for both), or the run's failure (message, exit code). `state`: the run's supervise.RunState."""
    said = state.worker_errors.get(name)
    died = said[0] if said else f"{name} (pid {proc.pid}) {describe_exit(proc.exitcode)}"
    if name.startswith("worker ") and can_restart(state, name):
        # a live run keeps going: the decoder re-sends what the worker held, the new one joins
        restart_worker(procs, state, name, died)
        return None
    if name.startswith("worker ") and others_can_go_on(cfg, procs, state, name):
        # the decoder notices too (heartbeats) and sends the frames it held to the other workers
        state.lost_workers.add(name)
        state.warnings.append(f"{died}; its frames went to the other workers")
        logger.info("%s; its frames go to the other workers", died)  # the summary warns once
        return None
    return died, said[1] if said else exitcodes.WORKER


def after_exit(cfg: RunConfig, control: zmq.Socket, procs: dict, state: Any, name: str,
               handle: Callable[[list[bytes]], None]) -> tuple[str, int] | None:
    """Node `name` has exited: the reports still on the control socket first (`handle`: a node's own error message
    beats "it died"), then after_death() unless it was the encoder that closed the output."""
    while control.poll(200):
        handle(control.recv_multipart())
    if name == "encoder" and state.encoder_code is not None:
        return None
    return after_death(cfg, procs, state, name, procs[name])


def worker_can_fail(header: dict, state: Any, replaceable: Callable[[str], bool] | None) -> bool:
    """An ERROR from a worker failing on its own (a hung or failed model) while others can take its frames: kept
    as its last words (it exits next and after_death() reports it as a lost worker); False for any other ERROR,
    which fails the run."""
    node, code = header.get("node"), int(header.get("code", exitcodes.FAILURE))
    if not (isinstance(node, str) and node.startswith("worker ") and code == exitcodes.WORKER
            and replaceable is not None and replaceable(node)):
        return False
    state.worker_errors[node] = (str(header["message"]), code)
    return True


def replaceable(cfg: RunConfig, procs: dict, state: Any) -> Callable[[str], bool]:
    """Whether a worker that reports its own failure can be done without (restarted, or its frames taken)."""
    return lambda name: can_restart(state, name) or others_can_go_on(cfg, procs, state, name)


def can_restart(state: Any, name: str, now: float | None = None) -> bool:
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


def restart_worker(procs: dict, state: Any, name: str, died: str) -> None:
    state.restarts[name].append(time.monotonic())
    state.worker_restarts += 1
    state.worker_errors.pop(name, None)
    worker = state.worker_cfgs[name]
    procs[name] = worker_process(worker.node, worker.settings)
    start({name: procs[name]})
    logger.warning("%s; restarted it (%d restart(s) in this run)", died, state.worker_restarts)


def others_can_go_on(cfg: RunConfig, procs: dict, state: Any, name: str) -> bool:
    """A dead local worker ends the run unless another local worker lives or remote workers may join."""
    if cfg.pipeline.listen:
        return True
    return any(
        n.startswith("worker ") and n != name and n not in state.lost_workers and p.exitcode is None
        for n, p in procs.items()
    )


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited unexpectedly with code {code}"


def stop_for_interrupt(control: zmq.Socket, procs: dict, state: Any, absorb: Callable[[list[bytes]], None],
                       timeout_s: float) -> None:
    """Ctrl-C: stop decoding and workers, let the encoder close the file (its reports go to `absorb`, until
    state.closed), so that the run can say what the file holds."""
    for name, p in procs.items():
        if name != "encoder" and p.is_alive():
            send_signal(p, signal.SIGTERM)
    enc = procs.get("encoder")
    if enc is not None and enc.is_alive():
        send_signal(enc, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not state.closed:
            if control.poll(100):
                absorb(control.recv_multipart())
            elif not enc.is_alive():
                break
