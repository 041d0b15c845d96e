"""Output files that never destroy data: identity checks against the input, one writer at a time, writes to a
partial file next to the output and an atomic rename at the end, and write errors that fail the run.

    refuse_if_input(input_spec, output_spec)          # SinkError when the output is (a link to) the input
    out = OutputFile("out.mp4", overwrite=False)      # reserves and locks out.partial.mp4
    ... the muxer writes out.partial ...
    out.commit()                                      # fsync + rename to out.mp4 (a symlink keeps its target)
    out.keep()  /  out.discard()                      # leave the partial file (a failed write) / remove it

- **Identity.** Two names are the same file when (st_dev, st_ino) agree, whatever the path strings say:
  symlinks, hard links and linked folders are all caught. Only files that exist can be the input, so the
  check looks at the files an output would replace (all the numbers of a sequence) and at its partial file.
- **Never in place.** The muxer writes `NAME.partial.EXT` in the output's real folder (through a symlink:
  the link's target's folder). commit() fsyncs it and renames it over the output, so until the end an old
  output is intact and a killed run leaves `NAME.partial.EXT` holding what was written (playable: the
  MP4/MKV files are fragmented while written, see sink.py). Without overwrite the rename is a hard link
  that fails if the output appeared meanwhile (nothing is replaced that was not there at the start).
- **One writer.** The partial file is the lock: created with O_EXCL and held with flock(LOCK_EX) while the
  run writes it. A second run on the same output is refused (with or without -y) while the first holds
  it; a partial file that nobody holds is a killed run's output and is only replaced with overwrite.
  Image sequences lock `.PATTERN.lock` in their folder the same way (SequenceLock).
- **Write errors.** write_error() turns an OSError from the muxer/avio (disk full, quota, file too large,
  I/O error, read-only file system) into one SinkError line; sink.py calls it around every write and close.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
from pathlib import Path

from . import sequence
from .encode_options import SinkError

logger = logging.getLogger(__name__)

PARTIAL = ".partial"  # out.mp4 is written as out.partial.mp4
WRITE_ERRNOS = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file too large",
                errno.EIO: "I/O error", errno.EROFS: "read-only file system", errno.ENXIO: "device gone",
                errno.EPIPE: "broken pipe", errno.ESTALE: "stale file handle"}


class OutputError(SinkError):
    """The output cannot be written safely; one line for the user."""


def partial_path(path: str | os.PathLike) -> str:
    """Where `path` is written until it is complete: out.mp4 -> out.partial.mp4, in the real folder (named
    as the user named the folder, unless a symlinked file sends it elsewhere)."""
    path = os.fspath(path)
    real = os.path.realpath(path)
    stem, suffix = os.path.splitext(real)
    partial = f"{stem}{PARTIAL}{suffix}"
    folder = os.path.dirname(path)
    if os.path.realpath(folder or ".") == os.path.dirname(real):
        return os.path.join(folder, os.path.basename(partial))
    return partial


def write_error(exc: BaseException, path: str, frames: int | None = None,
                partial: str | None = None) -> str | None:
    """The one-line message for a failed write, or None when `exc` is not an I/O error of the output."""
    code = getattr(exc, "errno", None)
    if not isinstance(exc, OSError) or code not in WRITE_ERRNOS:
        return None
    what = f"after {frames} frame(s)" if frames is not None else "while writing"
    kept = ""
    if partial and os.path.exists(partial):
        kept = f"; what was written ({os.path.getsize(partial):,} bytes, cut short) is in {partial}"
    return f"cannot write {path}: {os.strerror(code)} ({WRITE_ERRNOS[code]}) {what}{kept}"


# ---------------------------------------------------------------------------------------------- identity
def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when both names exist and are one file (symlinks followed, hard links and linked folders)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def existing_files(spec: str) -> list[str]:
    """The files a path or an image-sequence pattern names that exist now."""
    path = Path(spec)
    parts = sequence.PATTERN.split(path.name)
    if len(parts) != 3:
        return [spec] if path.exists() else []
    regex = re.compile(re.escape(parts[0]) + r"\d+" + re.escape(parts[2]) + "$")
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    return [os.path.join(path.parent, n) for n in sorted(names) if regex.match(n)]


def refuse_if_input(input_spec: str, output_spec: str) -> None:
    """OutputError when writing output_spec would replace any file of input_spec (same inode)."""
    inputs = {_identity(p) for p in existing_files(input_spec)} - {None}
    if not inputs:
        return
    candidates = existing_files(output_spec)
    if not sequence.PATTERN.search(Path(output_spec).name):
        candidates.append(partial_path(output_spec))
    for candidate in candidates:
        if _identity(candidate) in inputs:
            shown = "" if os.path.abspath(candidate) == os.path.abspath(output_spec) else f" ({candidate})"
            raise OutputError(f"output would overwrite the input: {output_spec}{shown} is the same file as "
                              f"{input_spec}")


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


# ---------------------------------------------------------------------------------------------- one writer
def busy_message(path: str, lock_path: str) -> str:
    return (f"another gfn-stream run is writing {path} right now ({lock_path} is locked); wait for it to "
            "finish or choose another output")


def probe(path: str | os.PathLike, overwrite: bool) -> None:
    """Before any work: OutputError when another run holds the output, or (without overwrite) when a killed
    run's partial file is in the way. Creates nothing."""
    path = os.fspath(path)
    partial = partial_path(path)
    if not os.path.lexists(partial):
        return
    try:
        fd = os.open(partial, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as e:
        raise OutputError(f"cannot use {partial} (the partial file of {path}): {e.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(busy_message(path, partial)) from None
    finally:
        os.close(fd)
    if not overwrite:
        raise OutputError(_leftover_message(path, partial))


def _leftover_message(path: str, partial: str) -> str:
    return (f"{partial} is left from an interrupted run of {path} (it holds what that run wrote); move it "
            "away, or pass -y to replace it")


def _lock(path: str, shown: str) -> tuple[int, bool]:
    """Open (creating) and flock `path`, the lock of output `shown`; (fd, created). Another run holding it, or no
    way to create it, is an OutputError line."""
    try:
        return _flock(path)
    except BlockingIOError:
        raise OutputError(busy_message(shown, path)) from None
    except OSError as e:
        raise OutputError(f"cannot create {path}: {e.strerror}") from None


def _flock(path: str) -> tuple[int, bool]:
    """Open (creating) and flock `path`; (fd, created). Retries when the name was replaced while locking."""
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    while True:
        created = True
        try:
            fd = os.open(path, flags | os.O_EXCL, 0o644)
        except FileExistsError:
            created = False
            fd = os.open(path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _identity(path) == _fd_identity(fd):
                return fd, created
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # renamed or removed between open and flock: lock the file that has the name now


def _fd_identity(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


class OutputFile:
    """One output file being written: reserved, locked, committed by rename (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        self.path = os.fspath(path)
        self.final = os.path.realpath(self.path)
        self.partial = partial_path(self.path)
        self.overwrite = overwrite
        fd, created = _lock(self.partial, self.path)
        if not created and not overwrite:
            os.close(fd)
            raise OutputError(_leftover_message(self.path, self.partial))
        os.ftruncate(fd, 0)
        self._fd: int | None = fd
        self.committed = False

    @property
    def written_to(self) -> str:
        """The file that holds the frames: the output once committed, the partial file before."""
        return self.path if self.committed else self.partial

    def commit(self, durable: bool = True) -> None:
        """fsync the partial file (durable) and give it the output's name (atomically). OutputError on
        failure; the partial file is then kept."""
        if self._fd is None:
            return
        try:
            if durable:
                os.fsync(self._fd)
            if self.overwrite:
                os.replace(self.partial, self.final)
            else:
                self._link_into_place()
            if durable:
                fsync_folder(os.path.dirname(self.final))
        except OSError as e:
            self.keep()
            message = write_error(e, self.path, partial=self.partial) or f"cannot write {self.path}: {e.strerror}"
            raise OutputError(message) from None
        self.committed = True
        self._close()

    def keep(self) -> None:
        """Leave the partial file where it is (a failed write or close); release the lock."""
        self._close()

    def discard(self) -> None:
        """Nothing worth keeping was written: remove the partial file (if it is still ours)."""
        if self._fd is not None and _identity(self.partial) == _fd_identity(self._fd):
            try:
                os.unlink(self.partial)
            except OSError:
                pass
        self._close()

    def _link_into_place(self) -> None:
        try:
            os.link(self.partial, self.final)
        except FileExistsError:
            raise OutputError(f"{self.path} appeared while this run was writing it; not replaced: the output "
                              f"is in {self.partial}") from None
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            if os.path.lexists(self.final):  # a file system without hard links: check, then rename
                raise OutputError(f"{self.path} appeared while this run was writing it; not replaced: the "
                                  f"output is in {self.partial}") from None
            os.replace(self.partial, self.final)
            return
        os.unlink(self.partial)

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        self._close()


class SequenceLock:
    """One writer per image-sequence pattern: `.NAME.lock` in its folder, flocked while the run writes."""

    def __init__(self, pattern: str | os.PathLike) -> None:
        pattern = Path(os.path.realpath(os.fspath(pattern)))
        self.shown = os.fspath(pattern)
        self.path = os.fspath(pattern.parent / f".{pattern.name}.lock")
        self._fd: int | None = _lock(self.path, self.shown)[0]

    @staticmethod
    def probe(pattern: str | os.PathLike) -> None:
        """OutputError when another run holds the pattern's lock now. Creates nothing."""
        pattern = Path(os.path.realpath(os.fspath(pattern)))
        lock = os.fspath(pattern.parent / f".{pattern.name}.lock")
        try:
            fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(busy_message(os.fspath(pattern), lock)) from None
        finally:
            os.close(fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if _identity(self.path) == _fd_identity(fd):
                os.unlink(self.path)
        except OSError:
            pass
        os.close(fd)


def write_atomically(path: str, data: bytes, overwrite: bool = True, durable: bool = True) -> None:
    """Write one small file (an image) through its partial name and rename it into place (durable: fsync
    first; the frames of a sequence skip it, one fsync per frame is slow)."""
    out = OutputFile(path, overwrite=overwrite)
    try:
        with open(out.partial, "wb") as f:
            f.write(data)
            f.flush()
    except OSError as e:
        out.keep()
        raise OutputError(write_error(e, path, partial=out.partial) or f"cannot write {path}: {e.strerror}") from None
    out.commit(durable)


def fsync_folder(folder: str) -> None:
    """fsync a folder so a rename or create in it survives a power cut (silently skipped where unsupported)."""
    try:
        fd = os.open(folder or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a folder; the rename itself has happened
    finally:
        os.close(fd)
