"""`gfn-stream IN OUT [options]`: deblur and 4x-upscale a video, an image or an image sequence;
`gfn-stream IN [IN ...] -o OUTDIR/`: many of them with one set of workers (pipeline/batch.py).

Exit codes: 0 done; 1 internal error; 2 bad usage or config; 3 bad input; 4 output refused or encoder
failed; 5 a worker died or frames were lost; 6 some files of a batch failed; 130 interrupted (the output holds
what was written).
Errors are one line on stderr; add --log-level debug for tracebacks.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..nodes import exitcodes
from ..nodes.faults import WorkerFaults
from .batch import cli_batch, split_paths
from .config import ConfigError, RunConfig, load_toml, set_given
from .config_checks import validate
from .live_flags import LIVE_KEYS, add_live_arguments, live_summary
from .picture import add_picture_arguments, picture_from_args
from .preflight import PathError, check_paths
from .remote_flags import REMOTE_KEYS, add_remote_arguments

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gfn-stream",
        usage="gfn-stream IN OUT [options]\n       gfn-stream IN [IN ...] -o OUTDIR/ [options]",
        description="Deblur and 4x-upscale a video (or image / image sequence) with GFN.",
        epilog="Exit codes: 0 ok, 2 usage, 3 bad input, 4 output error, 5 worker failure, 6 some files of a batch "
               "failed, 130 interrupted.",
    )
    p.add_argument("paths", nargs="+", metavar="IN",
                   help="IN OUT: input video file, image, or image sequence pattern (frames/%%06d.png), then the "
                        "output .mp4/.mkv/.mov, an image (.png/.jpg) or an image sequence pattern; with -o: any "
                        "number of inputs (files, quoted globs 'clips/*.mov', folders)")
    p.add_argument("-o", "--output", dest="output_to", metavar="OUT",
                   help="the output; with several inputs (or a glob or a folder) the folder the outputs go to")
    p.add_argument("--config", metavar="FILE", help="TOML settings file (see configs/default.toml)")
    p.add_argument("--model", choices=("gfn", "bicubic"), help="gfn (default) or plain 4x bicubic")
    p.add_argument("--weights", metavar="FILE", help="GFN weights (.safetensors); default: the shipped weights")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16", "int8"),
                   help="default: fastest for the device; int8 needs --backend openvino (quantized once, cached)")
    p.add_argument("--backend", choices=("auto", "torch", "openvino", "tensorrt"),
                   help="runtime of the model: torch (default), openvino (CPU), tensorrt (CUDA), auto")
    p.add_argument("--workers", type=int, metavar="N", help="worker processes (default: one per GPU, else 1)")
    p.add_argument("--batch", type=int, metavar="N", help="frames per forward pass (default 4)")
    p.add_argument("--tile", type=int, metavar="PX", help="LR tile side for large frames (0 = never tile)")
    p.add_argument("--codec", help="video encoder (default libx264)")
    p.add_argument("--crf", type=int, help="constant quality (default 18 for the codecs that have a crf)")
    p.add_argument("--bitrate", help="target bitrate, e.g. 8M (instead of crf)")
    p.add_argument("--preset", help="encoder preset: x264 names (default medium); SVT-AV1 also 0-13, VP9 0-8")
    p.add_argument("--pix-fmt", dest="pix_fmt",
                   help="output pixel format (default auto: yuv420p, or yuv420p10le for an input of more than 8 bits)")
    add_picture_arguments(p)  # --outscale, --size, --width, --height, --compare, --preview: pipeline/picture.py
    add_remote_arguments(p)  # --listen, --key, --allow, --worker-wait: pipeline/remote_flags.py
    add_live_arguments(p)  # cameras and streams, push URLs, --segment: pipeline/live_flags.py
    p.add_argument("--report", metavar="FILE",
                   help="write a JSON run report (frames, time, fps, peak memory per process)")
    p.add_argument("--start-number", dest="start_number", type=int, metavar="N",
                   help="first number of an image-sequence output (default: the input sequence's, else 1)")
    p.add_argument("--resume", action="store_true",
                   help="a resumable job: continue an interrupted one (frame-exact), or start one (video file outputs)")
    p.add_argument("-y", "--overwrite", action="store_true", help="overwrite the output if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument(
        "--log-level", default=None, choices=("debug", "info", "warning", "error"), help="default: warning"
    )
    # tests only, never in a real run: slow, hang or kill the local workers (nodes/faults.py), e.g. delay_ms=150
    p.add_argument("--test-fault", dest="test_faults", action="append", default=[], metavar="NAME=N",
                   help=argparse.SUPPRESS)
    return p


def config_from_args(args: argparse.Namespace) -> RunConfig:
    cfg = load_toml(args.config) if args.config else RunConfig()
    inputs, cfg.output, batch = split_paths(args)
    cfg.input = "" if batch else inputs[0]
    cfg.overwrite, cfg.quiet, cfg.start_number = args.overwrite, args.quiet, args.start_number
    cfg.faults = WorkerFaults.parse(args.test_faults, ConfigError)
    cfg.resume = args.resume
    if args.log_level:
        cfg.log_level = args.log_level
    set_given(cfg.model, args, ("model", "weights", "device", "precision", "backend", "batch", "tile"))
    set_given(cfg.encode, args, ("codec", "crf", "bitrate", "preset", "pix_fmt"))
    if args.bitrate is not None and args.crf is None:
        cfg.encode.crf = None
    set_given(cfg.pipeline, args, ("workers", *REMOTE_KEYS))
    set_given(cfg.live, args, LIVE_KEYS)
    picture_from_args(cfg, args)
    if batch and cfg.picture.preview:
        raise ConfigError("--preview takes one input (IN sheet.png), not a batch")
    validate(cfg)  # the settings' ranges and combinations (pipeline/config_checks.py)
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = args.log_level or "warning"
    logging.basicConfig(level=getattr(logging, level.upper()), format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = config_from_args(args)
        if not cfg.input:  # several inputs: a batch (pipeline/batch.py), each file checked as its job starts
            return cli_batch(args, cfg, level, check_paths)
        check_paths(cfg)
    except ConfigError as exc:
        return _fail(str(exc), exitcodes.USAGE)
    except PathError as exc:
        return _fail(str(exc), exc.code)

    from .run import run
    from .signals import INTERRUPTS, closing

    # SIGTERM stops like Ctrl-C (files closed properly); Ctrl-C works also when we were started with SIGINT
    # ignored (a background job); a second one while stopping never breaks the clean-up (pipeline/signals.py)
    INTERRUPTS.install()
    try:
        if cfg.picture.preview:
            from .preview import preview

            result = preview(cfg)
        else:
            result = run(cfg)
    except KeyboardInterrupt:  # before any node started (run() handles every later one)
        return _fail("interrupted before the run started", exitcodes.INTERRUPTED)
    except Exception as exc:  # a bug: one line unless debugging
        if level == "debug":
            raise
        return _fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --log-level debug)", exitcodes.FAILURE)
    finally:
        closing()  # a late Ctrl-C while the summary is printed is not a traceback either
    for w in result.warnings:
        print(f"gfn-stream: warning: {w}", file=sys.stderr)
    if args.report:
        from .report import write_report

        write_report(args.report, cfg, result)
    if result.code != exitcodes.OK:
        return _fail(result.message, result.code)
    if result.live and not cfg.quiet:
        print(live_summary(result.live), file=sys.stderr)
    if not cfg.quiet:
        fps = result.frames / result.seconds if result.seconds > 0 else 0.0
        print(
            f"gfn-stream: {result.frames} frames in {result.seconds:.1f} s ({fps:.2f} fps) -> {cfg.output}",
            file=sys.stderr,
        )
    return exitcodes.OK


def _fail(message: str, code: int) -> int:
    print(f"gfn-stream: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
