"""The launcher's private temporary directory (`$TMPDIR/gfn-stream-XXXX`, mode 0700, the ipc:// sockets), and
the removal of those left behind by runs that died without cleaning up (kill -9, a power cut).

Each directory holds a file `lock`, flock()ed by its launcher for as long as it runs (the kernel releases the
lock when the process dies, however it dies), with the owner's pid in it for people. A run starting sweeps
`$TMPDIR/gfn-stream-*` directories of its own user: one whose lock it can take belongs to a dead run and is
removed. A live run's lock is held, so its directory is never touched; a reused pid cannot fool this. A
directory without a lock (being created right now, or left by an older gfn-stream) is removed only when it is
older than LOCKLESS_AGE_S.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

logger = logging.getLogger(__name__)
PREFIX = "gfn-stream-"
LOCK = "lock"
LOCKLESS_AGE_S = 3600.0
MAX_SCAN = 10_000  # entries of $TMPDIR looked at, at most


@contextmanager
def run_dir() -> Iterator[Path]:
    """A fresh private directory, locked while the `with` body runs, removed afterwards; stale ones of dead
    runs are removed first."""
    removed = sweep_stale()
    if removed:
        logger.info("removed %d temporary director(ies) left by runs that died: %s", len(removed), removed)
    path = Path(tempfile.mkdtemp(prefix=PREFIX))
    fd = None
    try:
        os.chmod(path, 0o700)
        fd = _create_lock(path)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if fd is not None:
            os.close(fd)  # after the removal: a sweeper never sees this directory unlocked while it exists


def _create_lock(path: Path) -> int:
    """flock a file under a temporary name, then rename it to `lock`: nobody ever sees it unlocked."""
    tmp = path / f".{LOCK}.{os.getpid()}"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.rename(tmp, path / LOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def sweep_stale(base: str | Path | None = None) -> list[str]:
    """Remove the gfn-stream run directories in `base` (default: the temp dir) whose owner is gone; returns
    their names. Never raises: a directory that cannot be checked or removed is left alone."""
    base = Path(base or tempfile.gettempdir())
    removed = []
    try:
        with os.scandir(base) as entries:
            candidates = [e for _, e in zip(range(MAX_SCAN), entries) if e.name.startswith(PREFIX)]
    except OSError:
        return removed
    uid = os.getuid()
    for entry in candidates:
        try:
            st = entry.stat(follow_symlinks=False)
            if not entry.is_dir(follow_symlinks=False) or st.st_uid != uid:
                continue
            if _stale(Path(entry.path), st.st_mtime):
                removed.append(entry.name)
        except OSError:
            continue
    return removed


def _stale(path: Path, mtime: float) -> bool:
    """Remove `path` if its run is dead (its lock is free); True when it was removed."""
    try:
        fd = os.open(path / LOCK, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        if time.time() - mtime < LOCKLESS_AGE_S:
            return False  # being created right now, or an old-style directory of a run that may still be going
        shutil.rmtree(path, ignore_errors=True)
        return not path.exists()
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its launcher is alive
        shutil.rmtree(path, ignore_errors=True)  # holding the lock: nobody else removes it meanwhile
        return not path.exists()
    finally:
        os.close(fd)
