"""media/sink.py: options and path checks, source -> sink round trips (timing, audio, subtitles, colour),
interrupted runs, image outputs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from gfn_stream.media.frames import Frame
from gfn_stream.media.output_path import check_output_path
from gfn_stream.media.packets import Packet
from gfn_stream.media.sink import EncodeOptions, SinkError, open_sink
from gfn_stream.media.source import open_source

sys.path.insert(0, str(Path(__file__).parent))  # tests/media.py (pytest runs with --import-mode=importlib)
from media import make_clip, make_image, make_sequence, pattern  # noqa: E402

FAST = EncodeOptions(preset="ultrafast")


def upscale(rgb: np.ndarray) -> np.ndarray:
    """Stand-in for the network: 4x nearest neighbour. (H, W, 3) -> (4H, 4W, 3)"""
    return np.repeat(np.repeat(rgb, 4, axis=0), 4, axis=1)


def transcode(src_path, dst_path, options=FAST, *, frames_first=False, overwrite=False):
    """What the pipeline does, in one process: source items -> (upscale) -> sink."""
    with open_source(src_path) as src:
        with open_sink(dst_path, src.info, src.side_buffers, options, overwrite=overwrite) as sink:
            items = list(src.items())
            if frames_first is None:  # all packets before the first frame
                items.sort(key=lambda it: isinstance(it, Frame))
            for it in items:
                if isinstance(it, Frame):
                    sink.write_frame(upscale(it.rgb), it.pts, it.time_base, it.duration)
                else:
                    sink.write_packet(it)
    return src, sink


def payloads(path, kind):
    with av.open(str(path)) as c:
        streams = [s for s in c.streams if s.type == kind]
        return [bytes(p) for p in c.demux(streams[0]) if p.size] if streams else []


def video_seconds(path):
    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(video=0)]


# ---------------------------------------------------------------------------------------------- options, paths
@pytest.mark.parametrize("kwargs,message", [
    (dict(crf=20, bitrate="4M"), "exclude each other"),
    (dict(codec="h265_nonexistent"), "unknown video encoder"),
    (dict(codec="aac"), "not a video encoder"),
    (dict(crf=60), "from 0 to 51"),
    (dict(codec="ffv1", crf=20), "has no crf"),
    (dict(crf=None, bitrate="fast"), "bitrate must look like"),
    (dict(preset="quick"), "unknown preset"),
    (dict(pix_fmt="rgb48le"), "cannot encode pixel format"),
    (dict(matrix="bt2020"), "matrix must be"),
])
def test_bad_options(kwargs, message):
    with pytest.raises(SinkError, match=message):
        EncodeOptions(**kwargs).validate()


def test_good_options():
    EncodeOptions().validate()
    assert EncodeOptions(crf=None, bitrate="2.5M").bit_rate() == 2_500_000
    assert EncodeOptions(crf=None, bitrate=800_000).bit_rate() == 800_000
    vp9 = EncodeOptions(codec="libvpx-vp9", crf=32)
    vp9.validate()
    assert vp9.codec_options()["b"] == "0" and "cpu-used" in vp9.codec_options()


def test_output_path_checks(tmp_path):
    assert check_output_path(tmp_path / "o.mp4") == "video"
    assert check_output_path(tmp_path / "o.MKV") == "video"
    assert check_output_path(tmp_path / "o.png") == "image"
    assert check_output_path(tmp_path / "f_%05d.jpg") == "sequence"
    (tmp_path / "taken.mp4").write_bytes(b"x")
    (tmp_path / "f_00001.png").write_bytes(b"x")
    (tmp_path / "adir.mkv").mkdir()
    bad = {
        "o.avi": "unsupported output type", "o": "unsupported output type", "f_%d.mp4": "image extension",
        "nowhere/o.mp4": "output folder does not exist", "taken.mp4": "refusing to overwrite",
        "f_%05d.png": "refusing to overwrite", "adir.mkv": "is a directory",
    }
    for name, message in bad.items():
        with pytest.raises(SinkError, match=message):
            check_output_path(tmp_path / name)
    assert check_output_path(tmp_path / "taken.mp4", overwrite=True) == "video"
    with pytest.raises(SinkError, match="cannot hold libx264"):
        check_output_path(tmp_path / "o.webm", options=EncodeOptions())
    check_output_path(tmp_path / "o.webm", options=EncodeOptions(codec="libvpx-vp9", crf=40))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(SinkError, match="not writable"):
        check_output_path(locked / "o.mp4")


# ---------------------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("src_name,audio,dst_name", [
    ("a.mp4", "aac", "o.mp4"),
    ("a.mp4", "aac", "o.mkv"),
    ("a.mkv", "libopus", "o.mp4"),
    ("a.mkv", "ac3", "o.mov"),
    ("a.mov", "pcm_s16le", "o.mov"),
])
def test_round_trip_keeps_timing_and_audio(tmp_path, src_name, audio, dst_name):
    clip = make_clip(tmp_path / src_name, width=16, height=12, frames=10, audio=audio)
    src, sink = transcode(clip.path, tmp_path / dst_name)
    assert sink.frames_written == 10 and sink.warnings == [] and sink.pts_fixed == 0
    assert payloads(tmp_path / dst_name, "audio") == payloads(clip.path, "audio")  # byte-identical remux
    got, want = video_seconds(tmp_path / dst_name), video_seconds(clip.path)
    offset = got[0] - want[0]  # Matroska moves everything up when AAC priming starts before 0
    assert 0 <= offset <= 0.025
    assert got == pytest.approx([w + offset for w in want], abs=1e-3)
    with av.open(str(tmp_path / dst_name)) as out:
        v = out.streams.video[0]
        assert (v.width, v.height) == (64, 48)
        # tags written: SD output -> BT.601 matrix (smpte170m), tv range, primaries/transfer set
        assert (v.codec_context.colorspace, v.codec_context.color_range) == (6, 1)
        assert v.codec_context.color_primaries == 6 and v.codec_context.color_trc == 6


def test_packets_before_first_frame(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", frames=10, audio="aac")
    transcode(clip.path, tmp_path / "o.mp4", frames_first=None)
    assert payloads(tmp_path / "o.mp4", "audio") == payloads(clip.path, "audio")
    assert len(video_seconds(tmp_path / "o.mp4")) == 10


def test_vfr_stays_vfr(tmp_path):
    pts = [0, 1, 3, 7, 8, 9, 20, 21]
    clip = make_clip(tmp_path / "vfr.mkv", pts=pts, time_base=Fraction(1, 25))
    for dst in ("o.mp4", "o.mkv"):
        transcode(clip.path, tmp_path / dst, EncodeOptions())  # medium: B-frames reorder
        assert video_seconds(tmp_path / dst) == pytest.approx([p / 25 for p in pts], abs=1e-3)
        with av.open(str(tmp_path / dst)) as out:  # the last frame keeps its duration
            last = list(out.decode(video=0))[-1]
            assert float((last.pts + last.duration) * last.time_base) == pytest.approx(22 / 25, abs=1e-3)


def test_missing_and_repeated_pts(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", frames=1)
    with open_source(clip.path) as src:
        info, tb = src.info, Fraction(1, 25)
    info = dict(info, time_base=[1, 25])
    rgb = upscale(pattern(0, 16, 12))
    with open_sink(tmp_path / "o.mkv", info, [], FAST) as sink:
        for pts in (None, None, 5, 5, 3, 10, None):
            sink.write_frame(rgb, pts, tb)
    assert sink.pts_fixed == 2
    assert video_seconds(tmp_path / "o.mkv") == pytest.approx([p / 25 for p in (0, 1, 5, 6, 7, 10, 11)])


def test_opus_into_mov_is_reencoded(tmp_path):
    clip = make_clip(tmp_path / "a.mkv", frames=10, audio="libopus")
    _, sink = transcode(clip.path, tmp_path / "o.mov")
    assert any("re-encoding it to aac" in w for w in sink.warnings)
    with av.open(str(tmp_path / "o.mov")) as out:
        assert out.streams.audio[0].codec_context.name == "aac"
        samples = sum(f.samples for f in out.decode(audio=0))
    assert 0.4 <= samples / 48000 <= 0.4 + 0.06  # + decoder delay and AAC priming (no edit lists here)


@pytest.mark.parametrize("src_name,codec,dst_name,kept", [
    ("s.mp4", "mov_text", "o.mp4", True),
    ("s.mkv", "subrip", "o.mkv", True),
    ("s.mkv", "subrip", "o.mp4", False),
])
def test_subtitles(tmp_path, src_name, codec, dst_name, kept):
    clip = make_clip(tmp_path / src_name, frames=10, subtitles=codec)
    _, sink = transcode(clip.path, tmp_path / dst_name)
    texts = [p for p in payloads(tmp_path / dst_name, "subtitle") if len(p) > 2]
    if kept:
        assert texts == [p for p in payloads(clip.path, "subtitle") if len(p) > 2] and len(texts) == 2
    else:
        assert texts == [] and any("dropped" in w for w in sink.warnings)


def test_webm_with_opus(tmp_path):
    clip = make_clip(tmp_path / "a.mkv", frames=6, audio="libopus")
    transcode(clip.path, tmp_path / "o.webm", EncodeOptions(codec="libvpx-vp9", crf=40, preset="ultrafast"))
    assert payloads(tmp_path / "o.webm", "audio") == payloads(clip.path, "audio")
    assert len(video_seconds(tmp_path / "o.webm")) == 6


@pytest.mark.parametrize("height,matrix", [(12, 6), (180, 1)])  # 4x: 64x48 is SD, 64x720 is HD
def test_colour_round_trip(tmp_path, height, matrix):
    """A flat colour survives sink -> source within a couple of levels, tagged BT.601 (SD) or BT.709 (HD)."""
    colour = (200, 40, 90)
    rgb = np.empty((height * 4, 64, 3), np.uint8)
    rgb[:] = colour
    with open_sink(tmp_path / "o.mp4", {"time_base": [1, 25], "frame_rate": [25, 1]}, [],
                   EncodeOptions(crf=0, preset="ultrafast")) as sink:
        for i in range(3):
            sink.write_frame(rgb, i, Fraction(1, 25))
    with open_source(tmp_path / "o.mp4") as src:
        frames = [f for f in src.items() if isinstance(f, Frame)]
        assert src.info["color"]["ids"] == {"primaries": matrix, "transfer": matrix, "matrix": matrix, "range": 1}
    assert np.abs(frames[1].rgb.astype(int) - colour).max() <= 2


def test_source_colour_tags_are_carried(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", frames=2, color={"primaries": "bt2020", "transfer": "bt709"})
    transcode(clip.path, tmp_path / "o.mp4")
    with av.open(str(tmp_path / "o.mp4")) as out:
        cc = out.streams.video[0].codec_context
        assert (cc.color_primaries, cc.color_trc, cc.colorspace) == (9, 1, 6)


def test_odd_output_size(tmp_path):
    info = {"time_base": [1, 25], "frame_rate": [25, 1]}
    rgb = pattern(0, 33, 17)
    with open_sink(tmp_path / "pad.mp4", info, [], FAST) as sink:
        sink.write_frame(rgb, 0, Fraction(1, 25))
    assert any("padded to 34x18" in w for w in sink.warnings)
    with open_sink(tmp_path / "444.mkv", info, [], EncodeOptions(preset="ultrafast", pix_fmt="yuv444p")) as sink:
        sink.write_frame(rgb, 0, Fraction(1, 25))
    assert sink.warnings == []
    for name, size in (("pad.mp4", (34, 18)), ("444.mkv", (33, 17))):
        with av.open(str(tmp_path / name)) as c:
            assert (c.streams.video[0].width, c.streams.video[0].height) == size


def test_frame_size_change_is_an_error(tmp_path):
    with pytest.raises(SinkError, match="but the output is 32x24"):
        with open_sink(tmp_path / "o.mkv", {"time_base": [1, 25]}, [], FAST) as sink:
            sink.write_frame(pattern(0, 32, 24), 0, Fraction(1, 25))
            sink.write_frame(pattern(1, 30, 24), 1, Fraction(1, 25))
    assert len(video_seconds(tmp_path / "o.mkv")) == 1  # what was written is still a valid file


def test_nothing_written_leaves_no_file(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", frames=2, audio="aac")
    with open_source(clip.path) as src:
        with open_sink(tmp_path / "o.mp4", src.info, src.side_buffers, FAST) as sink:
            for it in src.items():
                if isinstance(it, Packet):
                    sink.write_packet(it)
    assert not (tmp_path / "o.mp4").exists() and "no video frames" in sink.warnings[0]


# ---------------------------------------------------------------------------------------------- interruptions
def test_exception_still_writes_a_complete_file(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", frames=10, audio="aac")
    with pytest.raises(KeyboardInterrupt):
        with open_source(clip.path) as src, open_sink(tmp_path / "o.mp4", src.info, src.side_buffers,
                                                      EncodeOptions()) as sink:
            for it in src.items():
                if isinstance(it, Frame):
                    if sink.frames_written == 6:
                        raise KeyboardInterrupt
                    sink.write_frame(upscale(it.rgb), it.pts, it.time_base)
                else:
                    sink.write_packet(it)
    with av.open(str(tmp_path / "o.mp4")) as out:
        assert out.streams.video[0].frames == 6  # trailer written: a normal MP4 with an index
    assert video_seconds(tmp_path / "o.mp4") == pytest.approx(video_seconds(clip.path)[:6])


_KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from fractions import Fraction
    import numpy as np
    from gfn_stream.media.sink import EncodeOptions, open_sink
    path, kill_after = sys.argv[1], int(sys.argv[2])
    info = {"time_base": [1, 25], "frame_rate": [25, 1]}
    sink = open_sink(path, info, [], EncodeOptions(preset="medium"), overwrite=True)  # B-frames, look-ahead
    for i in range(1000):
        rgb = np.full((48, 64, 3), (i * 5) % 256, np.uint8)
        rgb[:, : i % 64] = 0
        sink.write_frame(rgb, i, Fraction(1, 25))
        if i + 1 == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.parametrize("name", ["killed.mp4", "killed.mkv"])
def test_sigkill_leaves_a_playable_partial_file(tmp_path, name):
    """Killed after 120 frames (4.8 s) with 1 s fragments/clusters and x264's B-frames: the old output is
    untouched, NAME.partial.EXT holds at least the first seconds and every frame is in its own timestamp
    slot (MP4: no one-frame hole at the first fragment boundary, as negative_cts_offsets gave)."""
    path = tmp_path / name
    path.write_bytes(b"the previous output")
    run = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(path), "120"], capture_output=True, timeout=60)
    assert run.returncode == -9, run.stderr.decode()[-2000:]
    assert path.read_bytes() == b"the previous output"
    partial = tmp_path / name.replace(".", ".partial.")
    seconds = video_seconds(partial)
    assert 50 <= len(seconds) <= 120
    assert seconds == pytest.approx([i / 25 for i in range(len(seconds))], abs=1e-3)


# ---------------------------------------------------------------------------------------------- images
def test_image_in_image_out(tmp_path):
    rgb = pattern(2, 9, 7)
    make_image(tmp_path / "in.png", rgb)
    _, sink = transcode(tmp_path / "in.png", tmp_path / "out.png")
    with open_source(tmp_path / "out.png") as src:
        (frame,) = list(src.items())
    np.testing.assert_array_equal(frame.rgb, upscale(rgb))
    assert sink.frames_written == 1


def test_single_image_output_refuses_video(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", frames=2)
    with open_source(clip.path) as src:
        with pytest.raises(SinkError, match="single image but the input is a video"):
            open_sink(tmp_path / "o.png", src.info, [], FAST)
    with open_sink(tmp_path / "o.jpg", {"is_image": True, "frames": 1}, [], FAST) as sink:
        sink.write_frame(pattern(0, 8, 8), 0, Fraction(1, 25))
        with pytest.raises(SinkError, match="second frame"):
            sink.write_frame(pattern(1, 8, 8), 1, Fraction(1, 25))


def test_every_sink_takes_planes_and_deep_rgb(tmp_path):
    """The encoder hands every sink YUV planes or RGB as they came (nodes/encoder.py); a sink that writes 8-bit RGB
    converts them itself (image_sink.rgb8): planes through to_rgb, uint16 RGB rounded to 8 bits."""
    from gfn_stream.media import planes
    from gfn_stream.media.image_sink import rgb8

    rgb = pattern(3, 16, 8)
    yuv = planes.from_rgb(rgb, "yuv420p", 1)
    with open_sink(tmp_path / "o.png", {"is_image": True, "frames": 1}, [], FAST) as sink:
        sink.write_frame(yuv, 0, Fraction(1, 25))
    with open_source(tmp_path / "o.png") as src:
        (frame,) = list(src.items())
    np.testing.assert_array_equal(frame.rgb, rgb8(yuv))
    deep = np.minimum(rgb.astype(np.uint32) * 257 + 100, 65535).astype(np.uint16)  # rounds back to rgb
    np.testing.assert_array_equal(rgb8(deep), rgb)
    with open_sink(tmp_path / "deep.mkv", {"time_base": [1, 25]}, [], FAST) as sink:
        sink.write_frame(deep, 0, Fraction(1, 25))
    assert sink.frames_written == 1
    with pytest.raises(SinkError, match="uint8 RGB"):
        rgb8(rgb.astype(np.float32))


def test_sequence_in_sequence_out(tmp_path):
    make_sequence(tmp_path / "in_%03d.png", 4, width=8, height=6)
    transcode(tmp_path / "in_%03d.png", tmp_path / "out_%04d.png")
    assert sorted(p.name for p in tmp_path.glob("out_*.png")) == [f"out_{i:04d}.png" for i in range(1, 5)]
    with open_source(tmp_path / "out_%04d.png") as src:
        frames = list(src.items())
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(f.rgb, upscale(pattern(i, 8, 6)))
