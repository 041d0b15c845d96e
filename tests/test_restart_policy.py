"""The supervisor's restart policy (pipeline/recovery.py), directly: a live run restarts a dead local worker
at most RESTARTS_MAX times in RESTARTS_WINDOW_S; a file run goes on without it only when another worker can
take its frames."""

from __future__ import annotations

from collections import deque
from types import SimpleNamespace

from gfn_stream.pipeline import recovery, supervise
from gfn_stream.pipeline.config import RunConfig


def test_restarts_are_bounded_within_the_window_and_forgotten_after_it():
    recent: deque = deque()
    for i in range(recovery.RESTARTS_MAX):
        assert recovery.restart_allowed(recent, now=100.0 + i)
        recent.append(100.0 + i)
    assert not recovery.restart_allowed(recent, now=110.0)  # five in ten seconds: the next death ends the run
    later = 100.0 + recovery.RESTARTS_WINDOW_S + 0.5  # the first restart has left the window
    assert recovery.restart_allowed(recent, now=later)
    assert len(recent) == recovery.RESTARTS_MAX - 1
    assert recovery.restart_allowed(deque(), now=0.0, most=0) is False


def test_only_a_live_run_restarts_and_only_its_own_local_workers():
    state = supervise.RunState(live=False)
    state.worker_cfgs["worker 1"] = object()
    assert not recovery.can_restart(state, "worker 1", now=1.0)  # a file run: never
    state.live = True
    assert recovery.can_restart(state, "worker 1", now=1.0)
    assert not recovery.can_restart(state, "worker 9", now=1.0)  # not one this run started
    state.restarts["worker 1"].extend([1.0] * recovery.RESTARTS_MAX)
    assert not recovery.can_restart(state, "worker 1", now=2.0)


def _procs(**exitcodes):
    return {name.replace("_", " "): SimpleNamespace(exitcode=code) for name, code in exitcodes.items()}


def test_others_can_go_on_when_another_local_worker_lives_or_remote_workers_may_join():
    cfg, state = RunConfig(), supervise.RunState()
    procs = _procs(encoder=None, worker_1=1, worker_2=None)
    assert recovery.others_can_go_on(cfg, procs, state, "worker 1")
    state.lost_workers.add("worker 2")  # lost before: it takes nothing any more
    assert not recovery.others_can_go_on(cfg, procs, state, "worker 1")
    assert not recovery.others_can_go_on(cfg, _procs(encoder=None, worker_1=1, worker_2=0), supervise.RunState(),
                                          "worker 1")  # the other one has exited too
    cfg.pipeline.listen = "tcp://127.0.0.1:5555"  # remote workers may still join
    assert recovery.others_can_go_on(cfg, _procs(encoder=None, worker_1=1), supervise.RunState(), "worker 1")
