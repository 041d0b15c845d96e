"""The run's output picture as the decoder asks the workers for it (media/out_size.py FramePlan): the size of
--outscale / --size / --width / --height, rounded to what the output's pixel format needs (image outputs take
any size), and --compare; their argument group on the command line (cli.py) and their checks."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..media.frames import IMAGE_EXTENSIONS
from ..media.out_size import FramePlan, SizeError, SizeRequest, parse_size, pix_fmt_step
from .config import ConfigError, RunConfig

logger = logging.getLogger(__name__)


def frame_plan(cfg: RunConfig) -> FramePlan:
    pic = cfg.picture
    image = "://" not in cfg.output and Path(cfg.output).suffix.lower() in IMAGE_EXTENSIONS
    step = (1, 1) if image else pix_fmt_step(cfg.encode.pix_fmt)
    return FramePlan(pic.outscale, pic.width, pic.height, step, pic.compare)


def add_picture_arguments(p: argparse.ArgumentParser) -> None:
    pic = p.add_argument_group("output picture (the network makes 4x; a smaller size is resampled once)")
    pic.add_argument("--outscale", type=float, metavar="S", help="final size = S x input, 1 <= S <= 4 (default 4)")
    pic.add_argument("--size", metavar="WxH", help="final size in pixels, e.g. 1920x1080")
    pic.add_argument("--width", type=int, metavar="W", help="final width (the height from the aspect ratio)")
    pic.add_argument("--height", type=int, metavar="H", help="final height (the width from the aspect ratio)")
    pic.add_argument("--compare", action="store_true", default=None,
                     help="split screen: bicubic left | GFN right, with a labelled divider")
    pic.add_argument("--preview", type=int, metavar="N",
                     help="N evenly spaced frames into a contact sheet OUT (.png/.jpg), in seconds")


def picture_from_args(cfg: RunConfig, args: Any) -> None:
    """--outscale / --size / --width / --height / --compare / --preview onto cfg.picture (the command line's
    size replaces a config file's, whichever form either uses)."""
    pic = cfg.picture
    width, height = args.width, args.height
    if args.size is not None:
        if width is not None or height is not None:
            raise ConfigError("--size excludes --width and --height (give WxH, or one side)")
        try:
            width, height = parse_size(args.size)
        except SizeError as exc:
            raise ConfigError(str(exc)) from None
    if width is not None or height is not None:
        if args.outscale is not None:
            raise ConfigError("--outscale and --size / --width / --height exclude each other")
        pic.outscale, pic.width, pic.height = None, width, height
    elif args.outscale is not None:
        pic.outscale, pic.width, pic.height = args.outscale, None, None
    for key in ("compare", "preview"):
        if getattr(args, key) is not None:
            setattr(pic, key, getattr(args, key))


def validate_picture(cfg: RunConfig) -> None:
    pic = cfg.picture
    try:
        SizeRequest(pic.outscale, pic.width, pic.height).check()
    except SizeError as exc:
        raise ConfigError(str(exc)) from None
    if pic.preview is not None:
        if pic.preview < 1:
            raise ConfigError("--preview must be at least 1 frame")
        from ..media.live_spec import is_live_spec

        if is_live_spec(cfg.input) or cfg.live.live:
            raise ConfigError("--preview takes a file (it seeks to its frames), not a live input")
        if Path(cfg.output).suffix.lower() not in (".png", ".jpg", ".jpeg"):
            raise ConfigError(f"--preview writes a contact sheet: OUT must be a .png or .jpg, not {cfg.output}")
