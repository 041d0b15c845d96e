"""Inputs that are not what they seem, and the tool says so: image sequences with gaps, damaged files,
a resolution change in a file, --max-fps/--duration on files, frames too big to process. Real files, the
real CLI in subprocesses where the behaviour is end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from gfn_stream.media import sequence
from gfn_stream.media.frames import Frame, SourceError
from gfn_stream.media.source import open_source

sys.path.insert(0, str(Path(__file__).parent))  # tests/media.py (pytest runs with --import-mode=importlib)
from media import decode_video, make_clip, make_sequence, pattern  # noqa: E402

CLI = [sys.executable, "-m", "gfn_stream.pipeline.cli"]


def run_cli(*args, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args), "--model", "bicubic", "--preset", "ultrafast"],
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def frames_of(path) -> list[Frame]:
    with open_source(path) as src:
        return [it for it in src.items() if isinstance(it, Frame)]


# ---------------------------------------------------------------------------------------------- sequences
def test_sequence_gap_reads_every_file_in_order(tmp_path):
    make_sequence(tmp_path / "f_%04d.png", 10, width=20, height=10)
    os.remove(tmp_path / "f_0005.png")
    os.remove(tmp_path / "f_0008.png")
    with open_source(tmp_path / "f_%04d.png", rate=10) as src:
        frames = [it for it in src.items() if isinstance(it, Frame)]
        assert src.warnings[0].startswith(f"image sequence {tmp_path}/f_%04d.png has 2 missing number(s)")
        assert "f_0005.png, f_0008.png" in src.warnings[0]
        assert src.info["frames"] == 8 and src.info["missing_images"] == 2
    present = [0, 1, 2, 3, 5, 6, 8, 9]  # pattern index = number - 1
    assert len(frames) == 8
    for f, i in zip(frames, present):
        np.testing.assert_array_equal(f.rgb, pattern(i, 20, 10))
    assert [f.pts * f.time_base for f in frames] == [Fraction(k, 10) for k in range(8)]


def test_complete_sequence_has_no_warning(tmp_path):
    make_sequence(tmp_path / "f_%03d.png", 3, start=7)
    with open_source(tmp_path / "f_%03d.png") as src:
        assert len([it for it in src.items() if isinstance(it, Frame)]) == 3 and src.warnings == []


def test_sequence_scan(tmp_path):
    for name in ("a_1.png", "a_2.png", "a_10.png", "a_007.png", "b_3.png"):
        (tmp_path / name).write_bytes(b"")
    files = sequence.scan(str(tmp_path / "a_%d.png"))
    assert files.numbers == [1, 2, 10] and files.missing == list(range(3, 10))  # a_007 is not what %d writes
    assert "7 missing number(s) between 1 and 10 (a_3.png, a_4.png" in files.warning()
    with pytest.raises(sequence.SequenceError, match="no images match"):
        sequence.scan(str(tmp_path / "c_%04d.png"))
    with pytest.raises(SourceError, match="folder not found"):
        open_source(tmp_path / "nowhere" / "%04d.png")


def test_cli_sequence_gap_video_out(tmp_path):
    make_sequence(tmp_path / "f_%04d.png", 10, width=16, height=12)
    os.remove(tmp_path / "f_0005.png")
    report = tmp_path / "r.json"
    r = run_cli(tmp_path / "f_%04d.png", tmp_path / "o.mp4", "--report", report)
    assert r.returncode == 0, r.stderr
    assert "warning: image sequence" in r.stderr and "f_0005.png" in r.stderr
    frames = decode_video(tmp_path / "o.mp4").rgb
    assert len(frames) == 9
    assert any("missing number" in w for w in json.loads(report.read_text())["warnings"])


# ---------------------------------------------------------------------------------------------- damage
def damage(path: Path, dst: Path) -> Path:
    """XOR 0xFF into 30 % of 3000 bytes in the middle of a file (the reliability report's recipe)."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(mid, mid + 3000):
        if (i * 7919) % 10 < 3:
            data[i] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


def test_accounting_counts_holes_only_with_evidence():
    from gfn_stream.media.accounting import InputAccount

    vfr = InputAccount(0.04, None, None)
    for t in (0.0, 0.04, 0.14, 0.16):  # 40 / 100 / 20 ms steps: variable frame rate, nothing lost
        vfr.packet(False)
        vfr.frame(t)
    assert vfr.summary() is None and vfr.missing == 0
    hurt = InputAccount(0.04, None, None)
    for t in (0.0, 0.04, 0.24, 0.28):  # a hole of 5 frame steps: 4 frames missing
        hurt.packet(t == 0.24)
        hurt.frame(t)
    assert hurt.missing == 4 and "4 frame(s) missing by the timestamps (before 0.24 s)" in hurt.summary()
    short = InputAccount(0.04, 100, 4.0)
    for k in range(83):
        short.frame(k * 0.04)
    for _ in range(16):
        short.undecodable()
    line = short.summary()
    assert "16 video packet(s) could not be decoded" in line and "decoded 83 of 100 frames (17 missing)" in line
    assert "\n" not in line and short.stats()["frames_missing"] == 17


@pytest.mark.parametrize("ext", [".ts", ".mp4"])
def test_damaged_input_is_reported_in_one_line(tmp_path, ext):
    clip = make_clip(tmp_path / f"clean{ext}", width=64, height=48, frames=100)
    bad = damage(clip.path, tmp_path / f"bad{ext}")
    with open_source(bad) as src:
        frames = [it for it in src.items() if isinstance(it, Frame)]
        lines = [w for w in src.warnings if w.startswith("input is damaged")]
        stats = src.account.stats()
    assert len(frames) < 100 and len(lines) == 1 and "\n" not in lines[0]
    assert stats["frames_decoded"] == len(frames) and stats["frames_decoded"] + stats["frames_missing"] == 100


def test_cli_damaged_ts_warns_and_reports(tmp_path):
    clip = make_clip(tmp_path / "clean.ts", width=64, height=48, frames=100)
    bad = damage(clip.path, tmp_path / "bad.ts")
    report = tmp_path / "r.json"
    r = run_cli(bad, tmp_path / "o.mp4", "--report", report)
    assert r.returncode == 0, r.stderr
    warned = [line for line in r.stderr.splitlines() if "input is damaged" in line]
    assert len(warned) == 1 and "missing" in warned[0]
    got = json.loads(report.read_text())["input"]
    assert got["frames_decoded"] == len(decode_video(tmp_path / "o.mp4").rgb) and got["frames_missing"] > 0


def test_clean_inputs_say_nothing(tmp_path):
    for name in ("c.ts", "c.mp4", "c.mkv"):
        clip = make_clip(tmp_path / name, frames=30)
        with open_source(clip.path) as src:
            assert sum(isinstance(it, Frame) for it in src.items()) == 30 and src.warnings == []
            assert src.account.stats()["frames_missing"] == 0


# ---------------------------------------------------------------------------------------------- --max-fps, --duration
def test_file_limits_unit():
    from gfn_stream.media.limits import FileLimits

    lim = FileLimits(max_fps=10, duration_s=1.0, origin_s=2.0)
    verdicts = [lim.frame(2.0 + k * 0.04) for k in range(30)]  # 25 fps from 2.0 s
    assert verdicts.count("keep") == 10 and verdicts.index("stop") == 25 and lim.dropped == 15
    assert lim.packet(2.99) and not lim.packet(3.0)
    assert "--max-fps 10: 15 frame(s) dropped" in lim.note() and "--duration 1" in lim.note()
    assert FileLimits(None, None, 0.0).note() is None


def test_file_items_skip_resumed_frames_and_pass_packets():
    """media/limits.py file_items: --resume's skip counts frames after --max-fps, packets pass, a None per 64."""
    from gfn_stream.media.limits import FileLimits, file_items
    from gfn_stream.media.packets import Packet

    tb = Fraction(1, 100)
    frames = [Frame(i, tb, None) for i in range(200)]  # 100 fps, 2 s
    items = [Packet(1, 0, 0, None, tb, True, b"a"), *frames]
    assert list(file_items(iter(items), None)) == items
    skipped = list(file_items(iter(items), None, skip=130))
    assert skipped[0] is items[0] and skipped.count(None) == 2 and skipped[3:] == frames[130:]
    limited = list(file_items(iter(frames), FileLimits(max_fps=50, duration_s=None, origin_s=0.0), skip=3))
    assert [f.pts for f in limited] == list(range(6, 200, 2))


def test_cli_duration_and_max_fps_on_a_file(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=50, audio="aac")  # 2 s at 25 fps
    out, report = tmp_path / "o.mkv", tmp_path / "r.json"
    r = run_cli(clip.path, out, "--duration", "1", "--max-fps", "10", "--report", report)
    assert r.returncode == 0, r.stderr
    video = decode_video(out)
    frames, times = video.rgb, video.pts_s
    assert len(frames) == 10 and max(times) < 1.0
    assert all(b - a >= 0.08 - 1e-6 for a, b in zip(times, times[1:]))
    with av.open(str(out)) as c:  # closed properly, audio cut at the same place
        audio_end = max(float((p.pts + p.duration) * p.time_base) for p in c.demux(audio=0) if p.size)
    assert audio_end < 1.1
    rep = json.loads(report.read_text())
    assert rep["frames"] == 10 and rep["input"]["frames_dropped_max_fps"] == 15 and rep["input"]["stopped_at_duration"]
    assert "--max-fps 10" in r.stderr and "--duration 1" in r.stderr


# ---------------------------------------------------------------------------------------------- size change
def size_change_ts(tmp_path: Path) -> Path:
    """An MPEG-TS of 25 frames 160x90 followed by 25 frames 128x96, timestamps continuous (a TS concat)."""
    a = make_clip(tmp_path / "a.ts", width=160, height=90, frames=25)
    b = make_clip(tmp_path / "b.ts", width=128, height=96, frames=25, pts=range(25, 50))
    out = tmp_path / "change.ts"
    out.write_bytes(a.path.read_bytes() + b.path.read_bytes())
    return out


def test_size_change_mid_file_is_scaled_to_the_first_size(tmp_path):
    with open_source(size_change_ts(tmp_path)) as src:
        frames = [it for it in src.items() if isinstance(it, Frame)]
        lines = [w for w in src.warnings if "picture size changes" in w]
    assert len(frames) == 50 and {f.rgb.shape for f in frames} == {(90, 160, 3)}
    assert lines == ["the picture size changes mid-file: 128x96 from frame 25 (1.00 s); 25 frame(s) scaled to "
                     "the first frame's 160x90"]
    second = pattern(25, 128, 96)  # the scaled picture still shows the second clip's pattern
    assert np.abs(frames[25].rgb[5, 5].astype(int) - second[5, 5]).max() < 40


def test_cli_size_change_mid_file(tmp_path):
    r = run_cli(size_change_ts(tmp_path), tmp_path / "o.mp4")
    assert r.returncode == 0, r.stderr
    assert "picture size changes mid-file: 128x96 from frame 25" in r.stderr
    video = decode_video(tmp_path / "o.mp4")
    frames, times = video.rgb, video.pts_s
    assert len(frames) == 50 and {f.shape for f in frames} == {(360, 640, 3)}
    assert times == pytest.approx([k / 25 for k in range(50)], abs=1e-3)


# ---------------------------------------------------------------------------------------------- huge frames
def test_frame_size_limits():
    from gfn_stream.media.size_limits import FrameTooLarge, check_frame_size

    check_frame_size(4096, 4096, codec="libx264", available=64 << 30)  # 16384 x 16384 out: the limit
    with pytest.raises(FrameTooLarge, match=r"8192x8192 are too large: the 4x output 32768x32768 exceeds the "
                                            r"16384x16384 that libx264 can encode; use an input of at most 4096x4096"):
        check_frame_size(8192, 8192, codec="libx264", available=1 << 50)
    with pytest.raises(FrameTooLarge, match="libsvtav1"):
        check_frame_size(4096, 2200, codec="libsvtav1", available=1 << 50)  # 8800 high > 8704
    check_frame_size(8192, 8192, codec="libx265", available=1 << 50)  # no side limit, enough memory
    with pytest.raises(FrameTooLarge, match=r"GiB of memory is available"):
        check_frame_size(2048, 2048, codec=None, kind="image", available=1 << 30)
    check_frame_size(160, 90, codec="libx264")  # the machine's own MemAvailable


@pytest.mark.parametrize("side,opens", [(16384, True), (16386, False)])
def test_libx264_side_limit_is_what_the_encoder_takes(side, opens):
    cc = av.CodecContext.create("libx264", "w")
    cc.width, cc.height, cc.pix_fmt, cc.time_base = side, 16, "yuv420p", Fraction(1, 25)
    cc.options = {"preset": "ultrafast"}
    if opens:
        cc.open()
    else:
        with pytest.raises(av.FFmpegError):
            cc.open()


def test_cli_refuses_a_frame_too_large_before_work(tmp_path):
    clip = make_clip(tmp_path / "wide.mp4", width=4100, height=16, frames=2)  # 4x: 16400 > 16384
    r = run_cli(clip.path, tmp_path / "o.mp4")
    assert r.returncode == 3, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("gfn-stream: error:")]
    assert len(errors) == 1 and "16400x64 exceeds the 16384x16384 that libx264 can encode" in errors[0]
    assert "never came back" not in r.stderr and not (tmp_path / "o.mp4").exists()
