"""Honest exits of the launcher: Ctrl-C twice, kill -9, and the temporary directories of dead runs (real
gfn-stream processes, each with its own $TMPDIR)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path

import av
import pytest
from workers_kit import QUICK_ENV, STREAM, Proc

from gfn_stream.pipeline import tempdirs
from media import make_clip

SLOW = ("--test-fault", "delay_ms=150")  # 4 frames per 150 ms: the run is still going when we act


def _env(tmp: Path, **more) -> dict:
    tmp.mkdir(exist_ok=True)
    return {"TMPDIR": str(tmp), **more}


def _run_dirs(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith(tempdirs.PREFIX))


def _frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def _children(pid: int) -> list[int]:
    """Every process below `pid` (the nodes are the children of multiprocessing's fork server, the launcher's)."""
    parents = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    kids, below = [], {pid}
    while True:
        more = [k for k, parent in parents.items() if parent in below and k not in kids]
        if not more:
            return kids
        kids += more
        below.update(more)


def _running(pid: int) -> bool:
    try:  # a zombie has exited; only its new parent has not reaped it yet
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("gap_s", [0.2, 0.8])
def test_ctrl_c_twice_closes_the_output_and_leaves_no_temp_dir(tmp_path, gap_s):
    clip = make_clip(tmp_path / "in.mp4", frames=150).path
    out = tmp_path / "out.mp4"
    tmp = tmp_path / "tmp"
    p = Proc(STREAM, clip, out, "--model", "bicubic", "--preset", "ultrafast", "--log-level", "info", *SLOW,
             env=_env(tmp), start_new_session=True)
    try:
        p.wait_for("joined with", timeout=60)
        time.sleep(1.0)
        os.killpg(p.p.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole process group
        time.sleep(gap_s)
        os.killpg(p.p.pid, signal.SIGINT)
        rc = p.wait(timeout=60)
    finally:
        p.stop()
    assert rc == 130, p.stderr
    assert "Traceback" not in p.stderr and "KeyboardInterrupt" not in p.stderr, p.stderr
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith(f"gfn-stream: error: interrupted: {out} holds the first "), p.stderr
    held = int(last.split("holds the first ")[1].split()[0])
    assert 0 < held < 150 and _frames(out) == held
    assert _run_dirs(tmp) == []


def test_kill_9_of_the_launcher_the_nodes_go_at_once_and_the_next_run_sweeps_its_dir(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=150).path
    tmp = tmp_path / "tmp"
    p = Proc(STREAM, clip, tmp_path / "a.mp4", "--model", "bicubic", "--log-level", "info", *SLOW, env=_env(tmp))
    try:
        p.wait_for("joined with", timeout=60)
        kids = _children(p.p.pid)
        assert len(kids) >= 3  # decoder, worker, encoder (and multiprocessing's fork server, resource tracker)
        p.p.kill()
        p.wait(timeout=10)
        t0 = time.monotonic()
        while any(_running(k) for k in kids) and time.monotonic() - t0 < 10:
            time.sleep(0.02)
        gone_s = time.monotonic() - t0
    finally:
        p.stop()
    assert not any(_running(k) for k in kids)
    assert gone_s < 2.0, f"nodes outlived the launcher by {gone_s:.1f} s"
    left = _run_dirs(tmp)
    assert len(left) == 1  # nobody could remove it: its owner was killed
    r = subprocess.run([*STREAM, str(make_clip(tmp_path / "b.mp4", frames=2).path), str(tmp_path / "b_out.mp4"),
                        "--model", "bicubic", "-q"], capture_output=True, text=True, timeout=90,
                       env={**os.environ, **QUICK_ENV, "TMPDIR": str(tmp)})
    assert r.returncode == 0, r.stderr
    assert _run_dirs(tmp) == []  # the next run removed the dead run's directory, and its own


def test_sweep_removes_only_directories_of_dead_runs(tmp_path):
    def run_dir(name: str, lock: bool = True) -> Path:
        d = tmp_path / f"{tempdirs.PREFIX}{name}"
        d.mkdir()
        (d / "work").write_text("")
        if lock:
            (d / tempdirs.LOCK).write_text(f"{os.getpid()}\n")  # a live pid: pid files can lie, locks cannot
        return d

    dead = run_dir("dead")
    alive = run_dir("alive")
    young = run_dir("young", lock=False)
    old = run_dir("old", lock=False)
    os.utime(old, (time.time() - 2 * tempdirs.LOCKLESS_AGE_S,) * 2)
    other = tmp_path / "not-ours"
    other.mkdir()
    holder = subprocess.Popen(  # another process holds alive's lock, as its launcher would
        ["python3", "-c", "import fcntl,sys,time; f=open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); "
         "print('locked', flush=True); time.sleep(60)", str(alive / tempdirs.LOCK)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        removed = tempdirs.sweep_stale(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert sorted(removed) == sorted([dead.name, old.name])
    assert alive.exists() and young.exists() and other.exists() and not dead.exists() and not old.exists()


def test_a_run_dir_is_locked_while_in_use_and_removed_after(tmp_path, monkeypatch):
    monkeypatch.setattr(tempdirs.tempfile, "tempdir", str(tmp_path))
    with tempdirs.run_dir() as d:
        assert d.parent == tmp_path and (d.stat().st_mode & 0o777) == 0o700
        with open(d / tempdirs.LOCK) as f:
            with pytest.raises(BlockingIOError):
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert tempdirs.sweep_stale(tmp_path) == []
    assert not d.exists()
