"""YUV planes (media/planes.py): what the workers and the writer do to pictures on the wire, checked for levels,
colour and depth (no shift of levels on a round trip, 10 bits kept, the resample ffmpeg's scale filter does)."""

from __future__ import annotations

import av
import numpy as np
import pytest
from av.video.reformatter import Interpolation

from gfn_stream.media import planes as yuv
from gfn_stream.media.frames import Frame, Planes
from gfn_stream.media.plane_resample import resample
from gfn_stream.media.source import open_source


def _picture(bits: int = 8, matrix: int = 6, w: int = 64, h: int = 36) -> Planes:
    """A smooth colour picture (gradients, no clipping) as planes."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([0.2 + 0.6 * x / w, 0.3 + 0.4 * y / h, 0.7 - 0.5 * x / w], axis=2)
    return yuv.from_float(rgb, "yuv420p" if bits == 8 else "yuv420p10le", matrix)


def test_8_bit_round_trip_through_rgb_does_not_shift_levels():
    pic = _picture()
    back = yuv.from_rgb(yuv.to_rgb(pic), "yuv420p", 6)
    for a, b in zip(pic.data, back.data):
        assert abs(float(b.astype(int).mean() - a.astype(int).mean())) < 0.1
        assert np.abs(b.astype(int) - a).max() <= 2


def test_10_bit_round_trip_keeps_10_bits():
    pic = _picture(bits=10)
    rgb = yuv.to_rgb(pic)
    assert rgb.dtype == np.float32
    back = yuv.from_rgb(rgb, "yuv420p10le", 6)
    assert back.data[0].dtype == np.dtype("<u2") and back.data[0].max() <= 1023
    assert abs(float(back.data[0].astype(int).mean() - pic.data[0].astype(int).mean())) < 0.1
    assert len(np.unique(back.data[0])) > 256 // 4  # a 36-row gradient, finer than 8-bit steps
    assert np.any(back.data[0] % 4)  # values that 8 bits (x 4) cannot hold


def test_resample_is_what_ffmpeg_scale_does_when_the_colour_stays():
    pic = _picture()
    big = resample(pic, 256, 144, matrix=6)
    flags = Interpolation.BICUBIC | Interpolation.ACCURATE_RND
    ref = yuv.to_frame(pic).reformat(width=256, height=144, interpolation=flags)
    want = yuv.frame_planes(ref, 6, 1)
    for a, b in zip(big.data, want.data):
        np.testing.assert_array_equal(a, b)
    assert [a.shape for a in big.data] == [(144, 256), (72, 128), (72, 128)]


@pytest.mark.parametrize("bits", [8, 10])
def test_resample_to_another_matrix_keeps_the_colours(bits):
    pic = _picture(bits=bits)
    big = resample(pic, 256, 144, matrix=1)  # SD BT.601 in, HD BT.709 out
    assert (big.matrix, big.color_range, big.fmt) == (1, 1, pic.fmt)
    want = yuv.to_float(pic).mean(axis=(0, 1))
    got = yuv.to_float(big).mean(axis=(0, 1))
    np.testing.assert_allclose(got, want, atol=1.5 / 255)


def test_a_10_bit_source_gives_10_bit_planes(tmp_path):
    path = tmp_path / "ten.mkv"
    with av.open(str(path), "w") as out:
        vs = out.add_stream("ffv1", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 36, "yuv420p10le"
        for i in range(3):
            frame = yuv.to_frame(_picture(bits=10))
            frame.pts = i
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    with open_source(str(path), planes=True) as src:
        frames = [f for f in src.items() if isinstance(f, Frame)]
    assert len(frames) == 3 and frames[0].rgb is None
    got = frames[0].planes
    assert got.fmt == "yuv420p10le" and got.bits == 10
    np.testing.assert_array_equal(got.data[0], _picture(bits=10).data[0])  # lossless: every 10-bit level kept
    with open_source(str(path)) as src:  # without planes: 8-bit RGB, as before
        assert next(f for f in src.items() if isinstance(f, Frame)).rgb.dtype == np.uint8


def test_the_gpu_colour_conversion_is_the_float_one(tiny_weights):
    """Enhancer.enhance_yuv (models/yuv.py, torch on the model's device; run here on the CPU) gives the planes
    media.deep_planes.from_float makes of the same float output: a GPU worker answers what a CPU worker does."""
    from gfn_stream.models.enhancer import Enhancer

    enh = Enhancer(str(tiny_weights), device="cpu", precision="fp32")
    for bits, fmt in ((8, "yuv420p"), (10, "yuv420p10le")):
        rgb = yuv.to_float(_picture(bits=bits))
        got = enh.enhance_yuv([rgb, rgb], fmt, matrix=1)
        want = yuv.from_float(enh.enhance(rgb), fmt, 1)
        assert len(got) == 2
        for a, b in zip(got[1], want.data):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # float rounding only
            assert np.mean(a != b) < 0.01


def test_a_gpu_worker_answers_yuv_frames_as_a_cpu_worker_does(tiny_weights):
    """nodes/pictures.py on a GPU takes the device conversion (forced here on the CPU): same answer headers,
    planes within one level of the CPU path's."""
    from fractions import Fraction

    from gfn_stream.models.enhancer import Enhancer
    from gfn_stream.nodes.engine import Job
    from gfn_stream.nodes.pictures import PictureWork
    from gfn_stream.transport import protocol

    pic = _picture(bits=10)
    header = protocol.FrameHeader(3, 3, Fraction(1, 25), pic.width, pic.height, pix_fmt=pic.fmt, matrix=6,
                                  color_range=1, color_out={"mx": 1, "rng": 1})
    work = PictureWork(Enhancer(str(tiny_weights), device="cpu", precision="fp32"))
    cpu = work.run([Job(None, header, pic.data)])
    work.on_gpu = lambda: True
    gpu = work.run([Job(None, header, pic.data)])
    for (h1, p1), (h2, p2) in zip(cpu, gpu):
        assert (h1.pix_fmt, h1.matrix, h1.color_range) == (h2.pix_fmt, h2.matrix, h2.color_range) == (pic.fmt, 1, 1)
        for a, b in zip(p1, p2):
            assert a.dtype == b.dtype and a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1
