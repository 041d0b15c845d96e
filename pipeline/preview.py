"""`gfn-stream IN sheet.png --preview N`: N evenly spaced frames of IN, enhanced, in one contact sheet.

In this process, without the node processes: the input is opened, N frames are found by seeking (a film takes
seconds, not its length), the model is loaded once and each frame is made at the output size (--outscale /
--size), as a split screen with --compare, then tiled in a grid with each frame's time in its corner.
"""

from __future__ import annotations

import logging
import time

from ..media.compose import contact_sheet, finish, write_picture
from ..media.frames import SourceError
from ..media.out_size import SizeError
from ..nodes import exitcodes
from .config import RunConfig
from .picture import frame_plan
from .report import RunResult

logger = logging.getLogger(__name__)


def preview(cfg: RunConfig) -> RunResult:
    """Make the contact sheet; never raises for bad inputs (see RunResult.code)."""
    from ..media import stills
    from ..media.source import open_source

    started = time.monotonic()
    n = cfg.picture.preview or 1
    try:
        with open_source(cfg.input, threads=cfg.pipeline.threads) as src:
            frames = stills.take(src, n)
    except SourceError as exc:
        return RunResult(exitcodes.INPUT, str(exc))
    if not frames:
        return RunResult(exitcodes.INPUT, f"no decodable video frames in {cfg.input}")
    plan = frame_plan(cfg)
    try:
        sizes = [plan.out_size(f.rgb.shape[1], f.rgb.shape[0]) for f in frames]
    except SizeError as exc:
        return RunResult(exitcodes.USAGE, str(exc))
    enhancer = _enhancer(cfg)
    if isinstance(enhancer, RunResult):
        return enhancer
    tiles = [finish(f.rgb, enhancer.enhance(f.rgb), size, compare=plan.compare, model=cfg.model.model)
             for f, size in zip(frames, sizes)]
    labels = [_when(f) for f in frames]
    sheet = contact_sheet(tiles, labels)
    try:
        write_picture(cfg.output, sheet, overwrite=cfg.overwrite)
    except OSError as exc:
        return RunResult(exitcodes.OUTPUT, f"cannot write {cfg.output}: {exc.strerror or exc}")
    seconds = time.monotonic() - started
    logger.info("preview: %d frame(s), %dx%d sheet in %.1f s", len(tiles), sheet.shape[1], sheet.shape[0], seconds)
    warnings = [] if len(frames) == n else [f"the input has {len(frames)} frame(s) to show, not {n}"]
    return RunResult(exitcodes.OK, "", len(tiles), seconds, warnings)


def _enhancer(cfg: RunConfig):
    from ..models.enhancer import Enhancer
    from ..models.weights import WeightsError

    m = cfg.model
    try:
        return Enhancer(m.weights, model=m.model, device=m.device, precision=m.precision, tile=m.tile,
                        tile_overlap=m.tile_overlap)
    except (WeightsError, ValueError, RuntimeError, OSError) as exc:
        return RunResult(exitcodes.USAGE, f"cannot load the model: {exc}")


def _when(frame) -> str:
    if frame.pts is None or not frame.time_base:
        return ""
    return f"{float(frame.pts * frame.time_base):.2f} s"
