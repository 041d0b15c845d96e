"""media/encode_options.py per codec (crf default only where a codec has one, numeric presets, quiet
encoders), and the CLI around it: ffv1 with default flags, option errors as exit 2, -q silencing x265 and
SVT-AV1, image-sequence outputs numbered like their input sequence (--start-number)."""

from __future__ import annotations

import sys
from pathlib import Path

import av
import pytest

from gfn_stream.media.encode_options import EncodeOptions, SinkError

sys.path.insert(0, str(Path(__file__).parent))  # tests/*.py helpers (pytest runs with --import-mode=importlib)
from media import make_clip, make_sequence, video_frames  # noqa: E402


def has(codec: str) -> bool:
    return codec in av.codecs_available


def test_default_crf_only_for_codecs_that_have_one():
    assert EncodeOptions().codec_options()["crf"] == "18"
    ffv1 = EncodeOptions(codec="ffv1")
    ffv1.validate()
    assert "crf" not in ffv1.codec_options()
    assert "crf" not in EncodeOptions(bitrate="2M").codec_options()
    with pytest.raises(SinkError, match="ffv1 has no crf setting: leave crf out"):
        EncodeOptions(codec="ffv1", crf=10).validate()
    with pytest.raises(SinkError, match="exclude each other"):
        EncodeOptions(crf=20, bitrate="2M").validate()


@pytest.mark.skipif(not has("libsvtav1"), reason="this FFmpeg has no libsvtav1")
def test_svtav1_takes_its_own_preset_numbers():
    for preset, want in ((0, "0"), ("13", "13"), ("8", "8"), ("medium", "7")):
        opts = EncodeOptions(codec="libsvtav1", preset=preset)
        opts.validate()
        assert opts.codec_options()["preset"] == want
    for bad in (14, "-1", "quick"):
        with pytest.raises(SinkError, match="preset"):
            EncodeOptions(codec="libsvtav1", preset=bad).validate()


def test_numeric_presets_are_checked_per_codec():
    with pytest.raises(SinkError, match="libx264 has no numeric presets"):
        EncodeOptions(preset="3").validate()
    vp9 = EncodeOptions(codec="libvpx-vp9", preset="4")
    vp9.validate()
    assert vp9.codec_options()["cpu-used"] == "4"
    with pytest.raises(SinkError, match="must be 0-8"):
        EncodeOptions(codec="libvpx-vp9", preset=9).validate()


def test_quiet_encoders():
    assert EncodeOptions(codec="libx265", quiet=True).codec_options()["x265-params"] == "log-level=error"
    assert "x265-params" not in EncodeOptions(codec="libx265").codec_options()


@pytest.mark.slow
def test_cli_ffv1_with_default_flags(tmp_path, cli):
    clip = make_clip(tmp_path / "in.mp4", frames=3)
    r = cli(clip.path, tmp_path / "o.mkv", "--model", "bicubic", "--codec", "ffv1", "-q", timeout=120)
    assert r.returncode == 0, r.stderr
    with av.open(str(tmp_path / "o.mkv")) as c:
        assert c.streams.video[0].codec_context.name == "ffv1"
    assert len(video_frames(tmp_path / "o.mkv")[0]) == 3


@pytest.mark.parametrize("args,words", [
    (["--crf", "99"], "from 0 to 51"),
    (["--preset", "nonsense"], "unknown preset"),
    (["--codec", "ffv1", "--crf", "10"], "has no crf"),
])
def test_cli_bad_encoder_options_are_usage_errors(tmp_path, args, words, cli):
    clip = make_clip(tmp_path / "in.mp4", frames=2)
    r = cli(clip.path, tmp_path / "o.mkv", "--model", "bicubic", *args, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("codec,extra", [("libx265", []), ("libsvtav1", ["--preset", "12"])])
def test_cli_quiet_silences_chatty_encoders(tmp_path, codec, extra, cli):
    if not has(codec):
        pytest.skip(f"this FFmpeg has no {codec}")
    clip = make_clip(tmp_path / "in.mp4", frames=3)
    r = cli(clip.path, tmp_path / "o.mkv", "--model", "bicubic", "--codec", codec, *extra, "-q", timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "", r.stderr
    assert len(video_frames(tmp_path / "o.mkv")[0]) == 3


@pytest.mark.slow
def test_cli_sequence_output_keeps_the_input_numbers(tmp_path, cli):
    make_sequence(tmp_path / "in_%03d.png", 3, width=8, height=6, start=0)
    r = cli(tmp_path / "in_%03d.png", tmp_path / "out_%04d.png", "--model", "bicubic", "-q", timeout=120)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.glob("out_*")) == ["out_0000.png", "out_0001.png", "out_0002.png"]
    r = cli(tmp_path / "in_%03d.png", tmp_path / "s_%02d.png", "--model", "bicubic", "--start-number", "7", "-q",
                timeout=120)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.glob("s_*")) == ["s_07.png", "s_08.png", "s_09.png"]
    assert not list(tmp_path.glob(".*lock")) and not list(tmp_path.glob("*partial*"))
