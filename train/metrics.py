"""PSNR and SSIM as the reference evaluates LR-GOPRO (sheet §5), in numpy.

- Both images are quantised to uint8 first (MATLAB `im2uint8`: round), then compared as float in [0, 1].
- A border of 6 px (1.5 x scale 4) is cropped on every side (`shave_bd`).
- PSNR = 10 log10(1 / MSE) over all three RGB channels (not Y), as MATLAB `psnr` on the H x W x 3 array.
- SSIM here is the common per-channel Gaussian SSIM (Wang et al. 2004: 11x11 window, sigma 1.5, K1 0.01,
  K2 0.03, L 1, valid region only), averaged over R, G, B. The reference calls MATLAB `ssim(GT, out)` on the
  H x W x 3 array, which treats it as a 3-D volume (3-D Gaussian window across the channels too), so its numbers
  differ slightly from these (sheet §5); PSNR matches exactly.
"""

from __future__ import annotations

import cv2
import numpy as np

BORDER = 6  # 1.5 * scale


def quantize(img: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 (rounded, clipped); uint8 passes through."""
    if img.dtype == np.uint8:
        return img
    return np.floor(np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def shave(img: np.ndarray, border: int = BORDER) -> np.ndarray:
    return img[border:-border, border:-border] if border > 0 else img


def _compared(out: np.ndarray, ref: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    """The two images as the reference compares them: uint8-quantised, border cropped, float64 in [0, 1]."""
    if out.shape != ref.shape:
        raise ValueError(f"shape mismatch {out.shape} vs {ref.shape}")
    a = shave(quantize(out), border).astype(np.float64) / 255.0
    b = shave(quantize(ref), border).astype(np.float64) / 255.0
    return a, b


def psnr(out: np.ndarray, ref: np.ndarray, border: int = BORDER) -> float:
    """RGB PSNR in dB of two (H, W, 3) images (uint8 or float in [0, 1]) after uint8 quantisation and border crop."""
    a, b = _compared(out, ref, border)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def _ssim_channel(a: np.ndarray, b: np.ndarray) -> float:
    c1, c2 = 0.01**2, 0.03**2
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REPLICATE)[5:-5, 5:-5]  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def ssim(out: np.ndarray, ref: np.ndarray, border: int = BORDER) -> float:
    """Mean over RGB of per-channel Gaussian SSIM (sigma 1.5), after uint8 quantisation and border crop."""
    a, b = _compared(out, ref, border)
    if a.ndim == 2:
        return _ssim_channel(a, b)
    return float(np.mean([_ssim_channel(a[..., c], b[..., c]) for c in range(a.shape[2])]))
