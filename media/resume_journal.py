"""The state of a resumable file job (`gfn-stream IN OUT --resume`): a folder next to the output holding the
finished closed-GOP chunks of the video and a small JSON journal that says which of them are done.

    folder = chunk_folder("out.mp4")                 # out.mp4.resume/
    journal = Journal.load(folder)                   # None when there is no interrupted job
    journal.check(job)                               # ResumeError (one line) for another input or settings
    journal = Journal.create(folder, job, threads=2, chunk_frames=250)
    journal.record(Chunk("chunk-000003.mp4", first=750, frames=250, ...))   # after the chunk is on disk
    journal.remove()                                 # the job is complete: the folder goes

On disk while a job runs (all in OUT.resume/): `journal.json` (the job's identity and the chunks done),
`chunk-NNNNNN.mp4` (each a self-contained video file that starts with an IDR frame), at most one
`chunk-NNNNNN.partial.mp4` being encoded, `side.spool` (the input's audio/subtitle packets as they arrive,
rewritten by every run) and `lock` (flocked by the encoder while it writes). A chunk counts as done only
once its file is fsynced, renamed into place and listed in the journal, which is itself replaced
atomically (write, fsync, rename, fsync the folder): a power cut at any moment leaves a journal that lists
only complete chunks. Files the journal does not list are leftovers of a killed run and are removed.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from .output_file import fsync_folder

logger = logging.getLogger(__name__)

FORMAT = "gfn-stream resume journal"
VERSION = 1
SUFFIX = ".resume"  # out.mp4 -> out.mp4.resume/
JOURNAL, LOCK, SPOOL = "journal.json", "lock", "side.spool"
HEAD_BYTES = 1 << 20  # the input's first and last MiB are hashed (with its size and mtime) to identify it


class ResumeError(Exception):
    """A job cannot be resumed as asked; the message is one line for the user."""


class FolderBusy(ResumeError):
    """Another run holds the chunk folder."""


@dataclass
class Chunk:
    """One finished chunk: `frames` frames from input frame `first` (counting from 0, after --max-fps).
    first_pts: the first frame's pts in time_base (the video stream's); last_pts / last_step: where the next chunk's
    timestamps continue (inner_sink.InnerSink.timing)."""

    file: str
    first: int
    frames: int
    bytes: int
    sha256: str
    first_pts: int
    last_pts: int
    last_step: int
    time_base: list[int]


def chunk_folder(output: str | os.PathLike) -> str:
    """Where the chunks of `output` are kept: OUT.resume next to it."""
    return os.fspath(output) + SUFFIX


def chunk_name(index: int) -> str:
    return f"chunk-{index:06d}.mp4"


def input_identity(path: str) -> dict[str, Any]:
    """Name, size, mtime and a hash of the first and last MiB: another file, or the same one changed."""
    real = os.path.realpath(path)
    st = os.stat(real)
    h = hashlib.sha256()
    with open(real, "rb") as f:
        h.update(f.read(HEAD_BYTES))
        if st.st_size > 2 * HEAD_BYTES:
            f.seek(-HEAD_BYTES, os.SEEK_END)
            h.update(f.read(HEAD_BYTES))
    return {"path": real, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": h.hexdigest()}


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def digest(value: Any) -> str:
    """sha256 of a JSON-able value in canonical form (sorted keys)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


class Journal:
    """The journal of one resumable job (see the module docstring)."""

    def __init__(self, folder: str, data: dict[str, Any]) -> None:
        self.folder, self.data = folder, data
        self.chunks = [Chunk(**c) for c in data.get("chunks", [])]

    # ---------------------------------------------------------------------------------------- opening
    @classmethod
    def load(cls, folder: str) -> Journal | None:
        """The journal in `folder`, or None when there is none. ResumeError for one that cannot be read."""
        path = os.path.join(folder, JOURNAL)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ResumeError(f"cannot read {path} ({getattr(exc, 'strerror', None) or exc}); remove {folder} to "
                              "start the job again") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ResumeError(f"{path} is not a gfn-stream journal of this version; remove {folder} to start again")
        try:
            return cls(folder, data)
        except TypeError:
            raise ResumeError(f"{path} is damaged; remove {folder} to start the job again") from None

    @classmethod
    def create(cls, folder: str, job: dict[str, Any], *, threads: int, chunk_frames: int) -> Journal:
        """A new, empty journal for `job` ({"input": input_identity(), "settings": ..., "weights": ...})."""
        try:
            os.mkdir(folder, 0o755)
        except FileExistsError:
            pass
        except OSError as exc:
            raise ResumeError(f"cannot create {folder}: {exc.strerror}") from None
        data = {"format": FORMAT, "version": VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                **job, "threads": threads, "chunk_frames": chunk_frames, "chunks": []}
        journal = cls(folder, data)
        journal.save()
        return journal

    def check(self, job: dict[str, Any]) -> None:
        """ResumeError naming what differs when `job` is not the job this journal belongs to."""
        mine, theirs = self.data.get("input", {}), job["input"]
        if mine.get("path") != theirs["path"]:
            raise ResumeError(f"{self.folder} belongs to a job on another input ({mine.get('path')}), not "
                              f"{theirs['path']}; refusing to resume (remove {self.folder} to start again)")
        for key, what in (("size", "size"), ("mtime_ns", "modification time"), ("sha256", "content")):
            if mine.get(key) != theirs[key]:
                raise ResumeError(f"the input {theirs['path']} changed since the interrupted run (its {what} "
                                  f"differs); refusing to resume (remove {self.folder} to start again)")
        if self.data.get("weights") != job["weights"]:
            raise ResumeError(f"the weights differ from the interrupted run's ({self.data.get('weights_file')}); "
                              f"refusing to resume (use the same weights, or remove {self.folder})")
        old, new = self.data.get("settings", {}), job["settings"]
        if old != new:
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            shown = ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:3])
            raise ResumeError(f"the settings differ from the interrupted run's ({shown}); refusing to resume "
                              f"(use the same options, or remove {self.folder} to start again)")

    # ---------------------------------------------------------------------------------------- state
    @property
    def threads(self) -> int:
        return int(self.data["threads"])

    @property
    def chunk_frames(self) -> int:
        return int(self.data["chunk_frames"])

    @property
    def done_frames(self) -> int:
        return sum(c.frames for c in self.chunks)

    def path(self, name: str) -> str:
        return os.path.join(self.folder, name)

    def record(self, chunk: Chunk) -> None:
        """Add a chunk whose file is complete and durable, and make the journal say so (atomically)."""
        self.chunks.append(chunk)
        self.save()

    def save(self) -> None:
        self.data["chunks"] = [asdict(c) for c in self.chunks]
        tmp = self.path(JOURNAL + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path(JOURNAL))
        fsync_folder(self.folder)

    def verify(self) -> None:
        """ResumeError when a chunk the journal lists is missing or not the file that was written."""
        for c in self.chunks:
            path = self.path(c.file)
            try:
                size = os.path.getsize(path)
            except OSError:
                raise ResumeError(f"{path} (listed as done in the journal) is missing; remove {self.folder} "
                                  "to start the job again") from None
            if size != c.bytes or file_sha256(path) != c.sha256:
                raise ResumeError(f"{path} is not the chunk the interrupted run wrote (size or checksum "
                                  f"differs); remove {self.folder} to start the job again")

    def sweep(self) -> None:
        """Remove what a killed run left that the journal does not list (a chunk being encoded, a spool)."""
        listed = {c.file for c in self.chunks} | {JOURNAL, LOCK}
        for name in os.listdir(self.folder):
            if name not in listed:
                _unlink(self.path(name))

    def remove(self) -> None:
        """The job is complete: remove the journal, the chunks and the folder."""
        for name in os.listdir(self.folder):
            _unlink(self.path(name))
        try:
            os.rmdir(self.folder)
        except OSError as exc:
            logger.warning("could not remove %s: %s", self.folder, exc.strerror)
        fsync_folder(os.path.dirname(os.path.abspath(self.folder)))


class FolderLock:
    """The encoder holds `lock` in the chunk folder while it writes; a second run is refused, and a new run
    waits (briefly) for the encoder of a killed one to finish stopping."""

    def __init__(self, folder: str, wait_s: float = 0.0) -> None:
        self.path = os.path.join(folder, LOCK)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.release()
                    raise FolderBusy(f"another gfn-stream run is writing {folder} right now ({self.path} is "
                                      "locked); wait for it to finish") from None
                time.sleep(0.05)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            logger.warning("could not remove %s: %s", path, exc.strerror)
