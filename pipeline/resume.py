"""`gfn-stream IN OUT --resume`: the launcher's side of a resumable file job (the writer is media/chunk_sink.py,
the on-disk state media/resume_journal.py).

    check_output(cfg)                  # before any work (the CLI's check_paths): what --resume can write
    plan = prepare(cfg)                # the journal: created, or checked against this command; None without --resume
    ... the nodes run: the decoder skips plan.done_frames frames, the encoder continues the chunks ...
    result = conclude(cfg, plan, result)   # the message of an interrupted or failed run says what is kept

A journal belongs to one job: the input (path, size, mtime, a hash of its first and last MiB), every setting
that changes the output's bits (model, weights by content, encoder, picture size, --max-fps/--duration, the
chunk length) and the encoder's thread count, pinned when the job starts so that a resume on another
machine still writes the same chunks. Any difference refuses the resume with one line.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..media.encode_options import SinkError
from ..media.output_path import VIDEO_CONTAINERS, check_output_path
from ..media.resume_journal import (
    JOURNAL,
    FolderLock,
    Journal,
    ResumeError,
    chunk_folder,
    digest,
    file_sha256,
    input_identity,
)
from .config import RunConfig

logger = logging.getLogger(__name__)

STOP_WAIT_S = 10.0  # how long a new run waits for the encoder of a killed one to let go of the chunk folder
MAX_THREADS = 16
# sections of RunConfig that never change the output's bits (how work is spread, live-camera behaviour, tests)
_NEUTRAL = ("pipeline", "live", "faults")
_NEUTRAL_MODEL = ("weights", "batch_wait_ms", "cache_dir")  # weights count by content; the others: timing, a cache
_HELD = re.compile(r"; (\S+ holds \d+ frame\(s\)|what was written is in \S+)$")


@dataclass(frozen=True)
class ResumePlan:
    folder: str  # OUT.resume/
    done_frames: int  # input frames in finished chunks: the decoder skips them
    chunks: int


def check_output(cfg: RunConfig) -> None:
    """SinkError (one line) when --resume cannot apply, or the output is in the way: a video file only, from a
    file input; an existing output is only replaced with -y; a killed final join's partial file is ours.
    Without --resume: an interrupted resumable job of the output is not silently left behind."""
    from ..media.live_spec import is_live_spec

    out = cfg.output
    if not cfg.resume:
        if os.path.exists(os.path.join(chunk_folder(out), JOURNAL)):
            raise SinkError(f"{chunk_folder(out)} holds an interrupted resumable job of {out}: pass --resume to "
                            "continue it, or remove that folder to start again")
        return
    if "://" in out or cfg.live.segment_s or cfg.live.live or is_live_spec(cfg.input):
        raise SinkError("--resume works for one video file output from a file input (not --segment, "
                        "--live or a stream URL)")
    if Path(out).suffix.lower() not in VIDEO_CONTAINERS or "%" in Path(out).name:
        raise SinkError(f"--resume needs a video file output ({', '.join(VIDEO_CONTAINERS)}), not {out}")
    has_journal = os.path.exists(os.path.join(chunk_folder(out), JOURNAL))
    if os.path.exists(out) and not cfg.overwrite:
        if has_journal:  # the final join finished, the clean-up was cut short (or another file took the name)
            raise SinkError(f"{out} exists beside {chunk_folder(out)}: if it is this job's finished output, remove "
                            "that folder; pass -y to write the output from the chunks again")
        raise SinkError(f"refusing to overwrite {out} (it exists: a finished job leaves no {chunk_folder(out)} "
                        "to resume); pass overwrite to replace")
    check_output_path(out, overwrite=cfg.overwrite or has_journal)


def prepare(cfg: RunConfig) -> ResumePlan | None:
    """The job's journal, checked against this command (ResumeError) or created; None without --resume."""
    if not cfg.resume:
        return None
    folder = chunk_folder(cfg.output)
    job = job_identity(cfg)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ResumeError(f"cannot create {folder}: {exc.strerror}") from None
    with FolderLock(folder, wait_s=STOP_WAIT_S):  # a killed run's encoder may still be closing its chunk
        journal = Journal.load(folder)
        if journal is None:
            threads = min(os.cpu_count() or 1, MAX_THREADS)
            journal = Journal.create(folder, job, threads=threads, chunk_frames=cfg.pipeline.resume_chunk)
        else:
            journal.check(job)
            journal.verify()
            journal.sweep()
            logger.info("resuming %s: %d frame(s) in %d chunk(s) are done", cfg.output, journal.done_frames,
                        len(journal.chunks))
    return ResumePlan(folder, journal.done_frames, len(journal.chunks))


def with_resume(nodes: Any, plan: ResumePlan | None) -> Any:
    """The run's NodePlan (node_settings.py) told about the job: the decoder skips the frames of the finished
    chunks, the encoder continues them."""
    if plan is None:
        return nodes
    return dataclasses.replace(
        nodes, decoder=dataclasses.replace(nodes.decoder, skip_frames=plan.done_frames),
        encoder=dataclasses.replace(nodes.encoder, resume=plan.folder, resume_done=plan.done_frames))


def conclude(cfg: RunConfig, plan: ResumePlan | None, result: Any) -> Any:
    """An interrupted or failed resumable run says what is kept and how to go on; an empty folder goes."""
    if plan is None or result.code == 0:
        return result
    try:
        journal = Journal.load(plan.folder)
    except ResumeError:
        journal = None
    if journal is None or not journal.chunks:
        if journal is not None:
            journal.remove()  # nothing done: nothing to resume
        return result
    kept = (f"{journal.done_frames} frame(s) are done in {plan.folder} ({len(journal.chunks)} chunk(s)); "
            "run the same command with --resume to continue")
    if result.message.startswith("interrupted"):
        message = f"interrupted: {kept}"
    else:  # what the output "holds" (report.held_output) is the chunks here: said once, above
        message = f"{_HELD.sub('', result.message)}; {kept}"
    return dataclasses.replace(result, message=message)


def job_identity(cfg: RunConfig) -> dict[str, Any]:
    """What a journal must match: the input, the settings that change the output, the weights' content."""
    settings: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and f.name not in _NEUTRAL:
            for key, v in dataclasses.asdict(value).items():
                if not (f.name == "model" and key in _NEUTRAL_MODEL):
                    settings[f"{f.name}.{key}"] = v
    settings.update({"live.max_fps": cfg.live.max_fps, "live.duration_s": cfg.live.duration_s,
                     "pipeline.resume_chunk": cfg.pipeline.resume_chunk})
    settings = {k: settings[k] for k in sorted(settings)}
    try:
        source = input_identity(cfg.input)
    except OSError as exc:
        raise ResumeError(f"cannot read the input {cfg.input}: {exc.strerror}") from None
    weights_file = _weights_file(cfg)
    return {"input": source, "settings": settings, "settings_sha256": digest(settings),
            "weights": _weights_digest(weights_file), "weights_file": weights_file}


def _weights_file(cfg: RunConfig) -> str | None:
    if cfg.model.model != "gfn":
        return None
    if cfg.model.weights:
        return os.path.realpath(cfg.model.weights)
    spec = importlib.util.find_spec("gfn_stream.models")  # without importing torch
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "weights", "gfn_default.safetensors")


def _weights_digest(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return file_sha256(path)
    except OSError:
        return f"unreadable:{path}"  # the workers report the real problem
