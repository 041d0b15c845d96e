"""Output size (--outscale, --size, --width, --height), --compare and --preview: the real CLI on tiny encoded
clips, decoded back with PyAV (no mocks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from gfn_stream.media import stills
from gfn_stream.media.compose import bicubic, finish, resample, split_screen
from gfn_stream.media.frames import Frame
from gfn_stream.media.out_size import FramePlan, SizeError, SizeRequest, parse_size, pix_fmt_step
from gfn_stream.media.source import open_source
from gfn_stream.models.enhancer import Enhancer
from gfn_stream.transport import protocol
from gfn_stream.transport.result_check import mismatch
from media import decode_video, make_clip, make_hls, serve_http

CLI = [sys.executable, "-m", "gfn_stream.pipeline.cli"]
DEMO = Path(__file__).resolve().parents[1] / "demo" / "demo.mp4"
EXACT = ("--codec", "libx264", "--crf", "0", "--pix-fmt", "yuv444p", "--preset", "ultrafast")


def run_cli(*args, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "in.mp4", width=32, height=24, frames=6)


# ------------------------------------------------------------------------------------------ sizes, no processes
def test_sizes_from_requests():
    even = (2, 2)
    assert SizeRequest().for_input(33, 17, even) == (132, 68)
    assert SizeRequest(outscale=2).for_input(320, 180, even) == (640, 360)
    assert SizeRequest(outscale=2.5).for_input(33, 17, even) == (82, 42)  # 82.5 x 42.5 -> even
    assert SizeRequest(outscale=1.5).for_input(33, 17) == (50, 26)  # any size for rgb / images
    assert SizeRequest(width=1280).for_input(320, 180, even) == (1280, 720)
    assert SizeRequest(height=359).for_input(320, 180, even) == (640, 360)  # rounded to even, width from it
    assert SizeRequest(width=100, height=50).for_input(320, 180, even) == (100, 50)  # both: the aspect is theirs
    assert pix_fmt_step("yuv420p") == (2, 2) and pix_fmt_step("yuv422p") == (2, 1)
    assert pix_fmt_step("yuv444p") == (1, 1) and pix_fmt_step("rgb24") == (1, 1)
    assert parse_size("1920x1080") == (1920, 1080)


@pytest.mark.parametrize("request_, words", [
    (SizeRequest(outscale=4.5), "from 1 to 4"),
    (SizeRequest(outscale=0.5), "from 1 to 4"),
    (SizeRequest(outscale=float("nan")), "from 1 to 4"),
    (SizeRequest(outscale=2, width=10), "exclude"),
    (SizeRequest(width=0), "at least 1"),
])
def test_impossible_requests(request_, words):
    with pytest.raises(SizeError, match=words):
        request_.check()


def test_larger_than_4x_is_refused():
    with pytest.raises(SizeError, match="larger than 4x the 320x180 input"):
        SizeRequest(width=1290).for_input(320, 180, (2, 2))
    with pytest.raises(SizeError):
        parse_size("1920 by 1080")


def test_split_screen_halves_and_divider():
    left = np.full((40, 64, 3), 10, np.uint8)
    right = np.full((40, 64, 3), 200, np.uint8)
    out = split_screen(left, right, ("", ""))
    assert out.shape == left.shape
    assert (out[:, :30] == 10).all() and (out[:, 34:] == 200).all()
    assert (out[:, 31:33] == 255).all()  # the divider


def test_frame_plan_and_result_check_take_the_output_size():
    plan = FramePlan(outscale=2.0, step=(2, 2), compare=True)
    assert plan.fields(32, 24) == {"out": [64, 48], "cmp": True}
    assert FramePlan().fields(32, 24) == {}  # the plain 4x result: nothing on the wire
    lr = np.zeros((24, 32, 3), np.uint8)
    sent = protocol.pack_frame(protocol.FrameHeader(0, 0, Fraction(1, 25), 0, 0), lr, plan.fields(32, 24))
    msg = protocol.unpack(sent)
    fh, _ = protocol.unpack_frame(msg)
    assert fh.extra["out"] == [64, 48] and fh.extra["cmp"] is True
    result = finish(lr, np.zeros((96, 128, 3), np.uint8), (64, 48), compare=True)
    answer = protocol.unpack(protocol.pack_frame(protocol.FrameHeader(0, 0, fh.time_base, 0, 0, extra=fh.extra),
                                                 result))
    assert mismatch(bytes(sent[0]), answer) is None
    wrong = protocol.unpack(protocol.pack_frame(protocol.FrameHeader(0, 0, fh.time_base, 0, 0, extra=fh.extra),
                                                np.zeros((96, 128, 3), np.uint8)))
    assert "not 64x48" in mismatch(bytes(sent[0]), wrong)
    with pytest.raises(protocol.ProtocolError, match="output size"):
        header = json.loads(bytes(sent[0]))
        header["out"] = [64]
        protocol.unpack([json.dumps(header).encode(), sent[1]])


# ------------------------------------------------------------------------------------------ the CLI
@pytest.fixture(scope="module")
def photo_clip(tmp_path_factory):
    """Four 64x48 frames of the demo clip (natural content: what the shipped weights are made for)."""
    with av.open(str(DEMO)) as c:
        demo = [f.to_ndarray(format="rgb24") for _, f in zip(range(4), c.decode(video=0))]
    return make_clip(tmp_path_factory.mktemp("photo") / "photo.mp4", width=64, height=48, frames=4,
                     image=lambda i: cv2.resize(demo[i], (64, 48), interpolation=cv2.INTER_AREA))


@pytest.mark.parametrize("request_, size", [(("--outscale", "2"), (128, 96)), (("--outscale", "2.5"), (160, 120)),
                                            (("--size", "100x76"), (100, 76))])
def test_outscale_is_the_4x_output_resampled(tmp_path, photo_clip, request_, size):
    """The shipped weights at 4x, resampled here, against the same run with --outscale / --size (resampled on
    the worker, 4:2:0 on the wire both ways): the same picture but for rounding."""
    args = ("--device", "cpu", "-q", *EXACT)
    r4 = run_cli(photo_clip.path, tmp_path / "x4.mkv", *args)
    rs = run_cli(photo_clip.path, tmp_path / "xs.mkv", *request_, *args)
    assert r4.returncode == 0 and rs.returncode == 0, r4.stderr + rs.stderr
    x4, xs = decode_video(tmp_path / "x4.mkv").rgb, decode_video(tmp_path / "xs.mkv").rgb
    assert len(xs) == len(x4) == 4
    for a, b in zip(x4, xs):
        assert a.shape == (192, 256, 3) and b.shape == (size[1], size[0], 3)
        want = resample(a, size).astype(float)
        mse = np.mean((want - b) ** 2)
        assert np.abs(want - b).mean() < 1.0 and 10 * np.log10(255**2 / mse) > 42  # measured: 0.6, 48 dB


def test_size_width_height_exact_and_rounded(tmp_path, clip):
    cases = [(("--size", "100x50"), (100, 50)), (("--width", "65"), (66, 50)), (("--height", "31"), (42, 32)),
             (("--outscale", "1"), (32, 24))]
    for i, (args, (w, h)) in enumerate(cases):
        out = tmp_path / f"s{i}.mp4"
        r = run_cli(clip.path, out, "--model", "bicubic", "--preset", "ultrafast", "-q", *args)
        assert r.returncode == 0, r.stderr
        frames = decode_video(out).rgb
        assert len(frames) == 6 and frames[0].shape == (h, w, 3), args
        assert "padded" not in r.stderr  # even sizes for yuv420p: nothing for the encoder to pad


@pytest.mark.parametrize("args, code, words", [
    (("--outscale", "5"), 2, "--outscale must be a number from 1 to 4"),
    (("--outscale", "2", "--width", "64"), 2, "exclude"),
    (("--size", "64by48"), 2, "WIDTHxHEIGHT"),
    (("--size", "64x48", "--width", "64"), 2, "excludes"),
    (("--width", "1000"), 2, "larger than 4x the 32x24 input"),
    (("--preview", "0"), 2, "at least 1"),
    (("--preview", "2", "--live"), 2, "not a live input"),
])
def test_bad_size_requests_fail_in_one_line(tmp_path, clip, args, code, words):
    out = tmp_path / ("o.png" if "--preview" in args else "o.mp4")
    r = run_cli(clip.path, out, "--model", "bicubic", "-q", *args)
    assert r.returncode == code, r.stderr
    assert words in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def source_frames(path: Path) -> list[np.ndarray]:
    """The frames as gfn-stream reads them (media/source.py: its colour conversion)."""
    with open_source(path) as src:
        return [f.rgb for f in src.items() if isinstance(f, Frame)]


def test_compare_is_bicubic_left_and_gfn_right(tmp_path, photo_clip):
    args = ("--device", "cpu", "-q", *EXACT)
    plain, cmp = tmp_path / "plain.mkv", tmp_path / "cmp.mkv"
    assert run_cli(photo_clip.path, plain, "--outscale", "2", *args).returncode == 0
    r = run_cli(photo_clip.path, cmp, "--outscale", "2", "--compare", *args)
    assert r.returncode == 0, r.stderr
    for src, p, s in zip(source_frames(photo_clip.path), decode_video(plain).rgb, decode_video(cmp).rgb):
        assert s.shape == p.shape == (96, 128, 3)
        rows = slice(24, 96)  # below the labels
        left = np.abs(s[rows, :60].astype(int) - bicubic(src, (128, 96))[rows, :60].astype(int))
        right = np.abs(s[rows, 68:].astype(int) - p[rows, 68:].astype(int))
        assert left.mean() < 1.5 and right.mean() < 1.0
        assert (s[rows, 63:65] > 200).all()  # the divider


def test_preview_contact_sheet(tmp_path, clip, tiny_weights):
    sheet = tmp_path / "sheet.png"
    t0 = time.monotonic()
    r = run_cli(clip.path, sheet, "--preview", "3", "--compare", "--weights", tiny_weights, "--device", "cpu")
    seconds = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    with av.open(str(sheet)) as c:
        img = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert img.shape == (2 * 96 + 4, 2 * 128 + 4, 3)  # 2 x 2 grid of 4x tiles, 4 px apart
    assert (img[100:, 132:] == 0).all()  # the fourth cell is empty
    assert seconds < 60
    r = run_cli(clip.path, sheet, "--preview", "2", "--outscale", "2", "--model", "bicubic")
    assert r.returncode == 4 and "exists" in r.stderr  # no -y: refused
    r = run_cli(clip.path, sheet, "--preview", "2", "--outscale", "2", "--model", "bicubic", "-y")
    assert r.returncode == 0, r.stderr
    with av.open(str(sheet)) as c:
        assert next(c.decode(video=0)).to_ndarray(format="rgb24").shape == (48, 2 * 64 + 4, 3)


def test_preview_frames_match_the_network_on_those_frames(tmp_path, photo_clip):
    sheet = tmp_path / "one.png"
    r = run_cli(photo_clip.path, sheet, "--preview", "1", "--device", "cpu", "--precision", "fp32", "-q")
    assert r.returncode == 0, r.stderr
    with av.open(str(sheet)) as c:
        img = next(c.decode(video=0)).to_ndarray(format="rgb24")
    want = Enhancer(device="cpu", precision="fp32").enhance(source_frames(photo_clip.path)[2])  # the middle of 4
    assert img.shape == want.shape == (192, 256, 3)
    diff = np.abs(img[:150].astype(int) - want[:150].astype(int))  # above the time label
    assert diff.mean() < 0.5
    with open_source(photo_clip.path) as src:  # evenly spaced: the frames on screen at 1/8, 3/8, 5/8, 7/8
        assert [f.pts for f in stills.take(src, 4)] == [f.pts for f in open_source(photo_clip.path).items()
                                                         if isinstance(f, Frame)]


def test_live_input_in_segments_at_outscale_2(tmp_path):
    """A live input (HLS over HTTP, read as a live run) written in --segment files, each at the asked size."""
    playlist = make_hls(tmp_path / "hls")
    with serve_http(playlist.parent) as base:
        r = run_cli(base + playlist.name, tmp_path / "seg-%H%M%S.mp4", "--segment", "1", "--outscale", "2",
                    "--model", "bicubic", "--preset", "ultrafast", "-q")
    assert r.returncode == 0, r.stderr
    files = sorted(tmp_path.glob("seg-*.mp4"))
    assert files, r.stderr
    total = 0
    for f in files:
        frames = decode_video(f).rgb
        total += len(frames)
        assert frames and frames[0].shape == (96, 128, 3)
    assert total == 45
