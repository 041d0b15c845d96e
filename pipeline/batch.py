"""`gfn-stream a.mp4 b.mkv 'clips/*.mov' folder/ -o outdir/`: many inputs in one call.

    inputs, problems = expand(["a.mp4", "clips/*.mov", "folder/"])   # files in order, each once
    code = run_batch(cfg, inputs, "outdir/", problems)

The workers are started (and their model loaded) once for the whole batch (WorkerPool); each file is then the
ordinary single-file job, run.run(cfg, pool=...), with its own decoder and encoder, so everything a single job
does (its checks, --resume, its one-line errors) holds per file. A file that fails is reported in one line and
skipped; the others go on. One progress bar per file under a total bar (files done of all). With --resume, a
batch run again after an interruption skips the files an earlier run finished and continues the one it was
writing.

Outputs: OUTDIR/NAME.EXT with the input's extension when gfn-stream writes that container (.mp4 .m4v .mov .mkv
.webm) or image format, else .mkv (Matroska takes any audio codec). Two inputs that would write the same name are
refused before anything starts.

Exit code: 0 when every file was done; 130 when interrupted (the file being written is closed properly, the rest
not started); otherwise SOME_FAILED (6), with the failures listed.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from ..media.frames import IMAGE_EXTENSIONS
from ..media.output_path import VIDEO_CONTAINERS
from ..media.resume_journal import chunk_folder
from ..nodes import exitcodes
from .config import ConfigError, RunConfig
from .pool import WorkerPool
from .progress import Progress
from .signals import INTERRUPTS, closing

logger = logging.getLogger(__name__)

SOME_FAILED = 6
VIDEO_INPUTS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".m2ts", ".mts", ".mpg", ".mpeg",
                          ".flv", ".wmv", ".3gp", ".ogv", ".mxf", ".y4m"})
GLOB_CHARS = frozenset("*?[")


def split_paths(args: Any) -> tuple[list[str], str, bool]:
    """(inputs, output, batch) from the command line: `IN OUT` as always; `IN... -o OUT` is a batch into the
    folder OUT unless it is one plain input and OUT is not a folder (no trailing slash, not a directory)."""
    paths, out = list(args.paths), args.output_to
    if out is None:
        if len(paths) != 2:
            raise ConfigError("give IN OUT, or several inputs and the output folder: IN [IN ...] -o OUTDIR/")
        return paths[:1], paths[1], False
    if not out:
        raise ConfigError("-o needs an output (a file, or a folder for several inputs)")
    folder = out.endswith(("/", os.sep)) or os.path.isdir(out)
    one_file = len(paths) == 1 and not os.path.isdir(paths[0]) and not (
        GLOB_CHARS & set(paths[0]) and not os.path.exists(paths[0]))
    return paths, out, not (one_file and not folder)


def cli_batch(args: Any, cfg: RunConfig, level: str, check: Callable[[RunConfig], None]) -> int:
    """gfn-stream's batch mode; `check`: the CLI's check of one job's paths (raises an error with a `code`)."""
    from ..media.live_spec import is_live_spec

    inputs, problems = expand(split_paths(args)[0])
    live = [p for p in inputs if is_live_spec(p)]
    if live or cfg.live.live:
        return _fail(f"a batch takes files, not live inputs ({(live or inputs)[0]}): run a camera or stream in its "
                     "own call", exitcodes.USAGE)
    if not inputs:
        return _fail("; ".join(problems) or "no inputs", exitcodes.INPUT)
    if Path(cfg.output).exists() and not Path(cfg.output).is_dir():
        return _fail(f"-o {cfg.output}: several inputs need an output folder, and this is a file", exitcodes.OUTPUT)
    if args.report:
        return _fail("--report takes one input; a batch reports each file on stderr", exitcodes.USAGE)
    INTERRUPTS.install()
    try:
        return run_batch(cfg, inputs, cfg.output, problems, check)
    except BatchError as exc:
        return _fail(str(exc), exitcodes.USAGE)
    except KeyboardInterrupt:
        closing()
        return _fail("interrupted", exitcodes.INTERRUPTED)
    except OSError as exc:
        return _fail(f"-o {cfg.output}: {exc.strerror or exc}", exitcodes.OUTPUT)
    except Exception as exc:  # a bug: one line unless debugging
        if level == "debug":
            raise
        return _fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --log-level debug)", exitcodes.FAILURE)
    finally:
        closing()


def _fail(message: str, code: int) -> int:
    print(f"gfn-stream: error: {message}", file=sys.stderr)
    return code


class BatchError(Exception):
    """A batch that cannot start (no inputs, two inputs for one output name); one line."""


def expand(paths: list[str]) -> tuple[list[str], list[str]]:
    """Inputs from files, glob patterns (quoted, so the shell left them) and directories (their video files,
    not recursive, sorted by name); each file once, in the order given. Also one line per path that gave none."""
    out: list[str] = []
    seen: set[str] = set()
    problems: list[str] = []
    for spec in paths:
        if os.path.isdir(spec):
            found = sorted(str(p) for p in Path(spec).iterdir()
                           if p.is_file() and p.suffix.lower() in VIDEO_INPUTS and not _hidden_or_partial(p))
            if not found:
                problems.append(f"{spec}: no video files in this folder")
        elif GLOB_CHARS & set(spec) and not os.path.exists(spec):
            found = sorted(p for p in glob.glob(spec) if os.path.isfile(p) and not _hidden_or_partial(Path(p)))
            if not found:
                problems.append(f"{spec}: no file matches")
        else:
            found = [spec]  # checked (exists, not empty, ...) as its job starts
        for p in found:
            key = os.path.realpath(p)
            if key not in seen:
                seen.add(key)
                out.append(p)
    return out, problems


def _hidden_or_partial(p: Path) -> bool:
    return p.name.startswith(".") or ".partial." in p.name


def output_for(src: str, outdir: str) -> str:
    ext = Path(src).suffix.lower()
    keep = ext in VIDEO_CONTAINERS or ext in IMAGE_EXTENSIONS
    return str(Path(outdir) / (Path(src).stem + (Path(src).suffix if keep else ".mkv")))


def plan_outputs(inputs: list[str], outdir: str) -> list[tuple[str, str]]:
    """(input, output) pairs; BatchError when two inputs would write one output."""
    pairs, owners = [], {}
    for src in inputs:
        out = output_for(src, outdir)
        if out in owners:
            raise BatchError(f"{owners[out]} and {src} would both be written to {out}; run them in two calls")
        owners[out] = src
        pairs.append((src, out))
    return pairs


def run_batch(cfg: RunConfig, inputs: list[str], outdir: str, problems: list[str] | None = None,
              check: Callable[[RunConfig], None] | None = None) -> int:
    """Run every input into `outdir` with one set of workers; returns the batch's exit code. check: raises (an
    exception with a `code`) for a job whose input or output cannot work; that file is skipped."""
    from .run import run

    failed: list[tuple[str, int, str]] = [(p.split(":", 1)[0], exitcodes.INPUT, p) for p in problems or []]
    pairs = plan_outputs(inputs, outdir)
    os.makedirs(outdir, exist_ok=True)
    total = None if cfg.quiet else tqdm(total=len(pairs), desc="total", unit="file", file=sys.stderr,
                                        position=0, dynamic_ncols=True)
    done = frames = 0
    pool: WorkerPool | None = None
    try:
        for src, out in pairs:
            if INTERRUPTS.count:  # a Ctrl-C while the last job was closing: stop here
                return exitcodes.INTERRUPTED
            INTERRUPTS.closing = False  # the previous job's clean-up is over: a Ctrl-C stops this one
            job = dataclasses.replace(cfg, input=src, output=out)
            if cfg.resume and os.path.exists(out) and not os.path.exists(chunk_folder(out)):
                done += 1  # a batch run again with --resume: this file was finished by an earlier run
                _say(total, f"{src}: done by an earlier run ({out}); skipped")
                _tick(total)
                continue
            try:
                if check is not None:
                    check(job)
            except Exception as exc:  # noqa: BLE001 - pipeline/preflight.py's PathError (one line, its exit code)
                if not hasattr(exc, "code"):
                    raise
                failed.append((src, exc.code, str(exc)))
                _say(total, f"{src}: error: {exc}")
                _tick(total)
                continue
            if pool is None:
                pool = WorkerPool(cfg)
            else:
                pool.ensure()
            progress = Progress(cfg.quiet, desc=Path(src).name, position=1)
            result = run(job, pool=pool, progress=progress)
            for w in result.warnings:
                _say(total, f"{src}: warning: {w}")
            if result.code == exitcodes.INTERRUPTED:
                _say(total, f"{src}: {result.message}")
                return exitcodes.INTERRUPTED
            if result.code != exitcodes.OK:
                failed.append((src, result.code, result.message))
                _say(total, f"{src}: error: {result.message}")
            else:
                done += 1
                frames += result.frames
                if not cfg.quiet:
                    _say(total, f"{src}: {result.frames} frames in {result.seconds:.1f} s -> {out}")
            _tick(total)
    finally:
        if total is not None:
            total.close()
        if pool is not None:
            pool.close()
    n = len(pairs) + len(problems or [])
    if failed:
        names = ", ".join(f"{src} (exit {code})" for src, code, _ in failed)
        print(f"gfn-stream: batch: {done} of {n} done, {len(failed)} failed: {names}", file=sys.stderr)
        return SOME_FAILED
    if not cfg.quiet:
        print(f"gfn-stream: batch: all {n} file(s) done ({frames} frames) -> {outdir}", file=sys.stderr)
    return exitcodes.OK


def _say(bar: tqdm | None, line: str) -> None:
    if bar is not None:
        bar.write(f"gfn-stream: {line}", file=sys.stderr)
    else:
        print(f"gfn-stream: {line}", file=sys.stderr)


def _tick(bar: tqdm | None) -> None:
    if bar is not None:
        bar.update(1)
