"""The quality suite: any weights file against bicubic and a classical sharpen, on the conditions real video has.

    gfn-eval --build-suite runs/suite --photos photos/ --holdout a,b,c --blur-clip phone.mov --h264-clip cam.mp4
    gfn-eval --suite runs/suite [--weights my.safetensors] --json quality.json

Conditions (each built once, deterministically, from material kept out of training: whole photos, whole clips):

| condition    | input                                                                                       |
|--------------|---------------------------------------------------------------------------------------------|
| sharp        | held-out photos, MATLAB imresize 1/4, no blur                                               |
| mild_blur    | the same photos, a small camera shake (span 2-6 HR px) before the 1/4 resize                |
| severe_blur  | the same photos, strong non-uniform shake (span 12-32 HR px, two shakes blended by a mask)  |
| video_blur   | a real clip, each frame the mean of 5 consecutive frames in linear light (GOPRO's method)  |
| video_h264   | a real clip 4x downscaled (FFmpeg bicubic) and H.264-encoded at crf 23, decoded as a player |

Every method runs through `models.enhancer.Enhancer`, the module the workers run (batching, tiling, precision,
uint8 conversion): "gfn" with the weights at the default precision, "bicubic" = `--model bicubic`. "sharpen" is
bicubic + an unsharp mask, the best of a small grid chosen on each condition itself (so it is an optimistic
classical baseline). Metrics: RGB PSNR and SSIM after uint8 and a 6 px border crop (train/metrics.py, the
paper's protocol); for the video conditions also the temporal error mean |(O_t - O_t-1) - (G_t - G_t-1)| in
8-bit levels, reported as a ratio to bicubic's (flicker; < 1 is steadier than bicubic).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import av
import cv2
import numpy as np

from ..media.colors import default_matrix
from ..media.planes import decode_params, frame_to_rgb
from ..models.enhancer import Enhancer
from .blur import BlurParams, average_frames, shake_blur
from .dataset import list_photos, read_rgb, write_rgb
from .degrade import x264_roundtrip
from .imresize import imresize, modcrop, to_uint8
from .metrics import psnr, ssim
from .online import decode_clip

logger = logging.getLogger(__name__)

SUITE_FORMAT = "gfn-stream/quality-suite/1"
PHOTO_CONDITIONS = {
    "sharp": None,
    "mild_blur": BlurParams(min_extent=2.0, max_extent=6.0, max_rotation_px=2.0, blend_prob=0.0),
    "severe_blur": BlurParams(min_extent=12.0, max_extent=32.0, max_rotation_px=10.0, blend_prob=0.5),
}
VIDEO_CONDITIONS = ("video_blur", "video_h264")
CONDITIONS = (*PHOTO_CONDITIONS, *VIDEO_CONDITIONS)
SHARPEN_GRID = [(a, s) for a in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5) for s in (0.8, 1.5, 2.5)]


# ---------------------------------------------------------------- building


def centre_crop(img: np.ndarray, max_hw: tuple[int, int], multiple: int = 16) -> np.ndarray:
    h, w = img.shape[:2]
    mh, mw = max_hw if h <= w else max_hw[::-1]
    ch, cw = min(h, mh), min(w, mw)
    y, x = (h - ch) // 2, (w - cw) // 2
    return modcrop(img[y : y + ch, x : x + cw], multiple)


def _write_item(root: Path, condition: str, name: str, lr: np.ndarray, hr: np.ndarray) -> None:
    write_rgb(root / condition / "LR" / f"{name}.png", lr)
    write_rgb(root / condition / "HR" / f"{name}.png", hr)


def downscale_h264(path: str | Path, start: int, count: int, crf: int = 23) -> tuple[list, list]:
    """(HR, LR) RGB frames of a clip: each frame 4x downscaled in YUV with FFmpeg's bicubic scaler (as
    `ffmpeg -vf scale` does, no RGB round trip), libx264 yuv420p at `crf`, decoded; both read with the source
    clip's colour matrix and gfn-stream's conversion."""
    hr_frames, small = [], []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(container.streams.video[0])):
            if i < start:
                continue
            if len(hr_frames) == count:
                break
            w, h = frame.width // 8 * 8, frame.height // 8 * 8
            matrix, color_range = decode_params(frame, default_matrix(frame.width, frame.height))
            hr_frames.append(frame_to_rgb(frame, matrix, color_range)[:h, :w])
            small.append(frame.reformat(width=w // 4, height=h // 4, format="yuv420p", interpolation="BICUBIC"))
    if not small:
        raise ValueError(f"{path}: no video frames from {start}")
    decoded = x264_roundtrip(small, crf, preset="medium")
    return hr_frames, [frame_to_rgb(fr, matrix, color_range) for fr in decoded]


def build_suite(out: str | Path, photos: list[str], holdout: list[str], blur_clip: str | None,
                h264_clip: str | None, *, seed: int = 0, max_hw: tuple[int, int] = (720, 1280),
                video_frames: int = 24, blur_start: int = 96, h264_start: int = 0) -> dict:
    """Write every condition's LR/ and HR/ PNGs under `out` and suite.json; returns the description.

    `holdout` names the photos (names or stems) of `photos` that make the photo conditions; the clips are used
    whole-clip (consecutive frames from `blur_start` / `h264_start`), so keep them out of training.
    """
    root = Path(out)
    t0 = time.time()
    every = list_photos(photos, [])
    wanted = set(holdout)
    chosen = [p for p in every if p.name in wanted or p.stem in wanted] if holdout else every
    missing = wanted - {p.name for p in chosen} - {p.stem for p in chosen}
    if missing:
        raise FileNotFoundError(f"held-out photos not found: {', '.join(sorted(missing))}")
    info: dict = {"format": SUITE_FORMAT, "seed": seed, "conditions": {}}
    for k, (cond, bp) in enumerate(PHOTO_CONDITIONS.items()):
        for i, path in enumerate(chosen):
            hr = centre_crop(read_rgb(path), max_hw)
            img = hr.astype(np.float32) / 255.0
            if bp is not None:
                img = shake_blur(img, np.random.default_rng([seed, k, i]), bp)
            lr = to_uint8(imresize(img, 0.25, dtype=np.float32))
            _write_item(root, cond, path.stem, lr, hr)
        info["conditions"][cond] = {"kind": "photos", "items": [p.stem for p in chosen],
                                    "blur": bp.to_dict() if bp else None}
    if blur_clip:
        n = 5
        frames = decode_clip(blur_clip, max_frames=blur_start + video_frames + n - 1)[blur_start:]
        for t in range(len(frames) - n + 1):
            group = [modcrop(f, 16).astype(np.float32) / 255.0 for f in frames[t : t + n]]
            hr = to_uint8(group[n // 2])
            lr = to_uint8(imresize(average_frames(group), 0.25, dtype=np.float32))
            _write_item(root, "video_blur", f"{t:04d}", lr, hr)
        info["conditions"]["video_blur"] = {"kind": "video", "clip": Path(blur_clip).name, "average": n,
                                            "frames": len(frames) - n + 1, "start": blur_start}
    if h264_clip:
        hrs, lrs = downscale_h264(h264_clip, h264_start, video_frames)
        for t, (hr, lr) in enumerate(zip(hrs, lrs)):
            _write_item(root, "video_h264", f"{t:04d}", lr, hr)
        info["conditions"]["video_h264"] = {"kind": "video", "clip": Path(h264_clip).name, "crf": 23,
                                            "scaler": "ffmpeg bicubic in YUV", "frames": len(hrs),
                                            "start": h264_start}
    info["seconds"] = round(time.time() - t0, 1)
    root.mkdir(parents=True, exist_ok=True)
    (root / "suite.json").write_text(json.dumps(info, indent=1))
    return info


# ---------------------------------------------------------------- scoring


def centre_crop_pair(lr: np.ndarray, hr: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """The centre crop of at most side x side LR px and the matching 4x region of the truth."""
    h, w = lr.shape[:2]
    ch, cw = min(h, side), min(w, side)
    y, x = (h - ch) // 2, (w - cw) // 2
    return lr[y : y + ch, x : x + cw], hr[4 * y : 4 * (y + ch), 4 * x : 4 * (x + cw)]


def load_suite(root: str | Path, conditions: tuple[str, ...] = CONDITIONS, limit: int = 0, crop: int = 0) -> dict:
    """{condition: [(name, lr, hr), ...]} of a built suite (video conditions in frame order).

    `limit` keeps the first items of each condition, `crop` the centre crop of that many LR px (the same region
    of every frame): a quick version for checkpoint selection; the suite's numbers are without either.
    """
    root = Path(root)
    meta_path = root / "suite.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} not found: build the suite with gfn-eval --build-suite")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != SUITE_FORMAT:
        raise ValueError(f"{meta_path}: not a {SUITE_FORMAT} file")
    out = {}
    for cond in conditions:
        if cond not in meta["conditions"]:
            continue
        names = sorted(p.stem for p in (root / cond / "LR").glob("*.png"))
        if limit:
            names = names[:limit]
        items = [(n, read_rgb(root / cond / "LR" / f"{n}.png"), read_rgb(root / cond / "HR" / f"{n}.png"))
                 for n in names]
        out[cond] = [(n, *centre_crop_pair(lr, hr, crop)) for n, lr, hr in items] if crop else items
    return out


def write_mini_suite(src: str | Path, out: str | Path, limit: int, crop: int) -> dict:
    """A small copy of a built suite (first `limit` items of each condition, centre `crop` LR px) in the same
    format, e.g. for a test that the shipped weights stay above bicubic on every condition."""
    root = Path(out)
    meta = json.loads((Path(src) / "suite.json").read_text())
    for cond, items in load_suite(src, limit=limit, crop=crop).items():
        for name, lr, hr in items:
            _write_item(root, cond, name, lr, hr)
        meta["conditions"][cond] = {**meta["conditions"][cond], "mini": {"items": len(items), "crop": crop}}
    (root / "suite.json").write_text(json.dumps(meta, indent=1))
    return meta


def temporal_error(outs: list[np.ndarray], gts: list[np.ndarray]) -> float:
    """Mean |(O_t - O_t-1) - (G_t - G_t-1)| in 8-bit levels over consecutive frames."""
    errs = []
    for t in range(1, len(outs)):
        d_o = outs[t].astype(np.int16) - outs[t - 1].astype(np.int16)
        d_g = gts[t].astype(np.int16) - gts[t - 1].astype(np.int16)
        errs.append(float(np.mean(np.abs(d_o - d_g))))
    return float(np.mean(errs)) if errs else 0.0


def unsharp(img: np.ndarray, amount: float, sigma: float) -> np.ndarray:
    if amount == 0:
        return img
    f = img.astype(np.float32)
    blurred = cv2.GaussianBlur(f, (0, 0), sigma)
    return np.clip(f + amount * (f - blurred) + 0.5, 0, 255).astype(np.uint8)


def _metrics(outs: list[np.ndarray], items: list, video: bool) -> dict:
    gts = [hr for _, _, hr in items]
    row = {"psnr": float(np.mean([psnr(o, g) for o, g in zip(outs, gts)])),
           "ssim": float(np.mean([ssim(o, g) for o, g in zip(outs, gts)]))}
    if video:
        row["temporal_error"] = temporal_error(outs, gts)
    return row


def enhance_all(enhancer: Enhancer, items: list, batch: int = 4) -> list[np.ndarray]:
    """Frames of equal size go through in batches, as the workers send them."""
    lrs = [lr for _, lr, _ in items]
    out: list[np.ndarray] = []
    for i in range(0, len(lrs), batch):
        out.extend(enhancer.enhance_batch(lrs[i : i + batch]))
    return out


def score(suite: dict, enhancer: Enhancer | None, *, sharpen: bool = True, per_item: bool = False) -> dict:
    """Per condition: bicubic, sharpen (best of the grid), gfn (when an enhancer is given) and the gains."""
    bicubic = Enhancer(model="bicubic")
    result: dict = {}
    for cond, items in suite.items():
        video = cond in VIDEO_CONDITIONS
        bic = enhance_all(bicubic, items)
        row: dict = {"items": len(items), "bicubic": _metrics(bic, items, video)}
        if sharpen:
            best = None
            for amount, sigma in SHARPEN_GRID:
                m = _metrics([unsharp(b, amount, sigma) for b in bic], items, video)
                if best is None or m["psnr"] > best["psnr"]:
                    best = {**m, "amount": amount, "sigma": sigma}
            row["sharpen"] = best
        if enhancer is not None:
            t0 = time.perf_counter()
            outs = enhance_all(enhancer, items)
            row["gfn_seconds_per_frame"] = (time.perf_counter() - t0) / max(1, len(items))
            row["gfn"] = _metrics(outs, items, video)
            row["gain_db"] = row["gfn"]["psnr"] - row["bicubic"]["psnr"]
            row["ssim_gain"] = row["gfn"]["ssim"] - row["bicubic"]["ssim"]
            if video:
                row["flicker_vs_bicubic"] = row["gfn"]["temporal_error"] / max(1e-9, row["bicubic"]["temporal_error"])
            if per_item:
                row["per_item"] = {n: {"bicubic": psnr(b, hr), "gfn": psnr(o, hr)}
                                   for (n, _, hr), b, o in zip(items, bic, outs)}
        result[cond] = row
    if enhancer is not None and result:
        result["worst_gain_db"] = min(r["gain_db"] for k, r in result.items() if isinstance(r, dict))
    return result


def table(result: dict) -> str:
    """The suite's numbers as a Markdown table."""
    lines = ["| condition | bicubic dB / SSIM | sharpen dB | GFN dB / SSIM | gain dB | flicker vs bicubic |",
             "|---|---|---|---|---|---|"]
    for cond in CONDITIONS:
        r = result.get(cond)
        if not r:
            continue
        b, s, g = r["bicubic"], r.get("sharpen"), r.get("gfn")
        cells = [cond, f"{b['psnr']:.2f} / {b['ssim']:.4f}", f"{s['psnr']:.2f}" if s else "-",
                 f"{g['psnr']:.2f} / {g['ssim']:.4f}" if g else "-", f"{r['gain_db']:+.2f}" if g else "-",
                 f"{r['flicker_vs_bicubic']:.2f}x" if "flicker_vs_bicubic" in r else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
