"""Many inputs in one call (`gfn-stream a.mp4 b.mkv -o outdir/`): the real CLI on tiny encoded clips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import pytest

from gfn_stream.pipeline.batch import expand, output_for, plan_outputs
from media import make_clip

CLI = [sys.executable, "-m", "gfn_stream.pipeline.cli"]


def run_cli(*args, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def frames_and_size(path: Path) -> tuple[int, tuple[int, int]]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        return len(frames), (frames[0].width, frames[0].height)


@pytest.fixture()
def clips(tmp_path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    make_clip(d / "a.mp4", width=32, height=24, frames=5)
    make_clip(d / "c.mkv", width=24, height=16, frames=4)
    (d / "broken.mp4").write_bytes(b"this is not a video\n" * 100)
    return d


def test_one_broken_file_is_reported_and_skipped_the_workers_start_once(tmp_path, clips):
    out = tmp_path / "out"
    r = run_cli(clips / "a.mp4", clips / "broken.mp4", clips / "c.mkv", "-o", f"{out}/", "--model", "bicubic",
                "--preset", "ultrafast", "--outscale", "2", "--log-level", "info")
    assert r.returncode == 6, r.stderr
    assert frames_and_size(out / "a.mp4") == (5, (64, 48))
    assert frames_and_size(out / "c.mkv") == (4, (48, 32))
    assert not (out / "broken.mp4").exists()
    errors = [line for line in r.stderr.splitlines() if "broken.mp4: error:" in line]
    assert len(errors) == 1 and "not a video" in errors[0]
    last = r.stderr.strip().splitlines()[-1]
    assert "batch: 2 of 3 done, 1 failed" in last and "broken.mp4 (exit 3)" in last
    assert r.stderr.count("started worker 1 ") == 1  # one set of workers for the whole batch
    assert r.stderr.count("started decoder ") == 3  # each file its own job
    assert "Traceback" not in r.stderr


def test_a_folder_and_a_quoted_glob(tmp_path, clips):
    (clips / "broken.mp4").unlink()
    (clips / "notes.txt").write_text("not a video")
    more = tmp_path / "more"
    more.mkdir()
    make_clip(more / "d.mov", width=16, height=16, frames=3)
    out = tmp_path / "out"
    r = run_cli(clips, str(more / "*.mov"), "-o", out, "--model", "bicubic", "--preset", "ultrafast", "-q")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "c.mkv", "d.mov"]
    assert frames_and_size(out / "d.mov") == (3, (64, 64))
    assert r.stderr == ""  # -q: nothing but errors


def test_planning_the_outputs(tmp_path, clips):
    inputs, problems = expand([str(clips), str(clips / "a.mp4"), str(tmp_path / "none*.mp4")])
    assert [Path(p).name for p in inputs] == ["a.mp4", "broken.mp4", "c.mkv"]  # a.mp4 once
    assert problems == [f"{tmp_path / 'none*.mp4'}: no file matches"]
    assert output_for("x/clip.avi", "o") == str(Path("o") / "clip.mkv")  # a container we do not write
    assert output_for("x/clip.MOV", "o") == str(Path("o") / "clip.MOV")
    with pytest.raises(Exception, match="would both be written"):
        plan_outputs(["x/a.mp4", "y/a.mp4"], "o")


def test_same_output_name_twice_is_refused_before_any_work(tmp_path, clips):
    other = tmp_path / "other"
    other.mkdir()
    make_clip(other / "a.mp4", frames=2)
    r = run_cli(clips / "a.mp4", other / "a.mp4", "-o", tmp_path / "out", "--model", "bicubic")
    assert r.returncode == 2 and "would both be written" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_single_input_with_o_and_the_two_argument_form(tmp_path, clips):
    r = run_cli(clips / "a.mp4", "-o", tmp_path / "one.mp4", "--model", "bicubic", "--preset", "ultrafast", "-q")
    assert r.returncode == 0, r.stderr
    assert frames_and_size(tmp_path / "one.mp4") == (5, (128, 96))
    r = run_cli(clips / "a.mp4", clips / "c.mkv", tmp_path / "three.mp4", "--model", "bicubic")
    assert r.returncode == 2 and "-o OUTDIR/" in r.stderr  # three paths without -o: not guessed
    r = run_cli(clips / "a.mp4", clips / "c.mkv", "-o", tmp_path / "one.mp4", "--model", "bicubic")
    assert r.returncode == 4 and "output folder" in r.stderr  # -o names an existing file


def test_resume_per_file(tmp_path, clips):
    """--resume in a batch: each file is a resumable job; run again, the files an earlier run finished are
    skipped and the others done."""
    (clips / "broken.mp4").unlink()
    out = tmp_path / "out"
    args = ("-o", f"{out}/", "--model", "bicubic", "--preset", "ultrafast", "--resume")
    r = run_cli(clips / "a.mp4", clips / "c.mkv", *args, "-q")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "c.mkv"]  # no OUT.resume/ left after success
    first = (out / "a.mp4").read_bytes()
    (out / "c.mkv").unlink()
    r = run_cli(clips / "a.mp4", clips / "c.mkv", *args)
    assert r.returncode == 0, r.stderr
    assert "a.mp4: done by an earlier run" in r.stderr
    assert (out / "a.mp4").read_bytes() == first and frames_and_size(out / "c.mkv") == (4, (96, 64))


def test_live_inputs_are_not_batched(tmp_path, clips):
    r = run_cli("rtsp://127.0.0.1:9/x", clips / "a.mp4", "-o", tmp_path / "out", "--model", "bicubic")
    assert r.returncode == 2 and "not live inputs" in r.stderr and not (tmp_path / "out").exists()


def test_ctrl_c_stops_the_batch_and_closes_the_file_being_written(tmp_path, clips):
    import signal
    import time

    make_clip(clips / "long.mp4", width=32, height=24, frames=60)
    out = tmp_path / "out"
    p = subprocess.Popen([*CLI, str(clips / "long.mp4"), str(clips / "c.mkv"), "-o", f"{out}/", "--model", "bicubic",
                          "--preset", "ultrafast", "--batch", "2", "-q", "--test-fault", "delay_ms=200"],
                         stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmp_path)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out / "long.partial.mp4").exists():
        time.sleep(0.1)
    time.sleep(2.0)  # some frames written, most not
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert [x.name for x in out.iterdir()] == ["long.mp4"]  # closed properly under its name; c.mkv not started
    frames, size = frames_and_size(out / "long.mp4")
    assert 0 < frames < 60 and size == (128, 96) and f"holds the first {frames} frame(s)" in err
    assert not list(tmp_path.glob("gfn-stream-*"))  # the batch's private folder is gone
