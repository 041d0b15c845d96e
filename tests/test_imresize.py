"""MATLAB imresize bicubic: weights and values computed by hand from the a = -0.5 cubic kernel."""

import numpy as np
import pytest

from gfn_stream.train.imresize import contributions, cubic, imresize, modcrop, to_uint8

# Keys cubic (a = -0.5) at t = 1/8, 3/8, ..., 15/8, evaluated by hand:
#   |t| <= 1: 1.5|t|^3 - 2.5|t|^2 + 1      1 < |t| <= 2: -0.5|t|^3 + 2.5|t|^2 - 4|t| + 2
C = {
    0.125: 0.9638671875, 0.375: 0.7275390625, 0.625: 0.3896484375, 0.875: 0.0908203125,
    1.125: -0.0478515625, 1.375: -0.0732421875, 1.625: -0.0439453125, 1.875: -0.0068359375,
}
# 1/4 downscale: kernel widened to 16 taps, h(d) = 0.25 * cubic(d / 4) at d = +-0.5 ... +-7.5 (sum is exactly 1)
QUARTER = [0.25 * C[t] for t in (1.875, 1.625, 1.375, 1.125, 0.875, 0.625, 0.375, 0.125)]
QUARTER = np.array(QUARTER + QUARTER[::-1])
# 2x upscale, first output pixel: u = 0.75, taps at 1-based -1, 0, 1, 2 -> the classic MATLAB weights
DOUBLE = np.array([-0.0234375, 0.2265625, 0.8671875, -0.0703125])


def test_cubic_kernel_values():
    for t, v in C.items():
        assert cubic(np.array([t]))[0] == pytest.approx(v, abs=1e-15)
        assert cubic(np.array([-t]))[0] == pytest.approx(v, abs=1e-15)
    assert cubic(np.array([0.0, 1.0, 2.0, 2.5])).tolist() == [1.0, 0.0, 0.0, 0.0]


def test_quarter_weights_interior_and_mirrored_border():
    w, idx = contributions(32, 8, 0.25)
    assert w.shape == (8, 16)
    # output 3 (1-based): u = 4*3 - 1.5 = 10.5 -> inputs 3..18 (1-based) = 2..17 (0-based)
    np.testing.assert_allclose(w[2], QUARTER, atol=1e-15)
    assert idx[2].tolist() == list(range(2, 18))
    # output 1: u = 2.5 -> taps -5..10 (1-based); symmetric padding maps 0 -> 1, -1 -> 2, ... -5 -> 6
    np.testing.assert_allclose(w[0], QUARTER, atol=1e-15)
    assert idx[0].tolist() == [5, 4, 3, 2, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_double_weights():
    w, idx = contributions(8, 16, 2.0)
    np.testing.assert_allclose(w[0], DOUBLE, atol=1e-15)
    assert idx[0].tolist() == [1, 0, 0, 1]
    # output 2: u = 1.25 -> taps 0..3 (1-based), distances 1.25, 0.25, -0.75, -1.75
    np.testing.assert_allclose(w[1], DOUBLE[::-1], atol=1e-15)
    assert idx[1].tolist() == [0, 0, 1, 2]


def test_2d_value_is_separable_hand_sum():
    rng = np.random.default_rng(0)
    img = rng.random((32, 40, 3))
    out = imresize(img, 0.25)
    assert out.shape == (8, 10, 3)
    hand = np.einsum("i,ijc,j->c", QUARTER, img[2:18, 2:18], QUARTER)  # output (2, 2): inputs 2..17 both ways
    np.testing.assert_allclose(out[2, 2], hand, atol=1e-12)


def test_constant_and_ramp_preserved():
    const = np.full((20, 24), 0.3)
    np.testing.assert_allclose(imresize(const, 0.25), 0.3, atol=1e-12)
    np.testing.assert_allclose(imresize(const, 0.7), 0.3, atol=1e-12)
    ramp = np.tile(np.arange(64, dtype=np.float64), (8, 1))
    out = imresize(ramp, 0.5)
    # away from the border a cubic kernel reproduces a linear ramp: output x samples u = 2x - 0.5 (1-based)
    np.testing.assert_allclose(out[:, 4:-4], np.tile(2 * np.arange(5, 29) - 0.5 - 1, (4, 1)), atol=1e-12)


def test_output_size_is_ceil_and_uint8_helpers():
    assert imresize(np.zeros((7, 10)), 0.7).shape == (5, 7)
    assert imresize(np.zeros((5, 5)), output_shape=(9, 3)).shape == (9, 3)
    u8 = (np.arange(12).reshape(3, 4) * 20).astype(np.uint8)
    np.testing.assert_allclose(imresize(u8, 1.0), u8 / 255.0, atol=1e-12)
    assert to_uint8(np.array([-0.1, 0.5 / 255, 1.5 / 255, 2.0])).tolist() == [0, 1, 2, 255]
    assert modcrop(np.zeros((10, 13, 3)), 4).shape == (8, 12, 3)
