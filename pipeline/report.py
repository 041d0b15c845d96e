"""What a run reports: its RunResult (exit code, one-line message, frames, warnings, peaks), the live summary,
what a failed run's output holds, and the --report JSON file."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from ..media.output_file import partial_path
from ..nodes import exitcodes
from .config import RunConfig
from .supervise import RunFailed, RunState

logger = logging.getLogger(__name__)


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


def live_summary(state: RunState) -> dict[str, Any]:
    if not state.live:
        return {}
    ls = state.live_stats
    dropped = dict(ls.dropped)
    if ls.latency_dropped:
        dropped["latency"] = ls.latency_dropped
    return {
        "frames_in": ls.frames_in,
        "frames_sent": ls.sent,
        "frames_out": state.frames_out,
        "dropped": dropped,
        "reconnects": ls.reconnects,
        "worker_restarts": state.worker_restarts,
        "max_latency_s": round(state.latency_max_s, 3),
    }


def interrupted(cfg: RunConfig, state: RunState, seconds: float) -> RunResult:
    """Ctrl-C (or SIGTERM): the normal end of a live run; a file job says what its output holds."""
    if state.live:
        return RunResult(exitcodes.OK, "", state.frames_out, seconds, state.warnings, state.peak_rss_mb,
                         state.first_frame_s, live_summary(state))
    return RunResult(exitcodes.INTERRUPTED, f"interrupted: {cfg.output} holds the first {state.frames_out} frame(s)",
                     state.frames_out, seconds, state.warnings)


def failed(cfg: RunConfig, state: RunState, exc: RunFailed, seconds: float) -> RunResult:
    """The run's first failure, with what its output holds."""
    return RunResult(exc.code, f"{exc}{held_output(cfg, state, str(exc))}", state.frames_out, seconds,
                     state.warnings, input=state.input)


def held_output(cfg: RunConfig, state: RunState, message: str) -> str:
    """What a failed run's output holds: the file the encoder closed, or the partial file of a killed one."""
    if state.closed:
        where = state.output_at or cfg.output
        return f"; {where} holds {state.frames_out} frame(s)" if state.frames_out and where not in message else ""
    if "://" in cfg.output or "%" in cfg.output or cfg.live.segment_s:
        return ""
    partial = partial_path(cfg.output)
    return f"; what was written is in {partial}" if os.path.exists(partial) and partial not in message else ""


def steady_fps(result: RunResult) -> float | None:
    """Frames per second after the first output frame (excludes process start-up and model loading)."""
    if result.first_frame_s is None or result.frames < 2 or result.seconds <= result.first_frame_s:
        return None
    return round((result.frames - 1) / (result.seconds - result.first_frame_s), 3)


def write_report(path: str, cfg: RunConfig, result: RunResult) -> None:
    """--report FILE: the run as JSON; a report that cannot be written is a warning, not a failed run."""
    report = {  # "input" is the file input's accounting (result.input), as it always was
        "output": cfg.output,
        "exit_code": result.code,
        "message": result.message,
        "frames": result.frames,
        "seconds": round(result.seconds, 3),
        "fps": round(result.frames / result.seconds, 3) if result.seconds > 0 else None,
        "first_frame_s": None if result.first_frame_s is None else round(result.first_frame_s, 3),
        "steady_fps": steady_fps(result),
        "peak_rss_mb": result.peak_rss_mb,
        "live": result.live,
        "input": result.input,
        "warnings": result.warnings,
        "settings": {k: dataclasses.asdict(getattr(cfg, k)) for k in ("model", "encode", "pipeline")},
    }
    try:
        with open(path, "w") as f:
            json.dump(report, f, indent=2)
    except OSError as exc:
        print(f"gfn-stream: warning: cannot write the report {path}: {exc.strerror}", file=sys.stderr)
