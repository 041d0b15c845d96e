"""A batch's local workers (pipeline/batch.py): started once, their model loaded once, and the sockets they talk
to (work, results, control) kept across the batch's jobs (pipeline/run.py run(cfg, pool=...))."""

from __future__ import annotations

import logging
import multiprocessing as mp

import zmq

from .config import RunConfig
from .node_settings import LocalWorker, plan
from .processes import start, worker_process
from .supervise import RunState, stop_all
from .tempdirs import run_dir

logger = logging.getLogger(__name__)


class WorkerPool:
    """The batch's local workers and the sockets they talk to (work, results, control), kept across its jobs.

    Each job binds its own decoder (work) and encoder (results) on the pool's ipc:// endpoints; the workers'
    sockets reconnect to them, and a worker says hello again as its socket reconnects (nodes/dealer_link.py). A
    worker that died during a job is started again before the next one."""

    def __init__(self, cfg: RunConfig):
        self._dir_cm = run_dir()
        self.tmp = str(self._dir_cm.__enter__())
        self.endpoints = {name: f"ipc://{self.tmp}/{name}" for name in ("work", "results", "control")}
        self.ctx = zmq.Context()
        self.control = self.ctx.socket(zmq.PULL)
        self.control.setsockopt(zmq.LINGER, 0)
        self.control.bind(self.endpoints["control"])
        self.workers: dict[str, LocalWorker] = {w.node.name: w for w in plan(cfg, self.endpoints, False).workers}
        self.procs: dict[str, mp.process.BaseProcess] = {}
        self.ensure()

    def ensure(self) -> None:
        """Start every local worker that is not running (all of them the first time)."""
        dead = {name: w for name, w in self.workers.items()
                if name not in self.procs or self.procs[name].exitcode is not None}
        fresh = {name: worker_process(w.node, w.settings) for name, w in dead.items()}
        if fresh:
            start(fresh)
            self.procs.update(fresh)

    def adopt(self, procs: dict[str, mp.process.BaseProcess]) -> None:
        """A job's worker processes (a live run may have restarted one) are the pool's from now on."""
        self.procs.update({name: p for name, p in procs.items() if name in self.workers})

    def close(self) -> None:
        try:
            stop_all(self.procs, self.control, RunState())
        finally:
            self.control.close()
            self.ctx.destroy(linger=0)
            self._dir_cm.__exit__(None, None, None)
