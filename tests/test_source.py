"""media/source.py on tiny generated clips: counts, timestamps, rotation, colour, side packets, bad inputs."""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from gfn_stream.media.frames import Frame, SourceError
from gfn_stream.media.packets import Packet
from gfn_stream.media.source import open_source
from gfn_stream.transport import protocol

sys.path.insert(0, str(Path(__file__).parent))  # tests/media.py (pytest runs with --import-mode=importlib)
from media import make_audio, make_clip, make_image, make_sequence, pattern, rgb_from_yuv, truncate, yuv_from_rgb


def _read(spec, **kw):
    with open_source(spec, **kw) as src:
        items = list(src.items())
    return src, [i for i in items if isinstance(i, Frame)], [i for i in items if isinstance(i, Packet)]


def test_frames_pts_and_info(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", width=32, height=24, frames=12)
    src, frames, packets = _read(clip.path)
    assert len(frames) == 12 and not packets
    assert all(f.rgb.shape == (24, 32, 3) and f.rgb.dtype == np.uint8 and f.rgb.flags.c_contiguous for f in frames)
    seconds = [float(f.pts * f.time_base) for f in frames]
    assert seconds == pytest.approx([p * float(clip.time_base) for p in clip.pts])
    info = src.info
    json.dumps(info)  # crosses the wire as JSON
    assert (info["width"], info["height"], info["frames"], info["frame_rate"]) == (32, 24, 12, [25, 1])
    assert Fraction(*info["time_base"]) == frames[0].time_base
    assert info["kind"] == "video" and not info["is_image"] and not info["is_live"]
    assert info["duration"] == pytest.approx(12 / 25)
    assert info["side_streams"] == [] and src.side_buffers == [] and src.warnings == [] and not src.truncated


def test_pattern_survives_decoding(tmp_path):
    clip = make_clip(tmp_path / "a.mkv", width=32, height=24, frames=3, lossless=True, pix_fmt="yuv444p")
    _, frames, _ = _read(clip.path)
    for i, f in enumerate(frames):
        assert np.abs(f.rgb.astype(int) - pattern(i, 32, 24)).max() <= 3


def test_vfr_timestamps_kept(tmp_path):
    pts = [0, 1, 3, 7, 8, 20]
    clip = make_clip(tmp_path / "vfr.mkv", pts=pts, time_base=Fraction(1, 25))
    _, frames, _ = _read(clip.path)
    assert [float(f.pts * f.time_base) for f in frames] == pytest.approx([p / 25 for p in pts])


@pytest.mark.parametrize("rotation,hflip,turn", [
    (90, False, lambda a: np.rot90(a, 1)),
    (-90, False, lambda a: np.rot90(a, -1)),
    (180, False, lambda a: a[::-1, ::-1]),
    (0, True, lambda a: a[:, ::-1]),
])
def test_rotation_metadata_is_applied(tmp_path, rotation, hflip, turn):
    plain = make_clip(tmp_path / "plain.mp4", frames=2, pix_fmt="yuv444p", lossless=True)
    turned = tmp_path / "turned.mp4"
    make_clip(turned, frames=2, pix_fmt="yuv444p", lossless=True, rotation=rotation)
    if hflip:  # rewrite the display matrix with a mirror
        turned = tmp_path / "mirrored.mp4"
        _remux_with_matrix(plain.path, turned, rotation, hflip=True)
    _, upright, _ = _read(plain.path)
    src, frames, _ = _read(turned)
    expected = turn(upright[0].rgb)
    assert frames[0].rgb.shape == expected.shape
    assert (src.info["width"], src.info["height"]) == (expected.shape[1], expected.shape[0])
    np.testing.assert_array_equal(frames[0].rgb, expected)


def _remux_with_matrix(src_path, dst_path, rotation, hflip):
    with av.open(str(src_path)) as inp, av.open(str(dst_path), "w") as out:
        in_v = inp.streams.video[0]
        out_v = out.add_stream_from_template(in_v)
        out_v.set_display_rotation(rotation, hflip=hflip)
        for packet in inp.demux(in_v):
            if packet.size:
                packet.stream = out_v
                out.mux(packet)


@pytest.mark.parametrize("width,height,matrix", [(32, 24, "bt601"), (16, 720, "bt709"), (1280, 16, "bt709")])
def test_untagged_colour_follows_size(tmp_path, width, height, matrix):
    """A known YUV colour decodes with BT.601 for SD and BT.709 for HD when the stream declares nothing."""
    rgb = (200, 40, 90)
    yuv = yuv_from_rgb(rgb, matrix)
    clip = make_clip(tmp_path / "c.mp4", width=width, height=height, frames=1, yuv=yuv, lossless=True)
    src, frames, _ = _read(clip.path)
    got = frames[0].rgb[height // 2, width // 2].astype(int)
    assert np.abs(got - rgb_from_yuv(*yuv, matrix=matrix)).max() <= 3
    other = "bt709" if matrix == "bt601" else "bt601"
    assert np.abs(got - rgb_from_yuv(*yuv, matrix=other)).max() > 8  # the test can tell them apart
    assert src.info["color_used"] == {"matrix": "smpte170m" if matrix == "bt601" else "bt709", "range": "tv",
                                      "assumed": True}


@pytest.mark.parametrize("matrix,rng", [("bt709", "tv"), ("bt709", "pc"), ("smpte170m", "pc")])
def test_declared_colour_wins(tmp_path, matrix, rng):
    """Tags beat the size rule: an SD clip tagged BT.709 (or full range) is read that way."""
    ref = "bt709" if matrix == "bt709" else "bt601"
    yuv = yuv_from_rgb((30, 180, 220), ref, full=rng == "pc")
    clip = make_clip(tmp_path / "t.mp4", frames=1, yuv=yuv, lossless=True,
                     color={"matrix": matrix, "range": rng, "primaries": "bt709", "transfer": "bt709"})
    src, frames, _ = _read(clip.path)
    got = frames[0].rgb[12, 16].astype(int)
    assert np.abs(got - rgb_from_yuv(*yuv, matrix=ref, full=rng == "pc")).max() <= 3
    assert src.info["color"]["matrix"] == matrix and src.info["color"]["range"] == rng
    assert src.info["color"]["primaries"] == "bt709" and not src.info["color_used"]["assumed"]


def test_odd_size(tmp_path):
    clip = make_clip(tmp_path / "odd.mkv", width=33, height=17, frames=3, codec="ffv1")
    src, frames, _ = _read(clip.path)
    assert [f.rgb.shape for f in frames] == [(17, 33, 3)] * 3
    assert (src.info["width"], src.info["height"]) == (33, 17)


def test_side_packets_are_byte_identical(tmp_path):
    clip = make_clip(tmp_path / "av.mp4", frames=10, audio="aac", subtitles="mov_text")
    src, frames, packets = _read(clip.path)
    sides = src.info["side_streams"]
    assert [(s["type"], s["codec"]) for s in sides] == [("audio", "aac"), ("subtitle", "mov_text")]
    assert sides[0]["sample_rate"] == 48000 and sides[0]["channels"] == 2 and sides[0]["layout"] == "stereo"
    assert sides[1]["language"] == "eng"
    with av.open(str(clip.path)) as c:
        assert src.side_buffers == [s.codec_context.extradata or b"" for s in c.streams if s.type != "video"]
        expected = [(p.stream.index, bytes(p), p.pts) for p in c.demux() if p.size and p.stream.type != "video"]
    assert [(p.stream, p.data, p.pts) for p in packets] == expected
    audio = [p for p in packets if p.stream == sides[0]["index"]]
    assert all(p.time_base == Fraction(1, 48000) and p.is_keyframe for p in audio)


def test_packet_travels_through_the_protocol(tmp_path):
    clip = make_clip(tmp_path / "av.mkv", frames=4, audio="libopus")
    _, _, packets = _read(clip.path)
    msg = protocol.unpack(protocol.pack(protocol.PACKET, packets[0].fields(), [packets[0].data]))
    assert Packet.from_fields(msg.header, msg.buffers[0]) == packets[0]


@pytest.mark.parametrize("name", ["cut.mp4", "cut.mkv"])
def test_truncated_file_yields_what_decodes(tmp_path, name):
    clip = make_clip(tmp_path / name, width=64, height=48, frames=40,
                     image=lambda i: np.random.default_rng(i).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    truncate(clip.path, 0.5)
    src, frames, _ = _read(clip.path)
    assert 0 < len(frames) < 40
    assert src.truncated and len(src.warnings) >= 1 and "\n" not in src.warnings[-1]


def _write(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make,message", [
    (lambda d: d / "missing.mp4", "input not found"),
    (lambda d: _write(d / "empty.mp4", b""), "input is empty (0 bytes)"),
    (lambda d: _write(d / "text.mp4", b"this is not a video\n" * 50), "not a video file"),
    (lambda d: make_audio(d / "tone.m4a"), "no video stream"),
    (lambda d: d, "is a directory"),
    (lambda d: d / "none_%04d.png", "no images match"),
])
def test_bad_inputs_raise_one_line_errors(tmp_path, make, message):
    with pytest.raises(SourceError) as err:
        open_source(make(tmp_path))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_single_image(tmp_path):
    rgb = pattern(3, 33, 17)
    src, frames, packets = _read(make_image(tmp_path / "a.png", rgb))
    assert len(frames) == 1 and not packets
    np.testing.assert_array_equal(frames[0].rgb, rgb)
    assert src.info["is_image"] and src.info["kind"] == "image" and src.info["frames"] == 1


def test_jpeg_colours(tmp_path):
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:] = (200, 40, 90)
    _, frames, _ = _read(make_image(tmp_path / "a.jpg", rgb))
    assert np.abs(frames[0].rgb[32, 32].astype(int) - rgb[32, 32]).max() <= 4


def test_image_sequence(tmp_path):
    make_sequence(tmp_path / "f_%04d.png", 5, width=20, height=10, start=7)  # FFmpeg alone looks at 0..4 only
    src, frames, _ = _read(tmp_path / "f_%04d.png", rate=10)
    assert len(frames) == 5
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(f.rgb, pattern(i, 20, 10))
    assert [f.pts * f.time_base for f in frames] == [Fraction(i, 10) for i in range(5)]
    assert src.info["is_sequence"] and src.info["frame_rate"] == [10, 1]


def test_stills_are_taken_instead_of_items(tmp_path):
    """media/stills.py take(): evenly spaced frames found by seeking, converted as items() gives them; only on a
    source not yet read; an image sequence (no seeking) is read through."""
    from gfn_stream.media import stills

    clip = make_clip(tmp_path / "a.mp4", frames=20)
    with open_source(clip.path) as src:
        frames = stills.take(src, 2)
        with pytest.raises(RuntimeError, match="only be iterated once"):
            list(src.items())
    assert len(frames) == 2 and frames[0].pts < frames[1].pts and frames[0].rgb.shape == (clip.height, clip.width, 3)
    with open_source(clip.path) as src:
        list(src.items())
        with pytest.raises(RuntimeError, match="instead of"):
            stills.take(src, 2)
    make_sequence(tmp_path / "s_%03d.png", 3, width=8, height=6)
    with open_source(tmp_path / "s_%03d.png") as src:
        assert len(stills.take(src, 5)) == 5  # repeats: fewer frames than asked for
