"""`gfn-stream IN OUT [options]`: deblur and 4x-upscale a video, an image or an image sequence;
`gfn-stream IN [IN ...] -o OUTDIR/`: many of them with one set of workers (pipeline/batch.py).

Exit codes: 0 done; 1 internal error; 2 bad usage or config; 3 bad input; 4 output refused or encoder
failed; 5 a worker died or frames were lost; 6 some files of a batch failed; 130 interrupted (the output holds
what was written).
Errors are one line on stderr; add --log-level debug for tracebacks.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from pathlib import Path

from .. import fromdict
from ..nodes import exitcodes
from ..nodes.faults import WorkerFaults
from .batch import cli_batch, split_paths
from .config import ConfigError, RunConfig, load_toml
from .picture import picture_from_args, validate_picture

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
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), help="default: fastest for the device")
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
    pic = p.add_argument_group("output picture (the network makes 4x; a smaller size is resampled once)")
    pic.add_argument("--outscale", type=float, metavar="S", help="final size = S x input, 1 <= S <= 4 (default 4)")
    pic.add_argument("--size", metavar="WxH", help="final size in pixels, e.g. 1920x1080")
    pic.add_argument("--width", type=int, metavar="W", help="final width (the height from the aspect ratio)")
    pic.add_argument("--height", type=int, metavar="H", help="final height (the width from the aspect ratio)")
    pic.add_argument("--compare", action="store_true", default=None,
                     help="split screen: bicubic left | GFN right, with a labelled divider")
    pic.add_argument("--preview", type=int, metavar="N",
                     help="N evenly spaced frames into a contact sheet OUT (.png/.jpg), in seconds")
    p.add_argument("--listen", metavar="ENDPOINT", help="let remote gfn-worker processes join, e.g. tcp://0.0.0.0:5555")
    p.add_argument("--key", metavar="FILE", help="CurveZMQ secret key of the --listen endpoint (gfn-keygen)")
    p.add_argument("--allow", metavar="DIR", help="directory of the public keys of workers allowed to join")
    p.add_argument("--worker-wait", dest="worker_wait_s", type=float, metavar="S",
                   help="with no worker left, how long a job waits before failing (default 30)")
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
    cfg.faults = _faults(args.test_faults)
    cfg.resume = args.resume
    if args.log_level:
        cfg.log_level = args.log_level
    for key in ("model", "weights", "device", "precision", "backend", "batch", "tile"):
        if getattr(args, key) is not None:
            setattr(cfg.model, key, getattr(args, key))
    for key in ("codec", "crf", "bitrate", "preset", "pix_fmt"):
        if getattr(args, key) is not None:
            setattr(cfg.encode, key, getattr(args, key))
    if args.bitrate is not None and args.crf is None:
        cfg.encode.crf = None
    if args.workers is not None:
        cfg.pipeline.workers = args.workers
    for key in ("listen", "key", "allow", "worker_wait_s"):
        if getattr(args, key) is not None:
            setattr(cfg.pipeline, key, getattr(args, key))
    for key in ("live", "transport", "max_latency_s", "max_fps", "duration_s", "segment_s", "stall_timeout_s",
                "retry_max_s", "give_up_after_s", "metrics_port"):
        if getattr(args, key) is not None:
            setattr(cfg.live, key, getattr(args, key))
    picture_from_args(cfg, args)
    if batch and cfg.picture.preview:
        raise ConfigError("--preview takes one input (IN sheet.png), not a batch")
    _validate(cfg)
    return cfg


def _faults(specs: list[str]) -> WorkerFaults:
    """--test-fault NAME=N (tests only): delay_ms, exit_after, hang_after, hang_worker (nodes/faults.py)."""
    values = {}
    for spec in specs:
        name, _, value = spec.partition("=")
        try:
            values[name] = int(value)
        except ValueError:
            raise ConfigError(f"--test-fault {spec}: expected NAME=N (N an integer)") from None
    return fromdict.build(WorkerFaults, values, "--test-fault", ConfigError)


def _validate(cfg: RunConfig) -> None:
    if cfg.pipeline.workers is not None and cfg.pipeline.workers < (0 if cfg.pipeline.listen else 1):
        raise ConfigError("--workers must be at least 1 (0 only with --listen: remote workers only)")
    _validate_listen(cfg)
    if cfg.model.batch < 1:
        raise ConfigError("--batch must be at least 1")
    if cfg.model.tile is not None and cfg.model.tile < 0:
        raise ConfigError("--tile must be 0 (never tile) or a positive LR tile side")
    if cfg.encode.crf is not None and cfg.encode.bitrate is not None:
        raise ConfigError("--crf and --bitrate exclude each other")
    if cfg.start_number is not None and cfg.start_number < 0:
        raise ConfigError("--start-number must be 0 or more")
    if cfg.pipeline.max_inflight < 1:
        raise ConfigError("max_inflight must be at least 1")
    if cfg.pipeline.resume_chunk < 1:
        raise ConfigError("resume_chunk must be at least 1 frame")
    lv = cfg.live
    for name in ("max_latency_s", "max_fps", "duration_s", "segment_s", "stall_timeout_s", "retry_max_s",
                 "give_up_after_s", "open_timeout_s", "read_timeout_s"):
        value = getattr(lv, name)
        if value is not None and value <= 0:
            raise ConfigError(f"{name.removesuffix('_s').replace('_', '-')} must be positive")
    if lv.metrics_port is not None and not 0 < lv.metrics_port < 65536:
        raise ConfigError("--metrics-port must be 1..65535")
    validate_picture(cfg)


def _validate_listen(cfg: RunConfig) -> None:
    """Remote workers: a well-formed endpoint, and CurveZMQ keys for any address off this machine."""
    pl = cfg.pipeline
    if pl.heartbeat_s <= 0 or pl.liveness < 1 or pl.worker_wait_s <= 0:
        raise ConfigError("heartbeat_s and worker_wait_s must be positive, liveness at least 1")
    if pl.stall_s < 0 or pl.stall_factor < 1:
        raise ConfigError("stall_s must be >= 0 (0 = off) and stall_factor at least 1")
    if pl.answer_timeout_s < 0 or pl.answer_factor < 1:
        raise ConfigError("answer_timeout_s must be >= 0 (0 = off) and answer_factor at least 1")
    if not pl.listen:
        if pl.key or pl.allow:
            raise ConfigError("--key and --allow only apply with --listen")
        return
    from ..transport.endpoints import EndpointError, parse
    from ..transport.keys import SecurityError, require_keys

    try:
        ep = parse(pl.listen, kind="router", mode="bind", allowed=("router+bind",))
        require_keys(ep, pl.key, pl.allow, "--allow")
    except (EndpointError, SecurityError) as exc:
        raise ConfigError(f"--listen: {exc}") from None
    for path, what in ((pl.key, "--key"), (pl.allow, "--allow")):
        if path and not os.path.exists(path):
            raise ConfigError(f"{what}: {path} not found")


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
        if "://" in cfg.output:
            scheme = cfg.output.split("://", 1)[0].lower()
            if scheme not in ("rtsp", "rtsps", "rtmp", "rtmps", "udp", "tcp", "srt"):
                raise SinkError(f"cannot push to {scheme}:// (use rtsp://, rtmp://, udp://, tcp:// or srt://)")
        elif cfg.live.segment_s:
            check_output_path(time.strftime(cfg.output), overwrite=True)  # names change every segment
        else:
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
        _write_report(args.report, cfg, result)
    if result.code != exitcodes.OK:
        return _fail(result.message, result.code)
    if result.live and not cfg.quiet:
        lv = result.live
        drops = ", ".join(f"{n} {why}" for why, n in lv["dropped"].items() if n) or "none"
        print(
            f"gfn-stream: live: {lv['frames_in']} frames from the camera, {lv['frames_out']} written, "
            f"dropped to hold latency: {drops}; reconnects: {lv['reconnects']}; "
            f"{'worker restarts: %d; ' % lv['worker_restarts'] if lv.get('worker_restarts') else ''}"
            f"max latency {lv['max_latency_s']:.2f} s",
            file=sys.stderr,
        )
    if not cfg.quiet:
        fps = result.frames / result.seconds if result.seconds > 0 else 0.0
        print(
            f"gfn-stream: {result.frames} frames in {result.seconds:.1f} s ({fps:.2f} fps) -> {cfg.output}",
            file=sys.stderr,
        )
    return exitcodes.OK


def _steady_fps(result) -> float | None:
    """Frames per second after the first output frame (excludes process start-up and model loading)."""
    if result.first_frame_s is None or result.frames < 2 or result.seconds <= result.first_frame_s:
        return None
    return round((result.frames - 1) / (result.seconds - result.first_frame_s), 3)


def _write_report(path: str, cfg: RunConfig, result) -> None:
    import dataclasses
    import json

    report = {  # "input" is the file input's accounting (result.input), as it always was
        "output": cfg.output,
        "exit_code": result.code,
        "message": result.message,
        "frames": result.frames,
        "seconds": round(result.seconds, 3),
        "fps": round(result.frames / result.seconds, 3) if result.seconds > 0 else None,
        "first_frame_s": None if result.first_frame_s is None else round(result.first_frame_s, 3),
        "steady_fps": _steady_fps(result),
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


def _fail(message: str, code: int) -> int:
    print(f"gfn-stream: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
