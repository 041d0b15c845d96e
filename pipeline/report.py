"""What a run reports: its RunResult (exit code, one-line message, frames, warnings, peaks), the live summary,
and what a failed run's output holds."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from ..media.output_file import partial_path
from .config import RunConfig
from .supervise import RunState

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


def held_output(cfg: RunConfig, state: RunState, message: str) -> str:
    """What a failed run's output holds: the file the encoder closed, or the partial file of a killed one."""
    if state.closed:
        where = state.output_at or cfg.output
        return f"; {where} holds {state.frames_out} frame(s)" if state.frames_out and where not in message else ""
    if "://" in cfg.output or "%" in cfg.output or cfg.live.segment_s:
        return ""
    partial = partial_path(cfg.output)
    return f"; what was written is in {partial}" if os.path.exists(partial) and partial not in message else ""
