"""The checks of a job's settings once argv and TOML are merged (pipeline/cli.py): ranges and the flags that
exclude each other, each a one-line ConfigError (exit 2); the flag groups check their own (live_flags.py,
remote_flags.py, picture.py)."""

from __future__ import annotations

import logging

from .config import ConfigError, RunConfig
from .live_flags import validate_live
from .picture import validate_picture
from .remote_flags import validate_listen

logger = logging.getLogger(__name__)


def validate(cfg: RunConfig) -> None:
    pl = cfg.pipeline
    if pl.workers is not None and pl.workers < (0 if pl.listen else 1):
        raise ConfigError("--workers must be at least 1 (0 only with --listen: remote workers only)")
    if pl.heartbeat_s <= 0 or pl.liveness < 1 or pl.worker_wait_s <= 0:
        raise ConfigError("heartbeat_s and worker_wait_s must be positive, liveness at least 1")
    if pl.stall_s < 0 or pl.stall_factor < 1:
        raise ConfigError("stall_s must be >= 0 (0 = off) and stall_factor at least 1")
    if pl.answer_timeout_s < 0 or pl.answer_factor < 1:
        raise ConfigError("answer_timeout_s must be >= 0 (0 = off) and answer_factor at least 1")
    validate_listen(cfg)  # --listen, --key, --allow: pipeline/remote_flags.py
    if cfg.model.batch < 1:
        raise ConfigError("--batch must be at least 1")
    if cfg.model.tile is not None and cfg.model.tile < 0:
        raise ConfigError("--tile must be 0 (never tile) or a positive LR tile side")
    if cfg.encode.crf is not None and cfg.encode.bitrate is not None:
        raise ConfigError("--crf and --bitrate exclude each other")
    if cfg.start_number is not None and cfg.start_number < 0:
        raise ConfigError("--start-number must be 0 or more")
    if pl.max_inflight < 1:
        raise ConfigError("max_inflight must be at least 1")
    if pl.resume_chunk < 1:
        raise ConfigError("resume_chunk must be at least 1 frame")
    validate_live(cfg)
    validate_picture(cfg)
