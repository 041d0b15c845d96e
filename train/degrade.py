"""Degradations over the range real cameras produce, applied to sharp HR material to make LR training input.

One training sample is a short LR *sequence* (so video compression has real inter-frame prediction) whose last
frame is the network input, with the HR sharp truth of that frame:

    HR region ──blur──▶ (none | non-uniform shake | frame average) ──4x down──▶ (MATLAB bicubic | area |
    Gaussian + subsample) ──▶ sensor noise ──▶ (H.264 at a random crf | JPEG | 4:2:0 round trip | nothing)

- Blur: a large share has none at all (`sharp_prob`), the rest is a camera shake whose span is log-uniform between
  `min_extent` and `max_extent` HR px (so mild blur is as common as severe), or, for video material, the mean of
  consecutive frames in linear light (GOPRO's method, `video_blur_prob`).
- Compression: H.264 through PyAV (libx264, crf uniform in `crf`, yuv420p, decoded with FFmpeg's decoder and
  converted to RGB as a player would), JPEG, or only the 4:2:0 chroma round trip every video has.

Everything is drawn from the `numpy.random.Generator` given, so a sample is a pure function of its seed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from fractions import Fraction

import av
import cv2
import numpy as np

from ..media.colors import BT601
from ..media.planes import frame_to_rgb, rgb_to_frame
from .blur import BlurParams, average_frames, shake_blur
from .imresize import imresize, to_uint8

logger = logging.getLogger(__name__)

SCALE = 4
DOWNSCALERS = ("bicubic", "area", "gaussian")


@dataclass(frozen=True)
class DegradeParams:
    """How the LR input is made from sharp HR material (shares are probabilities of one sample)."""

    sharp_prob: float = 0.4  # no blur at all
    # photos: the scene itself is soft (an upscaled or defocused source, as much real video is): the truth is
    # softened too, so the network learns to leave isotropic softness alone and undo motion blur
    soft_prob: float = 0.0
    max_soft: float = 6.0  # the softest scene: upscaled from 1/max_soft of the resolution
    video_blur_prob: float = 0.5  # of the blurred video samples: frame averaging (else synthetic shake)
    min_extent: float = 1.0  # shake span, HR px, log-uniform between min and max
    max_extent: float = 32.0
    max_rotation_px: float = 8.0
    blend_prob: float = 0.3  # two shakes blended by a smooth mask (non-uniform blur)
    min_avg_frames: int = 3  # frame averaging: odd counts between these
    max_avg_frames: int = 9
    downscale_weights: tuple[float, float, float] = (0.6, 0.25, 0.15)  # bicubic, area, gaussian
    noise_prob: float = 0.25
    noise_sigma: float = 0.02  # max std on [0, 1] values (uniform 0..max)
    h264_prob: float = 0.5
    crf: tuple[int, int] = (18, 36)
    jpeg_prob: float = 0.1
    jpeg_quality: tuple[int, int] = (40, 95)
    yuv420_prob: float = 0.6  # of the samples left uncompressed: the 4:2:0 chroma round trip
    # true: when the input went through YUV (H.264, the 4:2:0 round trip) the truth gets an 8-bit YUV 4:4:4 round
    # trip. An 8-bit YUV round trip moves a flat colour by up to 1 level per channel, a fixed function of the
    # colour; trained against unquantized truths the network learns to undo it and then shifts the colours of RGB
    # input (chroma error 6x bicubic's on smooth photos). Video truth is YUV-quantized anyway.
    yuv_truth: bool = True
    seq_len: int = 3  # LR frames encoded together (the last is the input)
    max_pan: int = 2  # photos: LR px the crop moves per frame of the sequence

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self) -> None:
        for name in ("sharp_prob", "soft_prob", "video_blur_prob", "blend_prob", "noise_prob", "h264_prob", "jpeg_prob",
                     "yuv420_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"[degrade] {name} must be in [0, 1]")
        if not 0 < self.min_extent <= self.max_extent:
            raise ValueError("[degrade] need 0 < min_extent <= max_extent")
        if not (0 <= self.crf[0] <= self.crf[1] <= 51):
            raise ValueError("[degrade] crf must be two values in 0..51, low first")
        if self.min_avg_frames < 2 or self.max_avg_frames < self.min_avg_frames:
            raise ValueError("[degrade] need 2 <= min_avg_frames <= max_avg_frames")
        if self.seq_len < 1 or len(self.downscale_weights) != len(DOWNSCALERS) or sum(self.downscale_weights) <= 0:
            raise ValueError("[degrade] seq_len >= 1 and three positive downscale_weights")

    def draw_shake(self, rng: np.random.Generator) -> tuple[BlurParams, int]:
        """Blur settings of one shake (its span drawn log-uniform) and the HR margin of context it needs."""
        extent = math.exp(rng.uniform(math.log(self.min_extent), math.log(self.max_extent)))
        bp = BlurParams(min_extent=extent, max_extent=extent, max_rotation_px=self.max_rotation_px,
                        blend_prob=self.blend_prob)
        return bp, int(math.ceil(extent + self.max_rotation_px * 3 + 8))


# ---------------------------------------------------------------- single steps


def downscale(hr: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """float [0, 1] (H, W, 3) HR, H and W multiples of 4 -> float32 LR (H/4, W/4, 3)."""
    h, w = hr.shape[:2]
    if kind == "bicubic":
        return imresize(hr, output_shape=(h // SCALE, w // SCALE), dtype=np.float32)
    if kind == "area":
        return cv2.resize(hr.astype(np.float32), (w // SCALE, h // SCALE), interpolation=cv2.INTER_AREA)
    sigma = rng.uniform(1.0, 2.0)  # a camera's optical low-pass before the sensor grid
    b = cv2.GaussianBlur(hr.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
    # sample at the centre of each 4x4 block (HR 4i + 1.5), as the other two kernels do
    return (b[1::SCALE, 1::SCALE] + b[2::SCALE, 2::SCALE] + b[1::SCALE, 2::SCALE] + b[2::SCALE, 1::SCALE]) / 4


def reflected(start: int, length: int, n: int) -> np.ndarray:
    """Indices start .. start+length-1 into an axis of n, reflected at the edges as np.pad(mode="reflect")."""
    idx = np.abs(np.arange(start, start + length))
    return np.where(idx >= n, 2 * (n - 1) - idx, idx)


def match_mean(blurred: np.ndarray, sharp: np.ndarray) -> np.ndarray:
    """The blurred frame with the sharp frame's mean per channel.

    Blur in linear light brightens a frame (the mean of gamma-encoded values rises: +1 to +3 levels for the
    shakes drawn here). A network trained on that learns a global darkening, which it then applies to unblurred
    video too, where a one-level cast costs several dB on smooth content; the local, edge-bound part of the effect
    is kept.
    """
    return blurred + (sharp.mean(axis=(0, 1)) - blurred.mean(axis=(0, 1)))


def soften(img: np.ndarray, rng: np.random.Generator, max_soft: float = 6.0) -> tuple[np.ndarray, str]:
    """A soft scene from a sharp float image: defocus-like Gaussian (sigma up to max_soft / 1.5 HR px), or the
    image at a lower resolution (1.5 to max_soft times lower) upscaled back, as upscaled video is."""
    h, w = img.shape[:2]
    if rng.random() < 0.5:
        sigma = math.exp(rng.uniform(math.log(0.5), math.log(max_soft / 1.5)))
        return cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101), f"soft-g{sigma:.1f}"
    f = math.exp(rng.uniform(math.log(1.5), math.log(max_soft)))
    small = cv2.resize(img, (max(1, round(w / f)), max(1, round(h / f))), interpolation=cv2.INTER_AREA)
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), 0, 1), f"soft-x{f:.1f}"


def add_noise(lr: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Signal-dependent sensor noise (shot + read) on float [0, 1] values."""
    std = sigma * np.sqrt(0.3 + 0.7 * np.clip(lr, 0.0, 1.0))
    return lr + rng.normal(size=lr.shape).astype(np.float32) * std


def x264_roundtrip(frames: list[av.VideoFrame], crf: int, preset: str = "veryfast") -> list[av.VideoFrame]:
    """Encode yuv420p frames (even sizes) with libx264 at `crf` and decode them with FFmpeg's H.264 decoder."""
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
    enc.time_base = Fraction(1, 25)
    # one thread: the same input must give the same bits (a resumed run repeats its batches exactly), and on
    # frames this small threads only cost
    enc.thread_count = 1
    enc.options = {"crf": str(crf), "preset": preset, "x264-params": "log-level=none"}
    packets = []
    for i, f in enumerate(frames):
        f.pts = i
        packets.extend(enc.encode(f))
    packets.extend(enc.encode(None))
    dec = av.CodecContext.create("h264", "r")
    out = [fr for p in packets for fr in dec.decode(p)] + list(dec.decode(None))
    if len(out) != len(frames):
        raise RuntimeError(f"h264 round trip gave {len(out)} of {len(frames)} frames")
    return out


def h264_roundtrip(frames: list[np.ndarray], crf: int, preset: str = "veryfast") -> list[np.ndarray]:
    """Encode uint8 RGB frames (even sizes) with libx264 (yuv420p) and decode them as gfn-stream reads video."""
    yuv = [rgb_to_frame(np.ascontiguousarray(f), "yuv420p", BT601) for f in frames]
    return [frame_to_rgb(f, BT601, 1) for f in x264_roundtrip(yuv, crf, preset)]


def yuv420_roundtrip(frame: np.ndarray) -> np.ndarray:
    return frame_to_rgb(rgb_to_frame(np.ascontiguousarray(frame), "yuv420p", BT601), BT601, 1)


def yuv444_roundtrip(frame: np.ndarray) -> np.ndarray:
    """8-bit YUV quantization without chroma subsampling (tv range, BT.601, as the YUV paths use)."""
    return frame_to_rgb(rgb_to_frame(np.ascontiguousarray(frame), "yuv444p", BT601), BT601, 1)


def jpeg_roundtrip(frame: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(frame[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def compress(lr_frames: list[np.ndarray], p: DegradeParams, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """The last frame of the uint8 LR sequence after the drawn compression, and its name."""
    u = rng.random()
    if u < p.h264_prob:
        crf = int(rng.integers(p.crf[0], p.crf[1] + 1))
        return h264_roundtrip(lr_frames, crf)[-1], f"h264-crf{crf}"
    last = lr_frames[-1]
    if u < p.h264_prob + p.jpeg_prob:
        q = int(rng.integers(p.jpeg_quality[0], p.jpeg_quality[1] + 1))
        return jpeg_roundtrip(last, q), f"jpeg-q{q}"
    if rng.random() < p.yuv420_prob:
        return yuv420_roundtrip(last), "yuv420"
    return last, "none"


# ---------------------------------------------------------------- samples


def _finish(hr_seq: list[np.ndarray], p: DegradeParams, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Blurred float HR frames -> the degraded uint8 LR input (last frame) and a description."""
    kind = DOWNSCALERS[int(rng.choice(len(DOWNSCALERS), p=np.asarray(p.downscale_weights) / sum(p.downscale_weights)))]
    sigma = rng.uniform(0.0, p.noise_sigma) if rng.random() < p.noise_prob else 0.0
    lr_seq = []
    for hr in hr_seq:
        lr = downscale(hr, kind, rng)
        if sigma > 0:
            lr = add_noise(lr, sigma, rng)
        lr_seq.append(to_uint8(lr))
    lr, how = compress(lr_seq, p, rng)
    return lr, f"{kind}/noise{sigma:.3f}/{how}"


def _truth(truth: np.ndarray, how: str, p: DegradeParams) -> np.ndarray:
    """The uint8 HR target: YUV-quantized like the input when the input went through YUV (see yuv_truth)."""
    if p.yuv_truth and (how.endswith("/yuv420") or "/h264-" in how):
        return yuv444_roundtrip(truth)
    return np.ascontiguousarray(truth)


def photo_sample(photo: np.ndarray, size: int, p: DegradeParams, rng: np.random.Generator):
    """(LR input uint8, LR sharp uint8, HR uint8, description) from a uint8 RGB photo.

    The crop pans by up to `max_pan` LR px per frame over the sequence; every frame of it gets the same blur.
    """
    lr_size = size // SCALE
    pan = rng.integers(-p.max_pan, p.max_pan + 1, size=2) * SCALE  # HR px per frame
    travel = np.abs(pan) * (p.seq_len - 1)
    blurred_kind = "sharp" if rng.random() < p.sharp_prob else "shake"
    bp, margin = p.draw_shake(rng) if blurred_kind == "shake" else (None, 0)
    need_h, need_w = size + travel[0] + 2 * margin, size + travel[1] + 2 * margin
    h, w = photo.shape[:2]
    if h < need_h or w < need_w:
        photo = np.pad(photo, ((0, max(0, need_h - h)), (0, max(0, need_w - w)), (0, 0)), mode="reflect")
        h, w = photo.shape[:2]
    y0, x0 = int(rng.integers(0, h - need_h + 1)), int(rng.integers(0, w - need_w + 1))
    region = photo[y0 : y0 + need_h, x0 : x0 + need_w].astype(np.float32) / 255.0
    if p.soft_prob > 0 and rng.random() < p.soft_prob:
        region, soft = soften(region, rng, p.max_soft)
        blurred_kind = f"{soft}/{blurred_kind}"
    if bp is not None:
        blurred = shake_blur(region, rng, bp)[margin : need_h - margin, margin : need_w - margin]
        region = region[margin : need_h - margin, margin : need_w - margin]
        blurred = match_mean(blurred, region)
    else:
        blurred = region
    # frame k is at offset start + k * pan inside the region; the last frame ends where the truth is
    start = np.where(pan < 0, travel, 0)
    offsets = [start + k * pan for k in range(p.seq_len)]
    hr_seq = [blurred[oy : oy + size, ox : ox + size] for oy, ox in offsets]
    oy, ox = offsets[-1]
    truth = region[oy : oy + size, ox : ox + size]
    lr, how = _finish(hr_seq, p, rng)
    lr_sharp = to_uint8(imresize(truth, output_shape=(lr_size, lr_size), dtype=np.float32))
    return lr, lr_sharp, _truth(to_uint8(truth), how, p), f"photo/{blurred_kind}/{how}"


def video_sample(frames: np.ndarray, size: int, p: DegradeParams, rng: np.random.Generator):
    """The same from consecutive uint8 frames (T, H, W, 3) of one clip: real motion between sequence frames.

    Blur: none, a synthetic shake (per frame), or the mean of n consecutive frames around each one.
    """
    lr_size = size // SCALE
    t_count, h, w = frames.shape[:3]
    u = rng.random()
    kind = "sharp" if u < p.sharp_prob else ("average" if rng.random() < p.video_blur_prob else "shake")
    n = int(rng.integers(p.min_avg_frames // 2, p.max_avg_frames // 2 + 1)) * 2 + 1 if kind == "average" else 1
    bp, margin = p.draw_shake(rng) if kind == "shake" else (None, 0)
    span = p.seq_len + n - 1
    if t_count < span or h < size or w < size:
        raise ValueError(f"clip of {t_count} frames {w}x{h} too small for a {size} px sample")
    t0 = int(rng.integers(0, t_count - span + 1))
    y0, x0 = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    ys, xs = slice(y0, y0 + size), slice(x0, x0 + size)
    hr_seq = []
    shake_seed = int(rng.integers(2**31))  # one shake for every frame of the sequence
    for k in range(p.seq_len):
        if kind == "average":
            group = [frames[t0 + k + j, ys, xs].astype(np.float32) / 255.0 for j in range(n)]
            hr_seq.append(match_mean(average_frames(group), group[n // 2]))
        elif kind == "shake":
            rows, cols = reflected(y0 - margin, size + 2 * margin, h), reflected(x0 - margin, size + 2 * margin, w)
            region = frames[t0 + k][np.ix_(rows, cols)].astype(np.float32) / 255.0  # the crop, not the frame, padded
            blurred = shake_blur(region, np.random.default_rng(shake_seed), bp)[margin:-margin, margin:-margin]
            hr_seq.append(match_mean(blurred, region[margin:-margin, margin:-margin]))
        else:
            hr_seq.append(frames[t0 + k, ys, xs].astype(np.float32) / 255.0)
    truth = frames[t0 + p.seq_len - 1 + n // 2, ys, xs]
    lr, how = _finish(hr_seq, p, rng)
    lr_sharp = to_uint8(imresize(truth.astype(np.float32) / 255.0, output_shape=(lr_size, lr_size),
                                 dtype=np.float32))
    return lr, lr_sharp, _truth(truth, how, p), f"video/{kind}{n if n > 1 else ''}/{how}"
