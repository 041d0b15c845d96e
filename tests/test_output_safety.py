"""Data safety of outputs (media/output_file.py and its use in the sinks and the CLI): an output that is the
input under another name is refused, a full disk fails the run, one run at a time writes an output, a killed
encoder leaves a partial file with continuous timestamps. Real files and real gfn-stream processes."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from gfn_stream.media.output_file import OutputFile, partial_path, refuse_if_input
from gfn_stream.media.sink import EncodeOptions, SinkError, open_sink

sys.path.insert(0, str(Path(__file__).parent))  # tests/*.py helpers (pytest runs with --import-mode=importlib)
from workers_kit import STREAM as CLI  # noqa: E402

from media import make_clip, make_sequence, pattern, video_frames  # noqa: E402

INFO = {"time_base": [1, 25], "frame_rate": [25, 1]}


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def noise_clip(path: Path, frames: int = 30):
    """A clip that compresses badly (random pixels): its lossless 4x output is megabytes."""
    rng = np.random.default_rng(0)
    return make_clip(path, width=64, height=48, frames=frames,
                     image=lambda i: rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))


# ---------------------------------------------------------------------------------------------- 1. identity
def test_output_that_is_the_input_under_another_name_is_refused(tmp_path, cli):
    clip = make_clip(tmp_path / "same.mp4", frames=4)
    before = md5(clip.path)
    (tmp_path / "link.mp4").symlink_to("same.mp4")
    os.link(clip.path, tmp_path / "hard.mp4")
    (tmp_path / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    os.link(clip.path, tmp_path / "o.partial.mp4")  # the partial file of o.mp4 would truncate the input
    for out in ("link.mp4", "hard.mp4", "dirlink/same.mp4", "o.mp4"):
        r = cli(clip.path, tmp_path / out, "--model", "bicubic", "-y", timeout=60)
        assert r.returncode == 4, (out, r.stderr)
        lines = error_lines(r.stderr)
        assert len(lines) == 1 and "would overwrite the input" in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert md5(clip.path) == before
    assert (tmp_path / "link.mp4").is_symlink()


def test_refuse_if_input_checks_inodes_of_sequences(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    make_sequence(frames / "f_%03d.png", 3, width=8, height=6)
    (tmp_path / "alias").symlink_to(frames, target_is_directory=True)
    with pytest.raises(SinkError, match="same file"):
        refuse_if_input(str(frames / "f_%03d.png"), str(tmp_path / "alias" / "f_%03d.png"))
    with pytest.raises(SinkError, match="same file"):
        refuse_if_input(str(frames / "f_002.png"), str(tmp_path / "alias" / "f_%03d.png"))
    refuse_if_input(str(frames / "f_%03d.png"), str(tmp_path / "other_%03d.png"))  # different files: fine
    refuse_if_input(str(tmp_path / "missing.mp4"), str(tmp_path / "o.mp4"))


def test_video_is_written_aside_and_renamed_at_the_end(tmp_path):
    out = tmp_path / "o.mkv"
    out.write_bytes(b"previous run")
    (tmp_path / "link.mkv").symlink_to("o.mkv")
    with open_sink(tmp_path / "link.mkv", INFO, [], EncodeOptions(preset="ultrafast"), overwrite=True) as sink:
        for i in range(3):
            sink.write_frame(pattern(i, 16, 12), i, Fraction(1, 25))
        assert out.read_bytes() == b"previous run"  # never truncated in place
        assert (tmp_path / "o.partial.mkv").exists()
    assert (tmp_path / "link.mkv").is_symlink() and os.readlink(tmp_path / "link.mkv") == "o.mkv"
    assert len(video_frames(out)[0]) == 3 and not (tmp_path / "o.partial.mkv").exists()
    assert sink.written_to == str(tmp_path / "link.mkv")


# ---------------------------------------------------------------------------------------------- 2. disk full
def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode}); the RLIMIT_FSIZE test covers it")


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_full_disk_fails_the_run(tmp_path, ext, cli):
    """A 200 KiB tmpfs fills up mid-run: exit 4, one line naming the error and the partial file; no output."""
    clip = noise_clip(tmp_path / "in.mkv")
    small = tmp_path / "small"
    _mount_tmpfs(small, "200k")
    try:
        r = cli(clip.path, small / f"x.{ext}", "--model", "bicubic", "--crf", "0", "--preset", "ultrafast", "-q")
        assert r.returncode == 4, r.stderr
        lines = error_lines(r.stderr)
        assert len(lines) == 1 and "No space left on device" in lines[0] and f"x.partial.{ext}" in lines[0], r.stderr
        assert not (small / f"x.{ext}").exists()
        assert (small / f"x.partial.{ext}").exists()
    finally:
        subprocess.run(["umount", str(small)], check=False)


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))  # writes past it fail with EFBIG


def test_file_size_limit_fails_the_run_without_root(tmp_path):
    """The same failure without a mount: RLIMIT_FSIZE makes the muxer's writes fail (EFBIG; Python ignores
    SIGXFSZ), in the real encoder process."""
    clip = noise_clip(tmp_path / "in.mkv")
    out = tmp_path / "x.mp4"
    r = subprocess.run([*CLI, str(clip.path), str(out), "--model", "bicubic", "--crf", "0", "--preset", "ultrafast",
                        "-q"], capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size)
    assert r.returncode == 4, r.stderr
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and "File too large" in lines[0] and "x.partial.mp4" in lines[0], r.stderr
    assert not out.exists()


# ---------------------------------------------------------------------------------------------- 3. one writer
def test_one_writer_per_output(tmp_path):
    out = tmp_path / "o.mp4"
    with open_sink(out, INFO, [], EncodeOptions(preset="ultrafast")) as first:
        for overwrite in (False, True):
            with pytest.raises(SinkError, match="another gfn-stream run is writing"):
                open_sink(out, INFO, [], EncodeOptions(preset="ultrafast"), overwrite=overwrite)
        first.write_frame(pattern(0, 16, 12), 0, Fraction(1, 25))
    assert len(video_frames(out)[0]) == 1
    with open_sink(tmp_path / "f_%03d.png", {}, []) as seq:
        with pytest.raises(SinkError, match="another gfn-stream run is writing"):
            open_sink(tmp_path / "f_%03d.png", {}, [])
        seq.write_frame(pattern(0, 8, 6))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f_001.png", "o.mp4"]  # no lock or partial left


def test_second_run_on_the_same_output_is_refused(tmp_path, cli):
    clip = make_clip(tmp_path / "in.mp4", frames=4)
    out = tmp_path / "o.mp4"
    held = OutputFile(out)  # as a first run holds it while it writes
    try:
        for extra in ([], ["-y"]):
            r = cli(clip.path, out, "--model", "bicubic", *extra, timeout=60)
            assert r.returncode == 4, r.stderr
            lines = error_lines(r.stderr)
            assert len(lines) == 1 and "another gfn-stream run is writing" in lines[0], r.stderr
    finally:
        held.discard()
    assert not out.exists() and not Path(partial_path(out)).exists()


def test_a_killed_runs_partial_file_is_kept_unless_overwrite(tmp_path, cli):
    clip = make_clip(tmp_path / "in.mp4", frames=4)
    out = tmp_path / "o.mkv"
    left = tmp_path / "o.partial.mkv"
    left.write_bytes(b"what a killed run wrote")
    r = cli(clip.path, out, "--model", "bicubic", timeout=60)
    assert r.returncode == 4 and "left from an interrupted run" in r.stderr, r.stderr
    assert left.read_bytes() == b"what a killed run wrote"
    r = cli(clip.path, out, "--model", "bicubic", "--preset", "ultrafast", "-y", "-q", timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(video_frames(out)[0]) == 4 and not left.exists()


# ---------------------------------------------------------------------------------------------- 4. kill -9
def _descendants(pid: int) -> list[int]:
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return children + [d for c in children for d in _descendants(c)]


def _encoder_pid(launcher: int, partial: Path) -> int | None:
    """The process under the launcher (nodes start from a fork server) that holds the partial output open."""
    target = str(partial.resolve())
    for pid in _descendants(launcher):
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    return pid
            except OSError:
                pass
    return None


def test_kill9_of_the_encoder_leaves_a_partial_file_with_continuous_timestamps(tmp_path):
    """x264 medium (B-frames), 1 s fragments: the encoder is killed after the first fragments; the partial
    MP4 decodes with every frame in its own 40 ms slot (there was a one-frame hole at the first boundary)."""
    clip = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=600)
    out = tmp_path / "o.mp4"
    partial = tmp_path / "o.partial.mp4"
    p = subprocess.Popen([*CLI, str(clip.path), str(out), "--model", "bicubic", "--batch", "1", "-q"],
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (not partial.exists() or partial.stat().st_size < 60_000):
            time.sleep(0.05)
        encoder = _encoder_pid(p.pid, partial)
        assert encoder is not None and partial.exists(), "the run ended before the test could kill its encoder"
        os.kill(encoder, 9)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 5, err
    assert "killed by SIGKILL" in err and "o.partial.mp4" in err, err
    assert not out.exists()
    frames, pts, tb = video_frames(partial)
    assert len(frames) >= 25
    assert [float(t * tb) for t in pts] == pytest.approx([i / 25 for i in range(len(pts))], abs=1e-3)
