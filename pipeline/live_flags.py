"""The live side of gfn-stream's command line (rtsp://, rtmp://, http(s):// HLS, udp://, /dev/video0 inputs;
push URLs and --segment outputs): the argument group, what it sets in RunConfig.live, its checks, the check
of a live output before anything starts, and the summary line of a live run. cli.py composes these; a file
job's command line needs none of them."""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

from .config import ConfigError, RunConfig

logger = logging.getLogger(__name__)

LIVE_KEYS = ("live", "transport", "max_latency_s", "max_fps", "duration_s", "segment_s", "stall_timeout_s",
             "retry_max_s", "give_up_after_s", "metrics_port")
PUSH_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "udp", "tcp", "srt")


def add_live_arguments(p: argparse.ArgumentParser) -> None:
    live = p.add_argument_group("live inputs (rtsp://, rtmp://, http(s):// HLS, udp://, /dev/video0)")
    live.add_argument("--live", dest="live", action="store_const", const=True, help="force live mode")
    live.add_argument("--no-live", dest="live", action="store_const", const=False, help="never live mode")
    live.add_argument("--rtsp-transport", dest="transport", choices=("tcp", "udp", "udp_multicast", "http"))
    live.add_argument("--max-latency", dest="max_latency_s", type=float, metavar="S",
                      help="drop frames older than this (default 1.0); drops are counted and reported")
    live.add_argument("--max-fps", dest="max_fps", type=float, metavar="FPS", help="process at most this rate")
    live.add_argument("--duration", dest="duration_s", type=float, metavar="S", help="stop after S seconds")
    live.add_argument("--segment", dest="segment_s", type=float, metavar="S",
                      help="new output file every S seconds (strftime names: cam-%%Y%%m%%d-%%H%%M%%S.mp4)")
    live.add_argument("--stall-timeout", dest="stall_timeout_s", type=float, metavar="S",
                      help="no frame for S seconds = camera gone, reconnect (default 5)")
    live.add_argument("--retry-max", dest="retry_max_s", type=float, metavar="S", help="reconnect backoff cap")
    live.add_argument("--give-up-after", dest="give_up_after_s", type=float, metavar="S",
                      help="fail after S seconds without the camera (default: keep trying)")
    live.add_argument("--metrics-port", dest="metrics_port", type=int, metavar="PORT",
                      help="serve Prometheus /metrics and /health on 127.0.0.1:PORT")


def validate_live(cfg: RunConfig) -> None:
    lv = cfg.live
    for name in ("max_latency_s", "max_fps", "duration_s", "segment_s", "stall_timeout_s", "retry_max_s",
                 "give_up_after_s", "open_timeout_s", "read_timeout_s"):
        value = getattr(lv, name)
        if value is not None and value <= 0:
            raise ConfigError(f"{name.removesuffix('_s').replace('_', '-')} must be positive")
    if lv.metrics_port is not None and not 0 < lv.metrics_port < 65536:
        raise ConfigError("--metrics-port must be 1..65535")


def is_live_run(cfg: RunConfig) -> bool:
    """Live mode: forced with --live, or chosen for live URLs and V4L2 devices (unless --no-live)."""
    if cfg.live.live is not None:
        return cfg.live.live
    from ..media.live_spec import is_live_spec

    return is_live_spec(cfg.input)


def check_live_output(cfg: RunConfig) -> bool:
    """Whether the output is live: a push URL (its scheme checked) or --segment files (the first name checked;
    names change every segment). Raises media.sink.SinkError."""
    from ..media.output_path import check_output_path
    from ..media.sink import SinkError

    if "://" in cfg.output:
        scheme = cfg.output.split("://", 1)[0].lower()
        if scheme not in PUSH_SCHEMES:
            raise SinkError(f"cannot push to {scheme}:// (use rtsp://, rtmp://, udp://, tcp:// or srt://)")
        return True
    if cfg.live.segment_s:
        check_output_path(time.strftime(cfg.output), overwrite=True)
        return True
    return False


def live_summary(lv: dict[str, Any]) -> str:
    """The line a live run ends with (RunResult.live)."""
    drops = ", ".join(f"{n} {why}" for why, n in lv["dropped"].items() if n) or "none"
    return (f"gfn-stream: live: {lv['frames_in']} frames from the camera, {lv['frames_out']} written, "
            f"dropped to hold latency: {drops}; reconnects: {lv['reconnects']}; "
            f"{'worker restarts: %d; ' % lv['worker_restarts'] if lv.get('worker_restarts') else ''}"
            f"max latency {lv['max_latency_s']:.2f} s")
