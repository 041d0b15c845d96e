"""Synthetic camera-shake blur and frame-average blur: sanity checks on tiny images."""

import numpy as np

from gfn_stream.train.blur import (
    BlurParams,
    Shake,
    apply_shake,
    average_frames,
    degrade_lr,
    linear_to_srgb,
    random_shake,
    random_trajectory,
    shake_blur,
    srgb_to_linear,
)


def _texture(h=64, w=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((h, w, 3)).astype(np.float32)


def _energy(img):
    return float(np.mean(np.abs(np.diff(img, axis=0))) + np.mean(np.abs(np.diff(img, axis=1))))


def test_trajectory_extent_and_centre():
    rng = np.random.default_rng(1)
    path = random_trajectory(rng, 20.0, 40)
    assert path.shape == (40, 2)
    assert 0.7 * 20.0 <= np.hypot(*np.ptp(path, axis=0)) <= 20.0 + 1e-9  # knots between samples may be cut
    assert np.isclose(np.hypot(*np.ptp(random_trajectory(rng, 20.0, 24), axis=0)), 20.0)  # samples = knots
    np.testing.assert_allclose(path.mean(axis=0), 0.0, atol=1e-9)


def test_still_camera_is_identity():
    img = _texture()
    still = Shake(np.zeros((8, 2)), np.zeros(8), np.ones(8), (10.0, 10.0))
    np.testing.assert_allclose(apply_shake(img, still), img, atol=1e-6)


def test_pure_translation_is_box_blur():
    img = _texture(32, 32)
    # a horizontal 3-sample shake: -1, 0, +1 px (integer shifts: exact averages away from the border)
    shake = Shake(np.array([[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]]), np.zeros(3), np.ones(3), (0.0, 0.0))
    out = apply_shake(img, shake)
    expect = (img[:, :-2] + img[:, 1:-1] + img[:, 2:]) / 3
    np.testing.assert_allclose(out[:, 1:-1], expect, atol=1e-5)


def test_shake_blur_blurs_and_keeps_brightness():
    img = _texture(96, 96)
    rng = np.random.default_rng(3)
    params = BlurParams(min_extent=8, max_extent=12, blend_prob=1.0)
    out = shake_blur(img, rng, params)
    assert out.shape == img.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert _energy(out) < 0.5 * _energy(img)
    # blur in linear light keeps the linear mean (away from reflected borders, approximately)
    assert abs(srgb_to_linear(out).mean() - srgb_to_linear(img).mean()) < 0.01


def test_blur_varies_across_the_frame():
    # a pure rotation about the top-left corner: no blur there, long streaks at the far corner
    img = _texture(128, 128, seed=4)
    theta = np.linspace(-0.01, 0.01, 33)  # +-0.08 px at 8 px from the centre, +-1.8 px at the far corner
    shake = Shake(np.zeros((33, 2)), theta, np.ones(33), (0.0, 0.0))
    out = apply_shake(img, shake)
    near = np.abs(out[:8, :8] - img[:8, :8]).mean()
    far = np.abs(out[-8:, -8:] - img[-8:, -8:]).mean()
    assert far > 4 * near


def test_crop_with_origin_matches_whole_frame():
    img = _texture(80, 80, seed=5)
    shake = random_shake(np.random.default_rng(6), BlurParams(max_extent=6, max_rotation_px=30), (80, 80))
    whole = apply_shake(img, shake)
    crop = apply_shake(img[20:70, 10:60], shake, origin=(10.0, 20.0))
    # equal up to cv2's 1/32 px fixed-point warp coordinates
    diff = np.abs(crop[12:-12, 12:-12] - whole[32:58, 22:48])
    assert diff.mean() < 2e-3 and diff.max() < 0.03


def test_average_frames_and_gamma_roundtrip():
    img = _texture(16, 16)
    np.testing.assert_allclose(average_frames([img, img, img]), img, atol=1e-5)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(img)), img, atol=1e-5)
    black, white = np.zeros_like(img), np.ones_like(img)
    # the mean of black and white in linear light is 0.5 linear = 0.73 sRGB (gamma 2.2), brighter than 0.5
    assert np.allclose(average_frames([black, white]), 0.5 ** (1 / 2.2), atol=1e-5)


def test_degrade_lr_noise_and_jpeg():
    lr = (np.random.default_rng(7).random((16, 16, 3)) * 255).astype(np.uint8)
    rng = np.random.default_rng(8)
    assert np.array_equal(degrade_lr(lr, rng, BlurParams()), lr)  # off by default
    out = degrade_lr(lr, rng, BlurParams(noise_prob=1.0, jpeg_prob=1.0))
    assert out.shape == lr.shape and out.dtype == np.uint8 and not np.array_equal(out, lr)
