"""End-to-end: the real `gfn-stream` CLI in subprocesses on tiny generated clips."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media import make_audio, make_clip, make_image, make_sequence, truncate, video_frames

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "gfn_stream.pipeline.cli"]


def leftovers(tmpdir: Path) -> tuple[list[str], list[int]]:
    """Files left in the run's TMPDIR, and live processes that were started with that TMPDIR."""
    time.sleep(0.5)
    files = [p.name for p in tmpdir.iterdir()]
    pids = []
    marker = f"TMPDIR={tmpdir}".encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "environ").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                pass
    return files, pids


def packets(path: Path, kind: str) -> list[bytes]:
    with av.open(str(path)) as c:
        streams = [s for s in c.streams if s.type == kind]
        if not streams:
            return []
        return [bytes(p) for p in c.demux(streams[0]) if p.size]


def test_bicubic_video_with_audio(tmp_path, cli):
    clip = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=12, audio="aac")
    out = tmp_path / "out.mp4"
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    r = cli(clip.path, out, "--model", "bicubic", "--preset", "ultrafast", env={"TMPDIR": str(tmpdir)})
    assert r.returncode == 0, r.stderr
    assert leftovers(tmpdir) == ([], [])
    frames, pts, tb = video_frames(out)
    assert len(frames) == 12
    assert frames[0].shape == (96, 128, 3)
    assert [p * tb for p in pts] == [p * clip.time_base for p in clip.pts]
    assert packets(out, "audio") == packets(clip.path, "audio")  # remuxed untouched
    assert "12 frames" in r.stderr


def test_vfr_timestamps_survive(tmp_path, cli):
    pts = [0, 1, 2, 5, 6, 10, 11, 30]
    clip = make_clip(tmp_path / "vfr.mkv", pts=pts, time_base=Fraction(1, 25))
    out = tmp_path / "vfr_out.mkv"
    r = cli(clip.path, out, "--model", "bicubic", "--preset", "ultrafast")
    assert r.returncode == 0, r.stderr
    _, out_pts, tb = video_frames(out)
    assert [float(p * tb) for p in out_pts] == pytest.approx([float(p * clip.time_base) for p in pts], abs=1e-3)


def test_odd_size_gfn_two_workers_match_one(tmp_path, tiny_weights, cli):
    clip = make_clip(tmp_path / "odd.mkv", width=33, height=17, frames=9, pix_fmt="yuv444p")
    outs = []
    for workers, batch in ((1, 1), (2, 3)):
        out_dir = tmp_path / f"w{workers}"
        out_dir.mkdir()
        r = cli(clip.path, out_dir / "f_%04d.png", "--weights", tiny_weights, "--workers", workers,
                    "--batch", batch, "--device", "cpu", "-q")
        assert r.returncode == 0, r.stderr
        files = sorted(out_dir.glob("f_*.png"))
        assert len(files) == 9
        outs.append([np.asarray(av.open(str(f)).decode(video=0).__next__().to_ndarray(format="rgb24")) for f in files])
    for a, b in zip(*outs):
        assert a.shape == (68, 132, 3)
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_image_in_image_out(tmp_path, cli):
    rgb = np.random.default_rng(0).integers(0, 256, (10, 14, 3), dtype=np.uint8)
    src = make_image(tmp_path / "in.png", rgb)
    r = cli(src, tmp_path / "out.png", "--model", "bicubic")
    assert r.returncode == 0, r.stderr
    with av.open(str(tmp_path / "out.png")) as c:
        assert next(c.decode(video=0)).to_ndarray(format="rgb24").shape == (40, 56, 3)


def test_image_sequence_in_video_out(tmp_path, cli):
    make_sequence(tmp_path / "f_%03d.png", 5, width=16, height=12)
    r = cli(tmp_path / "f_%03d.png", tmp_path / "seq.mp4", "--model", "bicubic", "--preset", "ultrafast")
    assert r.returncode == 0, r.stderr
    frames, _, _ = video_frames(tmp_path / "seq.mp4")
    assert len(frames) == 5 and frames[0].shape == (48, 64, 3)


@pytest.mark.parametrize(
    "make,code,words",
    [
        (lambda d: d / "missing.mp4", 3, "not found"),
        (lambda d: _write(d / "empty.mp4", b""), 3, "empty"),
        (lambda d: _write(d / "text.mp4", b"hello, this is not a video\n" * 50), 3, "video"),
        (lambda d: make_audio(d / "audio_only.m4a"), 3, "no video"),
    ],
    ids=["missing", "zero-byte", "not-video", "no-video-stream"],
)
def test_bad_inputs_fail_in_one_line(tmp_path, make, code, words, cli):
    src = make(tmp_path)
    r = cli(src, tmp_path / "o.mp4", "--model", "bicubic")
    assert r.returncode == code, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0].lower() and "Traceback" not in r.stderr
    assert not (tmp_path / "o.mp4").exists() or (tmp_path / "o.mp4").stat().st_size == 0


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_bad_outputs_are_refused_before_work(tmp_path, cli):
    clip = make_clip(tmp_path / "in.mp4", frames=2)
    cases = [
        (tmp_path / "nodir" / "o.mp4", [], "folder does not exist"),
        (tmp_path / "o.xyz", [], "unsupported output"),
        (clip.path, ["-y"], "input"),
    ]
    (tmp_path / "exists.mp4").write_bytes(b"keep me")
    cases.append((tmp_path / "exists.mp4", [], "exists"))
    for out, extra, words in cases:
        r = cli(clip.path, out, "--model", "bicubic", *extra, timeout=60)
        assert r.returncode == 4, (out, r.stderr)
        assert words in r.stderr.lower() and "Traceback" not in r.stderr, r.stderr
    assert (tmp_path / "exists.mp4").read_bytes() == b"keep me"


def test_truncated_input_processes_what_decodes(tmp_path, cli):
    clip = make_clip(tmp_path / "long.mkv", width=32, height=24, frames=60, faststart=False)
    cut = truncate(clip.path, 0.5, tmp_path / "cut.mkv")
    r = cli(cut, tmp_path / "cut_out.mkv", "--model", "bicubic", "--preset", "ultrafast")
    assert r.returncode == 0, r.stderr
    frames, _, _ = video_frames(tmp_path / "cut_out.mkv")
    assert 0 < len(frames) < 60
    assert "trunc" in r.stderr.lower()


def test_worker_death_stops_the_run_with_its_name(tmp_path, cli):
    clip = make_clip(tmp_path / "in.mp4", frames=30)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    r = cli(clip.path, tmp_path / "o.mp4", "--model", "bicubic", "--batch", "1", "--test-fault", "exit_after=3",
                env={"TMPDIR": str(tmpdir)}, timeout=90)
    assert r.returncode == 5, r.stderr
    assert "worker 1" in r.stderr and "Traceback" not in r.stderr
    assert leftovers(tmpdir) == ([], [])  # no sockets, no orphans


def test_ctrl_c_leaves_a_playable_partial_output(tmp_path, tiny_weights):
    clip = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=400)
    out = tmp_path / "partial.mp4"
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    p = subprocess.Popen([*CLI, str(clip.path), str(out), "--weights", str(tiny_weights), "--device", "cpu",
                          "--batch", "1", "--preset", "ultrafast"],
                         stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmpdir)})
    deadline = time.monotonic() + 60
    writing = tmp_path / "partial.partial.mp4"  # written under this name, renamed to out when closed
    while time.monotonic() < deadline and (not writing.exists() or writing.stat().st_size < 2000):
        time.sleep(0.2)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    frames, _, _ = video_frames(out)
    assert 0 < len(frames) < 400
    assert f"holds the first {len(frames)} frame" in err
    assert not writing.exists()
    assert leftovers(tmpdir) == ([], [])
