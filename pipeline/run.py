"""The launcher: start the decoder, worker and encoder processes, wire them over ZeroMQ ipc:// endpoints in
a private temporary directory, supervise them, and clean up on success, on error and on Ctrl-C.

    decoder ──ROUTER(work)──► worker × N ──PUSH──► PULL(results) encoder
       └──────────── stream info, side packets, end of stream ───────┘
    every node ──PUSH──► PULL(control) launcher  (status, progress, errors)

The first failure stops the run: its one-line message and exit code become the run's.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing as mp
import os

import zmq

from ..nodes import decoder, encoder, exitcodes
from ..nodes.node import peak_rss_mb
from .config import RunConfig
from .picture import frame_plan
from .processes import cuda_device_count, default_workers, start, worker_devices, worker_process
from .progress import Progress
from .report import RunResult, held_output, live_summary
from .resume import ResumePlan
from .signals import closing
from .supervise import RunFailed, RunState, stop_all, stop_for_interrupt, supervise
from .tempdirs import run_dir

logger = logging.getLogger(__name__)


def run(cfg: RunConfig) -> RunResult:
    """Run one job to completion. Never raises for run failures: see RunResult.code."""
    from ..media.resume_journal import FolderBusy, ResumeError
    from . import resume

    try:  # --resume: the job's journal, created or checked against this command (pipeline/resume.py)
        resumed = resume.prepare(cfg)
    except ResumeError as exc:
        return RunResult(exitcodes.OUTPUT if isinstance(exc, FolderBusy) else exitcodes.USAGE, str(exc))
    with run_dir() as tmp:  # private, locked while we run; those of dead runs are removed (pipeline/tempdirs.py)
        result = _run(cfg, str(tmp), resumed)
    return resume.conclude(cfg, resumed, result)


def _run(cfg: RunConfig, tmp: str, resumed: ResumePlan | None = None) -> RunResult:
    endpoints = {name: f"ipc://{tmp}/{name}" for name in ("work", "results", "control")}
    ctx = zmq.Context()
    control = ctx.socket(zmq.PULL)
    control.setsockopt(zmq.LINGER, 0)
    control.bind(endpoints["control"])
    procs: dict[str, mp.process.BaseProcess] = {}
    progress = Progress(cfg.quiet)
    progress.skip = resumed.done_frames if resumed else 0
    state = RunState(live=is_live_run(cfg))
    metrics_server = None
    try:
        if cfg.live.metrics_port:
            from .metrics import Metrics

            state.metrics = Metrics()
            try:
                metrics_server = state.metrics.start_http(cfg.live.metrics_port, addr=cfg.live.metrics_addr)
            except OSError as exc:
                raise RunFailed(f"cannot serve metrics on port {cfg.live.metrics_port}: {exc.strerror}",
                                exitcodes.USAGE)
        procs = _start_nodes(cfg, endpoints, state.live, state.worker_cfgs, resumed)
        supervise(cfg, control, procs, progress, state)
        closing()  # the output is complete: a Ctrl-C from now on changes nothing
        seconds = progress.elapsed()
        stop_all(procs, control, state)  # workers report their final numbers as they stop
        state.peak_rss_mb["launcher"] = peak_rss_mb()
        return RunResult(
            exitcodes.OK, "", state.frames_out, seconds, state.warnings, state.peak_rss_mb, state.first_frame_s,
            live_summary(state), state.input,
        )
    except KeyboardInterrupt:
        closing()  # a second Ctrl-C must not break the clean-up (pipeline/signals.py)
        progress.close()
        stop_for_interrupt(control, procs, state)
        if state.live:  # stopping a live run is the normal way to end it
            return RunResult(exitcodes.OK, "", state.frames_out, progress.elapsed(), state.warnings,
                             state.peak_rss_mb, state.first_frame_s, live_summary(state))
        return RunResult(
            exitcodes.INTERRUPTED,
            f"interrupted: {cfg.output} holds the first {state.frames_out} frame(s)",
            state.frames_out,
            progress.elapsed(),
            state.warnings,
        )
    except RunFailed as exc:
        closing()
        progress.close()
        stop_all(procs, control, state)
        held = held_output(cfg, state, str(exc))
        return RunResult(exc.code, f"{exc}{held}", state.frames_out, progress.elapsed(), state.warnings,
                         input=state.input)
    finally:
        closing()
        progress.close()
        stop_all(procs, control, state)
        if state.metrics is not None:
            state.metrics.finish()
        if metrics_server is not None:
            metrics_server.close()
        control.close()
        ctx.destroy(linger=0)  # every node is stopped by now: nothing left to deliver, and nothing may block the exit


def is_live_run(cfg: RunConfig) -> bool:
    """Live mode: forced with --live, or chosen for live URLs and V4L2 devices (unless --no-live)."""
    if cfg.live.live is not None:
        return cfg.live.live
    from ..media.live_spec import is_live_spec

    return is_live_spec(cfg.input)


def _start_nodes(
    cfg: RunConfig, ep: dict[str, str], live: bool = False, worker_cfgs: dict[str, dict] | None = None,
    resumed: ResumePlan | None = None,
) -> dict[str, mp.process.BaseProcess]:
    """Start encoder, workers and decoder; `worker_cfgs` gets each local worker's settings (for restarts)."""
    spawn = mp.get_context("spawn")
    common = {"control": ep["control"], "log_level": cfg.log_level}
    n_workers = default_workers() if cfg.pipeline.workers is None else cfg.pipeline.workers
    encode = dataclasses.asdict(cfg.encode)
    max_inflight = cfg.pipeline.max_inflight
    if live:
        # latency over throughput: a frame waits in no queue but the camera's newest-frame slot
        max_inflight = max(1, min(max_inflight, max(1, n_workers) * cfg.model.batch))
        if encode.get("tune") is None and encode["codec"] in ("libx264", "libx265"):
            encode["tune"] = "zerolatency"
    procs: dict[str, mp.process.BaseProcess] = {}
    enc_cfg = {
        **common,
        "results": ep["results"],
        "output": cfg.output,
        "overwrite": cfg.overwrite,
        "encode": {**encode, "quiet": cfg.quiet},
        "start_number": cfg.start_number,
        "eos_grace_s": cfg.pipeline.eos_grace_s,
        "segment_s": cfg.live.segment_s,
        "resume": resumed.folder if resumed else None,  # --resume: the chunk folder (media/chunk_sink.py)
        "resume_done": resumed.done_frames if resumed else 0,
    }
    procs["encoder"] = spawn.Process(target=encoder.main, args=(enc_cfg,), name="gfn-encoder", daemon=True)
    devices = worker_devices(cfg.model.device, n_workers)
    cpu_threads = None  # several CPU workers share the cores instead of each spinning on all of them
    if n_workers > 1 and (cfg.model.device == "cpu" or (cfg.model.device == "auto" and cuda_device_count() == 0)):
        cpu_threads = max(1, (os.cpu_count() or 1) // n_workers)
    for i in range(n_workers):
        w_cfg = {**common, "work": ep["work"], "results": ep["results"], **dataclasses.asdict(cfg.model)}
        w_cfg["device"] = devices[i]
        w_cfg["name"] = f"worker {i + 1}"
        w_cfg.update(heartbeat_s=cfg.pipeline.heartbeat_s, liveness=cfg.pipeline.liveness, drain_s=1.0,
                     threads=cpu_threads, stall_s=cfg.pipeline.stall_s, stall_factor=cfg.pipeline.stall_factor)
        procs[f"worker {i + 1}"] = worker_process(w_cfg)
        if worker_cfgs is not None:
            worker_cfgs[w_cfg["name"]] = w_cfg
    dec_cfg = {
        **common,
        "work": ep["work"],
        "results": ep["results"],
        "input": cfg.input,
        "output": cfg.output,  # with the codec: how large a frame the output can take (media/size_limits.py)
        "codec": cfg.encode.codec,
        "max_inflight": max_inflight,
        "window": max(cfg.pipeline.window, max_inflight),
        "live_settings": {**dataclasses.asdict(cfg.live), "live": cfg.live.live},
        "max_latency_s": cfg.live.max_latency_s if live else None,
        "threads": cfg.pipeline.threads,
        **{k: getattr(cfg.pipeline, k) for k in ("listen", "key", "allow", "heartbeat_s", "liveness", "worker_wait_s",
                                                 "answer_timeout_s", "answer_factor")},
        "local_workers": n_workers,
        "plan": frame_plan(cfg),
        "skip_frames": resumed.done_frames if resumed else 0,  # --resume: the frames of the finished chunks
    }
    procs["decoder"] = spawn.Process(target=decoder.main, args=(dec_cfg,), name="gfn-decoder", daemon=True)
    start(procs)
    return procs


