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
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import zmq

from ..media.output_file import partial_path
from ..nodes import decoder, encoder, exitcodes, worker
from ..nodes.node import peak_rss_mb
from ..transport import protocol
from .config import RunConfig
from .progress import Progress
from .signals import closing
from .tempdirs import run_dir
from .worker_report import dispatch_warnings

log = logging.getLogger("gfn_stream.run")
STOP_TIMEOUT_S = 10.0  # how long nodes get to finish after SIGTERM before SIGKILL
RESTARTS_MAX = 5  # live mode: a local worker that dies is restarted, at most this often ...
RESTARTS_WINDOW_S = 600.0  # ... within this many seconds; then its death ends the run as in file mode


@dataclass
class RunResult:
    code: int
    message: str
    frames: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)  # per node process, and the launcher
    first_frame_s: float | None = None  # from the start of the run to the first frame written
    live: dict[str, Any] = field(default_factory=dict)  # live runs: frames in, dropped, reconnects, latency
    input: dict[str, Any] = field(default_factory=dict)  # file inputs: packets, corrupt, missing, dropped frames


class RunFailed(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def cuda_device_count() -> int:
    """CUDA GPUs visible here; torch is only imported where an NVIDIA driver is present (start-up, memory)."""
    if not (os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia")):
        return 0
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:
        return 0


def default_workers() -> int:
    return max(1, cuda_device_count())


def run(cfg: RunConfig) -> RunResult:
    """Run one job to completion. Never raises for run failures: see RunResult.code."""
    with run_dir() as tmp:  # private, locked while we run; those of dead runs are removed (pipeline/tempdirs.py)
        return _run(cfg, str(tmp))


def _run(cfg: RunConfig, tmp: str) -> RunResult:
    endpoints = {name: f"ipc://{tmp}/{name}" for name in ("work", "results", "control")}
    ctx = zmq.Context()
    control = ctx.socket(zmq.PULL)
    control.setsockopt(zmq.LINGER, 0)
    control.bind(endpoints["control"])
    procs: dict[str, mp.process.BaseProcess] = {}
    progress = Progress(cfg.quiet)
    state = _State(live=is_live_run(cfg))
    metrics_server = None
    try:
        if cfg.live.metrics_port:
            from .metrics import Metrics

            state.metrics = Metrics()
            try:
                metrics_server = state.metrics.start_http(cfg.live.metrics_port, addr=cfg.live.metrics_addr)
            except OSError as exc:
                raise RunFailed(f"cannot serve metrics on port {cfg.live.metrics_port}: {exc.strerror}", exitcodes.USAGE)
        procs = _start_nodes(cfg, endpoints, state.live, state.worker_cfgs)
        _supervise(cfg, control, procs, progress, state)
        closing()  # the output is complete: a Ctrl-C from now on changes nothing
        seconds = progress.elapsed()
        _stop_all(procs, control, state)  # workers report their final numbers as they stop
        state.peak_rss_mb["launcher"] = peak_rss_mb()
        return RunResult(
            exitcodes.OK, "", state.frames_out, seconds, state.warnings, state.peak_rss_mb, state.first_frame_s,
            _live_summary(state), state.input,
        )
    except KeyboardInterrupt:
        closing()  # a second Ctrl-C must not break the clean-up (pipeline/signals.py)
        progress.close()
        _stop_for_interrupt(control, procs, state)
        if state.live:  # stopping a live run is the normal way to end it
            return RunResult(exitcodes.OK, "", state.frames_out, progress.elapsed(), state.warnings,
                             state.peak_rss_mb, state.first_frame_s, _live_summary(state))
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
        _stop_all(procs, control, state)
        held = _held(cfg, state, str(exc))
        return RunResult(exc.code, f"{exc}{held}", state.frames_out, progress.elapsed(), state.warnings,
                         input=state.input)
    finally:
        closing()
        progress.close()
        _stop_all(procs, control, state)
        if state.metrics is not None:
            state.metrics.finish()
        if metrics_server is not None:
            metrics_server.close()
        control.close()
        ctx.term()


@dataclass
class _State:
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
    worker_cfgs: dict[str, dict] = field(default_factory=dict)  # how each local worker was started
    restarts: dict[str, deque] = field(default_factory=dict)  # live mode: when each local worker was restarted
    worker_restarts: int = 0
    live: bool = False
    live_stats: dict[str, Any] = field(default_factory=dict)  # the decoder's latest "live" report
    input: dict[str, Any] = field(default_factory=dict)  # the decoder's accounting of a file input
    latency_max_s: float = 0.0
    metrics: Any = None


def _live_summary(state: _State) -> dict[str, Any]:
    if not state.live:
        return {}
    ls = state.live_stats
    dropped = dict(ls.get("dropped") or {})
    if ls.get("latency_dropped"):
        dropped["latency"] = ls["latency_dropped"]
    return {
        "frames_in": ls.get("frames_in", 0),
        "frames_sent": ls.get("sent", 0),
        "frames_out": state.frames_out,
        "dropped": dropped,
        "reconnects": ls.get("reconnects", 0),
        "worker_restarts": state.worker_restarts,
        "max_latency_s": round(state.latency_max_s, 3),
    }


def is_live_run(cfg: RunConfig) -> bool:
    """Live mode: forced with --live, or chosen for live URLs and V4L2 devices (unless --no-live)."""
    if cfg.live.live is not None:
        return cfg.live.live
    from ..media.live_spec import is_live_spec

    return is_live_spec(cfg.input)


def _start_nodes(
    cfg: RunConfig, ep: dict[str, str], live: bool = False, worker_cfgs: dict[str, dict] | None = None
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
    }
    procs["encoder"] = spawn.Process(target=encoder.main, args=(enc_cfg,), name="gfn-encoder", daemon=True)
    devices = _worker_devices(cfg.model.device, n_workers)
    cpu_threads = None  # several CPU workers share the cores instead of each spinning on all of them
    if n_workers > 1 and (cfg.model.device == "cpu" or (cfg.model.device == "auto" and cuda_device_count() == 0)):
        cpu_threads = max(1, (os.cpu_count() or 1) // n_workers)
    for i in range(n_workers):
        w_cfg = {**common, "work": ep["work"], "results": ep["results"], **dataclasses.asdict(cfg.model)}
        w_cfg["device"] = devices[i]
        w_cfg["name"] = f"worker {i + 1}"
        w_cfg.update(heartbeat_s=cfg.pipeline.heartbeat_s, liveness=cfg.pipeline.liveness, drain_s=1.0, threads=cpu_threads,
                     stall_s=cfg.pipeline.stall_s, stall_factor=cfg.pipeline.stall_factor)
        procs[f"worker {i + 1}"] = _worker_process(w_cfg)
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
    }
    procs["decoder"] = spawn.Process(target=decoder.main, args=(dec_cfg,), name="gfn-decoder", daemon=True)
    _start(procs)
    return procs


def _worker_process(w_cfg: dict) -> mp.process.BaseProcess:
    number = w_cfg["name"].split()[-1]
    return mp.get_context("spawn").Process(target=worker.main, args=(w_cfg,), name=f"gfn-worker-{number}", daemon=True)


def _start(procs: dict[str, mp.process.BaseProcess]) -> None:
    # Children start with SIGINT ignored (kept across exec), so a Ctrl-C in the terminal reaches only the
    # launcher, which then stops the nodes in order; restored for the launcher itself right after.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for name, p in procs.items():
            p.start()
            log.info("started %s (pid %d)", name, p.pid)
    finally:
        signal.signal(signal.SIGINT, previous)


def _can_restart(state: _State, name: str) -> bool:
    """Live mode restarts a dead local worker, at most RESTARTS_MAX times in RESTARTS_WINDOW_S."""
    if not state.live or name not in state.worker_cfgs:
        return False
    recent = state.restarts.setdefault(name, deque())
    while recent and time.monotonic() - recent[0] > RESTARTS_WINDOW_S:
        recent.popleft()
    return len(recent) < RESTARTS_MAX


def _restart_worker(procs: dict, state: _State, name: str, died: str) -> None:
    state.restarts[name].append(time.monotonic())
    state.worker_restarts += 1
    state.worker_errors.pop(name, None)
    procs[name] = _worker_process(state.worker_cfgs[name])
    _start({name: procs[name]})
    log.warning("%s; restarted it (%d restart(s) in this run)", died, state.worker_restarts)


def _worker_devices(device: str, n: int) -> list[str]:
    """Spread workers over CUDA GPUs when the device is 'auto' or 'cuda' and there are several."""
    if device in ("auto", "cuda"):
        count = cuda_device_count()
        if count > 1:
            return [f"cuda:{i % count}" for i in range(n)]
    return [device] * n


def _supervise(cfg: RunConfig, control: zmq.Socket, procs: dict, progress: Progress, state: _State) -> None:
    def handle(parts: list[bytes]) -> None:
        _handle_control(parts, progress, state,
                        lambda name: _can_restart(state, name) or _others_can_go_on(cfg, procs, state, name))

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
                procs["encoder"].join(STOP_TIMEOUT_S)
                return
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
            died = said[0] if said else f"{name} (pid {p.pid}) {_describe_exit(p.exitcode)}"
            if name.startswith("worker ") and _can_restart(state, name):
                # a live run keeps going: the decoder re-sends what the worker held, the new one joins
                _restart_worker(procs, state, name, died)
                continue
            if name.startswith("worker ") and _others_can_go_on(cfg, procs, state, name):
                # the decoder notices too (heartbeats) and sends the frames it held to the other workers
                state.lost_workers.add(name)
                state.warnings.append(f"{died}; its frames went to the other workers")
                log.info("%s; its frames go to the other workers", died)  # the summary warns once
                continue
            raise RunFailed(died, said[1] if said else exitcodes.WORKER)


def _others_can_go_on(cfg: RunConfig, procs: dict, state: _State, name: str) -> bool:
    """A dead local worker ends the run unless another local worker lives or remote workers may join."""
    if cfg.pipeline.listen:
        return True
    return any(
        n.startswith("worker ") and n != name and n not in state.lost_workers and p.exitcode is None
        for n, p in procs.items()
    )


def _handle_control(
    parts: list[bytes], progress: Progress, state: _State, worker_replaceable: Callable[[str], bool] | None = None
) -> None:
    try:
        msg = protocol.unpack(parts)
    except protocol.ProtocolError as exc:
        log.warning("bad control message: %s", exc)
        return
    h = msg.header
    if isinstance(h.get("peak_rss_mb"), (int, float)) and isinstance(h.get("node"), str):
        node = h["node"]
        state.peak_rss_mb[node] = max(state.peak_rss_mb.get(node, 0.0), float(h["peak_rss_mb"]))
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
    event = h["event"]
    if state.metrics is not None:
        try:
            state.metrics.update_from_status(h["node"], event, h)
        except Exception as exc:  # metrics must never stop a run
            log.debug("metrics update failed: %s", exc)
    if event == "live":
        state.live_stats = h
        log.info("live: %s", {k: h.get(k) for k in ("frames_in", "sent", "dropped", "latency_dropped", "reconnects")})
    if event == "progress" and h.get("latency_s"):
        state.latency_max_s = max(state.latency_max_s, max(h["latency_s"]))
    if event == "info":
        info = h.get("info") or {}
        state.total = info.get("frames")
        progress.set_total(state.total)
        log.info("input: %s", info)
    elif event == "progress":
        state.frames_out = int(h.get("frames", 0))
        if state.frames_out and state.first_frame_s is None:
            state.first_frame_s = time.monotonic() - state.started
        progress.update(state.frames_out)
    elif event == "decoded":
        state.decoded = int(h.get("frames", 0))
        state.input = h.get("input") or {}
        state.warnings.extend(h.get("warnings") or [])
        if h.get("bad_messages"):
            state.warnings.append(f"decoder dropped {h['bad_messages']} bad message(s)")
        state.warnings.extend(dispatch_warnings(h))
    elif event == "closed":
        state.closed = True
        state.output_at = h.get("output")
        state.frames_out = int(h.get("frames", 0))
        progress.update(state.frames_out)
        state.warnings.extend(h.get("warnings") or [])
        if h.get("complete"):
            state.encoder_code = exitcodes.OK
        elif h.get("interrupted"):
            state.encoder_code = exitcodes.INTERRUPTED
        # otherwise the encoder failed: its ERROR message follows
    elif event == "ready":
        log.info("%s ready on %s (%s, %s)", h["node"], h.get("device"), h.get("model"), h.get("precision"))


def _held(cfg: RunConfig, state: _State, message: str) -> str:
    """What a failed run's output holds: the file the encoder closed, or the partial file of a killed one."""
    if state.closed:
        where = state.output_at or cfg.output
        return f"; {where} holds {state.frames_out} frame(s)" if state.frames_out and where not in message else ""
    if "://" in cfg.output or "%" in cfg.output or cfg.live.segment_s:
        return ""
    partial = partial_path(cfg.output)
    return f"; what was written is in {partial}" if os.path.exists(partial) and partial not in message else ""


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited unexpectedly with code {code}"


def _stop_for_interrupt(control: zmq.Socket, procs: dict, state: _State) -> None:
    """Ctrl-C: stop decoding and workers, let the encoder close the file, report what it holds."""
    for name, p in procs.items():
        if name != "encoder" and p.is_alive():
            _signal(p, signal.SIGTERM)
    enc = procs.get("encoder")
    if enc is not None and enc.is_alive():
        _signal(enc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and not state.closed:
            if control.poll(100):
                try:
                    _handle_control(control.recv_multipart(), Progress(True), state)
                except RunFailed:
                    pass
            elif not enc.is_alive():
                break


def _stop_all(procs: dict, control: zmq.Socket, state: _State) -> None:
    alive = [p for p in procs.values() if p.is_alive()]
    for p in alive:
        _signal(p, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for p in alive:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            log.warning("%s did not stop in time; killing it", p.name)
            p.kill()
            p.join(2)
    while control.poll(0):  # keep the frame count of a closing encoder
        try:
            _handle_control(control.recv_multipart(), Progress(True), state)
        except RunFailed:
            pass


def _signal(p: mp.process.BaseProcess, sig: int) -> None:
    try:
        os.kill(p.pid, sig)
    except (ProcessLookupError, TypeError):
        pass
