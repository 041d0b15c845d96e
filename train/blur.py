"""Synthetic non-uniform camera-shake blur, frame-average blur from video, and LR degradations.

Camera shake is simulated the way GOPRO made its blur, by averaging many sharp "sub-frames": each is the sharp
image warped by the camera pose at one instant of the exposure. A pose is a translation plus an in-plane rotation
about a centre (anywhere in or near the frame) and a slight zoom, all following one smooth random trajectory, so
the blur varies across the image (longer streaks far from the rotation centre, curved paths, direction changing
across the frame). Optionally two independent shakes are blended with a smooth random mask (moving objects / depth).
Averaging happens in linear light (sRGB gamma 2.2 undone), like GOPRO's gamma-corrected `blur_gamma` frames.

The trajectory is centred on its mean pose, so the sharp target sits at the centre of the streaks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

GAMMA = 2.2


@dataclass(frozen=True)
class BlurParams:
    """How strong the synthetic shake is, in pixels of the HR image it is applied to."""

    # span of the translation path (diagonal of its bounding box), HR px, log-uniform between min and max;
    # LR-GOPRO's blur spans roughly 2-10 LR px, i.e. ~8-40 HR px at 1280x720 (less after its 0.5/0.7 rescales)
    min_extent: float = 4.0
    max_extent: float = 32.0
    max_rotation_px: float = 10.0  # extra motion from rotation at 1000 px from the rotation centre (uniform 0..max)
    max_zoom: float = 0.004  # relative zoom change over the exposure (uniform 0..max)
    blend_prob: float = 0.3  # chance of blending two independent shakes with a smooth mask
    gamma: float = GAMMA  # blur in linear light; 1.0 blurs the sRGB values directly
    noise_prob: float = 0.0  # chance of Gaussian noise on the LR blurry input
    noise_sigma: float = 0.01  # max noise std (uniform 0..max), on [0, 1] values
    jpeg_prob: float = 0.0  # chance of JPEG-compressing the LR blurry input
    jpeg_quality: tuple[int, int] = (60, 95)
    # chance that a patch (or validation frame) gets no blur at all, so the network also learns to leave sharp
    # input alone (0 = always blurred; drawn only when > 0, so older seeds make the same data)
    sharp_prob: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Shake:
    """One camera-shake exposure: per-sample translation (T, 2), rotation (T,) radians, zoom (T,), centre (x, y)."""

    translation: np.ndarray
    rotation: np.ndarray
    zoom: np.ndarray
    center: tuple[float, float]


def random_trajectory(rng: np.random.Generator, extent: float, samples: int, knots: int = 24) -> np.ndarray:
    """A 2-D camera-shake path spanning `extent` px (bounding-box diagonal), (samples, 2), mean at the origin.

    A random walk of the velocity with inertia (Boracchi & Foi style: smooth drift, occasional jerks) at `knots`
    instants, linearly interpolated to `samples` instants equally spaced in time (the exposure).
    """
    velocity = rng.normal(size=2)
    points = [np.zeros(2)]
    for _ in range(knots - 1):
        jerk = rng.normal(size=2) * (2.0 if rng.random() < 0.1 else 0.6)
        velocity = 0.8 * velocity + jerk - 0.05 * points[-1]
        points.append(points[-1] + velocity)
    path = np.asarray(points)
    span = float(np.hypot(*np.ptp(path, axis=0)))
    path = path * (extent / max(span, 1e-6))
    t = np.linspace(0.0, knots - 1.0, samples)
    path = np.stack([np.interp(t, np.arange(knots), path[:, k]) for k in range(2)], axis=1)
    return path - path.mean(axis=0)


def path_length(path: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())


def _smooth_curve(rng: np.random.Generator, samples: int) -> np.ndarray:
    """A random smooth 1-D curve in [-0.5, 0.5] (range normalised), mean 0."""
    c = np.cumsum(0.8 * rng.normal() + rng.normal(size=samples) * 0.5)
    c = c - c.mean()
    span = c.max() - c.min()
    return c / span if span > 1e-9 else c * 0


def random_shake(rng: np.random.Generator, params: BlurParams, frame_hw: tuple[int, int]) -> Shake:
    """Draw one exposure for a frame of size `frame_hw` (the rotation centre is placed relative to it)."""
    extent = math.exp(rng.uniform(math.log(params.min_extent), math.log(params.max_extent)))
    rot_px = rng.uniform(0.0, params.max_rotation_px)
    zoom = rng.uniform(0.0, params.max_zoom)
    h, w = frame_hw
    center = (rng.uniform(-0.25, 1.25) * w, rng.uniform(-0.25, 1.25) * h)
    walk_seed = int(rng.integers(2**31))
    # sub-frames ~0.5 px apart along the path (at most 128)
    length = path_length(random_trajectory(np.random.default_rng(walk_seed), extent, 64))
    samples = int(np.clip(math.ceil(2 * (length + rot_px)), 12, 128))
    return Shake(
        translation=random_trajectory(np.random.default_rng(walk_seed), extent, samples),
        rotation=_smooth_curve(rng, samples) * (rot_px / 1000.0),
        zoom=1.0 + _smooth_curve(rng, samples) * zoom,
        center=center,
    )


def srgb_to_linear(img: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    return np.power(np.clip(img, 0.0, 1.0), gamma)


def linear_to_srgb(img: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    return np.power(np.clip(img, 0.0, 1.0), 1.0 / gamma)


def apply_shake(img: np.ndarray, shake: Shake, origin: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Average of the warped sub-frames of a float32 (H, W, C) image in linear light.

    `origin` is the (x, y) of img's top-left pixel in the frame the shake was drawn for, so a crop of a frame
    can be blurred on its own (with a margin) and matches blurring the whole frame.
    """
    h, w = img.shape[:2]
    cx, cy = shake.center[0] - origin[0], shake.center[1] - origin[1]
    acc = np.zeros_like(img, dtype=np.float32)
    for (tx, ty), theta, s in zip(shake.translation, shake.rotation, shake.zoom):
        cos, sin = math.cos(theta) * s, math.sin(theta) * s
        # source pixel for output p: c + sR(p - c) + t  (inverse map)
        m = np.array(
            [[cos, -sin, cx - cos * cx + sin * cy + tx], [sin, cos, cy - sin * cx - cos * cy + ty]], dtype=np.float64
        )
        acc += cv2.warpAffine(
            img, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT_101
        )
    return acc / len(shake.translation)


def smooth_mask(
    rng: np.random.Generator, hw: tuple[int, int], frame_hw: tuple[int, int], origin=(0.0, 0.0)
) -> np.ndarray:
    """A smooth random blend weight in [0, 1], (H, W, 1): a sigmoid of a random low-frequency field."""
    fh, fw = frame_hw
    grid = rng.normal(size=(3, 3)).astype(np.float32) * 4.0
    field = cv2.resize(grid, (max(fw, 2), max(fh, 2)), interpolation=cv2.INTER_CUBIC)
    x0, y0 = int(origin[0]), int(origin[1])
    h, w = hw
    field = np.pad(field, ((max(0, -y0), h), (max(0, -x0), w)), mode="edge")
    field = field[max(0, y0) : max(0, y0) + h, max(0, x0) : max(0, x0) + w]
    return (1.0 / (1.0 + np.exp(-field)))[..., None]


def shake_blur(
    sharp: np.ndarray,
    rng: np.random.Generator,
    params: BlurParams,
    frame_hw: tuple[int, int] | None = None,
    origin: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Blur a float (H, W, 3) sRGB image in [0, 1] with random non-uniform camera shake; returns float32 sRGB."""
    if params.sharp_prob > 0 and rng.random() < params.sharp_prob:
        return sharp.astype(np.float32)
    frame_hw = frame_hw or sharp.shape[:2]
    lin = srgb_to_linear(sharp.astype(np.float32), params.gamma)
    blurred = apply_shake(lin, random_shake(rng, params, frame_hw), origin)
    if rng.random() < params.blend_prob:
        other = apply_shake(lin, random_shake(rng, params, frame_hw), origin)
        mask = smooth_mask(rng, sharp.shape[:2], frame_hw, origin)
        blurred = mask * blurred + (1.0 - mask) * other
    return linear_to_srgb(blurred, params.gamma).astype(np.float32)


def average_frames(frames: list[np.ndarray], gamma: float = GAMMA) -> np.ndarray:
    """GOPRO's blur: the mean of consecutive sharp frames in linear light; float (H, W, C) sRGB in [0, 1]."""
    acc = np.zeros(frames[0].shape, dtype=np.float32)
    for f in frames:
        acc += srgb_to_linear(f.astype(np.float32), gamma)
    return linear_to_srgb(acc / len(frames), gamma).astype(np.float32)


def degrade_lr(lr: np.ndarray, rng: np.random.Generator, params: BlurParams) -> np.ndarray:
    """Optional sensor noise and JPEG artefacts on a uint8 LR image (what a camera or stream would add)."""
    out = lr
    if params.noise_prob > 0 and rng.random() < params.noise_prob:
        sigma = rng.uniform(0.0, params.noise_sigma) * 255.0
        out = np.clip(out.astype(np.float32) + rng.normal(size=out.shape) * sigma, 0, 255).round().astype(np.uint8)
    if params.jpeg_prob > 0 and rng.random() < params.jpeg_prob:
        q = int(rng.integers(params.jpeg_quality[0], params.jpeg_quality[1] + 1))
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(out), [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).reshape(out.shape)
    return out
