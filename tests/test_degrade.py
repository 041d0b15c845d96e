"""The training degradations (train/degrade.py) and the online batches (train/online.py) on tiny material."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from gfn_stream.train.config import config_from_dict
from gfn_stream.train.degrade import (
    DegradeParams,
    add_noise,
    downscale,
    h264_roundtrip,
    jpeg_roundtrip,
    photo_sample,
    video_sample,
    yuv420_roundtrip,
)
from gfn_stream.train.imresize import imresize, to_uint8
from gfn_stream.train.metrics import psnr
from gfn_stream.train.online import OnlineBatches, SharpPool
from gfn_stream.train.state import load_checkpoint
from gfn_stream.train.train import train
from media import make_clip

# everything off: the LR input is exactly the MATLAB bicubic 1/4 of the truth
CLEAN = DegradeParams(sharp_prob=1.0, noise_prob=0.0, h264_prob=0.0, jpeg_prob=0.0, yuv420_prob=0.0,
                      downscale_weights=(1.0, 0.0, 0.0))


def _photo(h=200, w=240, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.random((h // 8, w // 8, 3))
    return to_uint8(np.clip(imresize(small, 8.0), 0, 1))


def _frames(t=12, h=64, w=80) -> np.ndarray:
    """A textured image panning 2 px per frame."""
    big = _photo(h, w + 2 * t, seed=3)
    return np.stack([big[:, 2 * i : 2 * i + w] for i in range(t)])


def test_h264_roundtrip_really_compresses_and_crf_orders_quality():
    frames = [_photo(64, 64, seed=s) for s in range(3)]
    fine = h264_roundtrip(frames, crf=12)
    coarse = h264_roundtrip(frames, crf=40)
    assert len(fine) == len(coarse) == 3 and fine[0].shape == (64, 64, 3) and fine[0].dtype == np.uint8
    assert psnr(fine[-1], frames[-1], border=0) > psnr(coarse[-1], frames[-1], border=0) + 3
    assert not np.array_equal(coarse[-1], frames[-1])


def test_other_steps_keep_shape_and_change_pixels():
    img = _photo(64, 64)
    assert yuv420_roundtrip(img).shape == img.shape and not np.array_equal(yuv420_roundtrip(img), img)
    assert psnr(jpeg_roundtrip(img, 95), img, border=0) > psnr(jpeg_roundtrip(img, 20), img, border=0)
    rng = np.random.default_rng(0)
    hr = img.astype(np.float32) / 255
    for kind in ("bicubic", "area", "gaussian"):
        assert downscale(hr, kind, rng).shape == (16, 16, 3)
    noisy = add_noise(hr, 0.02, rng)
    assert 0.005 < float(np.std(noisy - hr)) < 0.03


def test_clean_photo_sample_is_the_bicubic_quarter_of_its_truth_even_when_panning():
    rng = np.random.default_rng(1)
    for _ in range(5):  # pans of up to 2 LR px per frame: the input must still be aligned with the truth
        lr, lr_sharp, hr, how = photo_sample(_photo(), 64, replace(CLEAN, max_pan=2), rng)
        assert lr.shape == lr_sharp.shape == (16, 16, 3) and hr.shape == (64, 64, 3)
        expect = to_uint8(imresize(hr.astype(np.float32) / 255, output_shape=(16, 16), dtype=np.float32))
        assert np.abs(lr.astype(int) - expect.astype(int)).max() <= 1, how
        assert how.startswith("photo/sharp/bicubic")


def test_samples_are_a_function_of_the_seed_and_blur_really_blurs():
    p = replace(DegradeParams(), sharp_prob=0.0)
    a = photo_sample(_photo(), 64, p, np.random.default_rng(7))
    b = photo_sample(_photo(), 64, p, np.random.default_rng(7))
    assert all(np.array_equal(x, y) for x, y in zip(a[:3], b[:3])) and a[3] == b[3]
    strong = replace(CLEAN, sharp_prob=0.0, min_extent=20.0, max_extent=24.0)
    lr, lr_sharp, hr, how = photo_sample(_photo(), 64, strong, np.random.default_rng(2))
    assert "shake" in how and psnr(lr, lr_sharp, border=0) < 40


def test_video_sample_average_is_centred_on_its_truth():
    from gfn_stream.train.blur import average_frames

    base = _photo(64, 80, seed=3).astype(int)
    frames = np.stack([np.clip(base + 6 * i - 40, 0, 255) for i in range(12)]).astype(np.uint8)  # unique levels
    p = replace(CLEAN, sharp_prob=0.0, video_blur_prob=1.0, min_avg_frames=3, max_avg_frames=3, seq_len=2)
    lr, lr_sharp, hr, how = video_sample(frames, 32, p, np.random.default_rng(0))
    assert how.startswith("video/average3") and hr.shape == (32, 32, 3)
    # the truth is one frame of the clip; the input is the linear-light mean of it and its two neighbours
    (t, y, x), = [(i, y, x) for i in range(12) for y in range(33) for x in range(49)
                  if np.array_equal(frames[i, y : y + 32, x : x + 32], hr)]
    assert 1 <= t < len(frames) - 1
    mean = average_frames([frames[k, y : y + 32, x : x + 32].astype(np.float32) / 255 for k in (t - 1, t, t + 1)])
    expect = to_uint8(imresize(mean, output_shape=(8, 8), dtype=np.float32))
    assert np.abs(lr.astype(int) - expect.astype(int)).max() <= 1


def test_online_batches_are_deterministic_and_prefetch_gives_the_same(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", width=96, height=80, frames=12).path
    photo = tmp_path / "p.png"
    import cv2

    cv2.imwrite(str(photo), _photo()[..., ::-1])
    pool = SharpPool.load([str(photo)], [str(clip)], holdout=[], min_side=64)
    assert len(pool.photos) >= 2 and pool.clips[0].shape[0] == 12
    params = DegradeParams(h264_prob=0.5)
    with OnlineBatches(pool, params, patch_size=32, batch_size=3, seed=5, video_share=0.5) as ob:
        direct = ob.make(4)[0]
        assert direct.lr_blur.shape == (3, 3, 8, 8) and direct.hr.shape == (3, 3, 32, 32)
        assert torch.equal(ob.get(4).hr, direct.hr) and torch.equal(ob.get(5).lr_blur, ob.make(5)[0].lr_blur)
        assert torch.equal(ob.get(2).hr, ob.make(2)[0].hr)  # jumping back restarts the prefetch
        assert not torch.equal(ob.make(6)[0].hr, direct.hr)
    with pytest.raises(ValueError, match="held out"):
        SharpPool.load([str(photo)], [str(clip)], holdout=["p", "c"])


def _online_config(tmp_path, out, steps, photo, clip):
    return config_from_dict({
        "model": {"channels": 8, "deblur_blocks": 1, "sr_blocks": 1, "recon_blocks": 1},
        "data": {"source": "online", "photos": [str(photo)], "clips": [str(clip)], "patch_size": 32,
                 "batch_size": 2, "video_share": 0.5},
        "degrade": {"crf": [20, 30], "h264_prob": 0.5},
        "run": {"out": str(tmp_path / out), "precision": "fp32", "threads": 1, "log_every": 1, "val_every": 0,
                "ckpt_every": 1000},
        "stage": [{"name": "on", "gated": True, "lambda_db": 0.0, "steps": steps, "lr": 1e-3}],
    })


def test_online_training_resumes_exactly(tmp_path):
    import cv2

    clip = make_clip(tmp_path / "c.mp4", width=96, height=80, frames=12).path
    photo = tmp_path / "p.png"
    cv2.imwrite(str(photo), _photo()[..., ::-1])
    train(_online_config(tmp_path, "straight", 4, photo, clip), quiet=True)
    train(_online_config(tmp_path, "split", 2, photo, clip), quiet=True)
    train(_online_config(tmp_path, "split", 4, photo, clip), resume=tmp_path / "split" / "last.pt", quiet=True)
    a, b = load_checkpoint(tmp_path / "straight" / "last.pt"), load_checkpoint(tmp_path / "split" / "last.pt")
    assert a["step"] == b["step"] == 4 and a["data_order"] is None
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_online_config_errors():
    with pytest.raises(ValueError, match="steps"):
        config_from_dict({"data": {"source": "online"}, "stage": [{"epochs": 2}]})
    with pytest.raises(ValueError, match="crf"):
        config_from_dict({"degrade": {"crf": [30, 20]}, "stage": [{"steps": 2}]})
    with pytest.raises(ValueError, match="source"):
        config_from_dict({"data": {"source": "web"}, "stage": [{"steps": 2}]})


def test_a_truth_is_yuv_quantized_exactly_when_its_input_went_through_yuv():
    # a flat saturated colour: an 8-bit YUV round trip moves it by a level (a fixed function of the colour)
    flat = np.zeros((200, 240, 3), np.uint8) + np.array((200, 30, 10), np.uint8)
    quantized = yuv420_roundtrip(flat[:16, :16])[8, 8]
    assert tuple(quantized) != (200, 30, 10)
    rng = np.random.default_rng(0)
    for params, via_yuv in ((replace(CLEAN, yuv420_prob=1.0), True), (replace(CLEAN, h264_prob=1.0), True),
                            (CLEAN, False), (replace(CLEAN, yuv420_prob=1.0, yuv_truth=False), False)):
        lr, _, hr, how = photo_sample(flat, 64, params, rng)
        centre = tuple(int(v) for v in hr[32, 32])
        assert centre == (tuple(int(v) for v in quantized) if via_yuv else (200, 30, 10)), how
        # input and truth agree on the colour, so nothing teaches the network to move it
        assert np.abs(lr[8, 8].astype(int) - hr[32, 32].astype(int)).max() <= (0 if via_yuv else 1), how
