"""The launcher: start the decoder, worker and encoder processes, wire them over ZeroMQ ipc:// endpoints in
a private temporary directory, supervise them, and clean up on success, on error and on Ctrl-C.

    decoder ──ROUTER(work)──► worker × N ──PUSH──► PULL(results) encoder
       └──────────── stream info, side packets, end of stream ───────┘
    every node ──PUSH──► PULL(control) launcher  (status, progress, errors)

The first failure stops the run: its one-line message and exit code become the run's.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from contextlib import ExitStack
from typing import TYPE_CHECKING

import zmq

from ..nodes import decoder, encoder, exitcodes
from ..nodes.node import peak_rss_mb
from . import report
from .config import RunConfig
from .live_flags import is_live_run
from .node_settings import LocalWorker, plan
from .processes import node_context, start, warm_up, worker_process
from .progress import Progress
from .recovery import stop_for_interrupt
from .report import RunResult
from .resume import ResumePlan, with_resume
from .signals import closing
from .supervise import STOP_TIMEOUT_S, RunFailed, RunState, absorb, stop_all, supervise
from .tempdirs import run_dir

if TYPE_CHECKING:
    from .pool import WorkerPool

logger = logging.getLogger(__name__)


def run(cfg: RunConfig, pool: WorkerPool | None = None, progress: Progress | None = None) -> RunResult:
    """Run one job to completion. Never raises for run failures: see RunResult.code. pool: a batch's workers
    (pipeline/batch.py), already running, used instead of starting this job's own; progress: its file bar."""
    from ..media.resume_journal import FolderBusy, ResumeError
    from . import resume

    if pool is None:
        warm_up()  # the fork server imports its modules while this job is prepared (pipeline/processes.py)
    try:  # --resume: the job's journal, created or checked against this command (pipeline/resume.py)
        resumed = resume.prepare(cfg)
    except ResumeError as exc:
        return RunResult(exitcodes.OUTPUT if isinstance(exc, FolderBusy) else exitcodes.USAGE, str(exc))
    if pool is not None:
        return resume.conclude(cfg, resumed, _run(cfg, pool.tmp, resumed, pool, progress))
    with run_dir() as tmp:  # private, locked while we run; those of dead runs are removed (pipeline/tempdirs.py)
        result = _run(cfg, str(tmp), resumed, None, progress)
    return resume.conclude(cfg, resumed, result)


def _run(cfg: RunConfig, tmp: str, resumed: ResumePlan | None = None, pool: WorkerPool | None = None,
         progress: Progress | None = None) -> RunResult:
    if pool is not None:  # a batch's job: the pool's endpoints and control socket, its workers already running
        endpoints, ctx, control = pool.endpoints, pool.ctx, pool.control
    else:
        endpoints = {name: f"ipc://{tmp}/{name}" for name in ("work", "results", "control")}
        ctx = zmq.Context()
        control = ctx.socket(zmq.PULL)
        control.setsockopt(zmq.LINGER, 0)
        control.bind(endpoints["control"])
    procs: dict[str, mp.process.BaseProcess] = {}
    own = procs  # the processes this job stops at its end (with a pool: its decoder and encoder only)
    progress = progress or Progress(cfg.quiet)
    progress.skip = resumed.done_frames if resumed else 0
    state = RunState(live=is_live_run(cfg))
    serving = ExitStack()  # --metrics-port: /metrics and /health until every node has stopped (finally)
    try:
        if cfg.live.metrics_port:
            from .metrics import serve_metrics

            serving.enter_context(serve_metrics(cfg.live, state))
        procs = _start_nodes(cfg, endpoints, state.live, state.worker_cfgs, resumed, pool)
        own = {name: p for name, p in procs.items() if pool is None or name in ("encoder", "decoder")}
        supervise(cfg, control, procs, progress, state)
        closing()  # the output is complete: a Ctrl-C from now on changes nothing
        seconds = progress.elapsed()
        stop_all(own, control, state)  # workers report their final numbers as they stop
        state.peak_rss_mb["launcher"] = peak_rss_mb()
        return RunResult(exitcodes.OK, "", state.frames_out, seconds, state.warnings, state.peak_rss_mb,
                         state.first_frame_s, report.live_summary(state), state.input)
    except KeyboardInterrupt:
        closing()  # a second Ctrl-C must not break the clean-up (pipeline/signals.py)
        progress.close()
        stop_for_interrupt(control, procs, state, lambda parts: absorb(parts, state), STOP_TIMEOUT_S)
        return report.interrupted(cfg, state, progress.elapsed())
    except RunFailed as exc:
        closing()
        progress.close()
        stop_all(own, control, state)
        return report.failed(cfg, state, exc, progress.elapsed())
    finally:
        closing()
        progress.close()
        stop_all(own, control, state)
        serving.close()
        if pool is not None:
            pool.adopt(procs)  # a live run may have restarted a worker
        if pool is None:
            control.close()
            ctx.destroy(linger=0)  # every node is stopped: nothing left to deliver, nothing may block the exit


def _start_nodes(
    cfg: RunConfig, ep: dict[str, str], live: bool = False, workers: dict[str, LocalWorker] | None = None,
    resumed: ResumePlan | None = None, pool: WorkerPool | None = None,
) -> dict[str, mp.process.BaseProcess]:
    """Start encoder, workers and decoder with their settings (pipeline/node_settings.py); `workers` gets each
    local worker's (for restarts)."""
    spawn = node_context()
    nodes = with_resume(plan(cfg, ep, live), resumed)
    procs: dict[str, mp.process.BaseProcess] = {}
    procs["encoder"] = spawn.Process(target=encoder.main, args=(nodes.node("encoder"), nodes.encoder),
                                     name="gfn-encoder", daemon=True)
    for w in nodes.workers if pool is None else ():
        procs[w.node.name] = worker_process(w.node, w.settings)
        if workers is not None:
            workers[w.node.name] = w
    procs["decoder"] = spawn.Process(target=decoder.main, args=(nodes.node("decoder"), nodes.decoder),
                                     name="gfn-decoder", daemon=True)
    start(procs)
    if pool is not None:  # the batch's workers: supervised (and, in a live run, restarted) with this job's nodes
        procs.update(pool.procs)
        if workers is not None:
            workers.update(pool.workers)
    return procs


