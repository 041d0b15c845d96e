"""Before any process starts: the inputs and outputs of a job that cannot work, refused with one line and the
exit code that says why (3 bad input, 4 output refused, 2 a bad encoder setting). The CLI runs check_paths on
a single job, and on each file of a batch as its job starts (pipeline/batch.py)."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path

from ..nodes import exitcodes
from .config import RunConfig
from .live_flags import check_live_output

logger = logging.getLogger(__name__)


def check_paths(cfg: RunConfig) -> None:
    """Fail fast, before any process starts, on inputs and outputs that cannot work."""
    from ..media.frames import IMAGE_EXTENSIONS, SourceError
    from ..media.live_spec import is_live_spec, parse_live_spec
    from ..media.output_file import OutputError, refuse_if_input
    from ..media.output_path import check_output_path
    from ..media.sink import EncodeOptions, SinkError

    src = cfg.input
    if is_live_spec(src):
        try:
            parse_live_spec(src)  # a malformed URL or unknown scheme fails now, not after retries
        except SourceError as exc:
            raise PathError(str(exc), exitcodes.INPUT) from None
    elif "%" not in src and not src.startswith("/dev/"):
        path = Path(src)
        if not path.exists():
            raise PathError(f"input not found: {src}", exitcodes.INPUT)
        if path.is_dir():
            raise PathError(f"input is a directory, not a video: {src}", exitcodes.INPUT)
        if path.stat().st_size == 0:
            raise PathError(f"input is empty (0 bytes): {src}", exitcodes.INPUT)
    if os.path.abspath(src) == os.path.abspath(cfg.output):
        raise PathError("output would overwrite the input", exitcodes.OUTPUT)
    if Path(cfg.output).suffix.lower() not in IMAGE_EXTENSIONS:
        try:  # a bad --crf / --preset / --codec is a bad command line (2), found before anything starts
            EncodeOptions(**dataclasses.asdict(cfg.encode)).validate()
        except SinkError as exc:
            raise PathError(str(exc), exitcodes.USAGE) from None
    if not is_live_spec(src) and "://" not in cfg.output:
        try:  # the same file under another name: a symlink, a hard link, a linked folder (st_dev, st_ino)
            refuse_if_input(src, time.strftime(cfg.output) if cfg.live.segment_s else cfg.output)
        except OutputError as exc:
            raise PathError(str(exc), exitcodes.OUTPUT) from None
    try:
        if not check_live_output(cfg):  # a push URL or --segment files: pipeline/live_flags.py
            from .resume import check_output

            check_output(cfg)  # --resume: a video file; without: no interrupted resumable job in the way
            if not cfg.resume:
                check_output_path(cfg.output, cfg.overwrite)
    except SinkError as exc:
        raise PathError(str(exc), exitcodes.OUTPUT) from None


class PathError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code
