"""gfn-make-dataset: training triplets (LR blurry, LR sharp, HR sharp) and evaluation folders.

    # LR-GOPRO exactly as the reference's MATLAB generators (sheet §4), from a GOPRO_Large folder
    gfn-make-dataset gopro --src GOPRO_Large --out data/lr-gopro            # train/ patches + test/ PNG folders

    # synthetic camera-shake blur on sharp photos (and/or frame-averaged video), with a held-out validation set
    gfn-make-dataset synthetic --photos photos/ --out data/synth --holdout 8 --seed 0
    gfn-make-dataset synthetic --video clip.mp4 --out data/synth-video

Patches: global scales {0.5, 0.7, 1.0} (MATLAB bicubic), modcrop 4, 256x256 HR crops at stride 128, patches whose
mean gradient magnitude (MATLAB `gradient`, RGB) is below 0.005 dropped, LR = imresize(patch, 1/4, 'bicubic').
Each output folder gets a make_dataset.json saying how it was made.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing as mp
import time
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np

from .blur import BlurParams, average_frames, degrade_lr, shake_blur
from .dataset import IMAGE_EXTS, ShardWriter, read_rgb, write_rgb
from .imresize import imresize, modcrop, to_uint8

logger = logging.getLogger(__name__)

VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".avi", ".mpg", ".mpeg", ".webm")


@dataclass(frozen=True)
class PatchParams:
    scales: tuple[float, ...] = (0.5, 0.7, 1.0)
    hr_size: int = 256
    stride: int = 128
    min_gradient: float = 0.005


def matlab_gradient_magnitude(img: np.ndarray) -> float:
    """mean(sqrt(gx^2 + gy^2)) with MATLAB `gradient` (central differences inside, one-sided at the edges)."""
    gx = np.gradient(img, axis=1, edge_order=1)
    gy = np.gradient(img, axis=0, edge_order=1)
    return float(np.mean(np.sqrt(gx * gx + gy * gy)))


def patch_positions(h: int, w: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners of size x size crops at `stride`, margin 0 (MATLAB `1:stride:H-size+1`)."""
    return [(y, x) for y in range(0, h - size + 1, stride) for x in range(0, w - size + 1, stride)]


def to_float(img: np.ndarray) -> np.ndarray:
    """MATLAB im2double."""
    return img.astype(np.float64) / 255.0


def rescale(img: np.ndarray, scale: float) -> np.ndarray:
    """Global rescale with MATLAB bicubic, then modcrop 4 (float [0, 1] in and out)."""
    out = img if scale == 1.0 else np.clip(imresize(img, scale, dtype=img.dtype), 0.0, 1.0)
    return modcrop(out, 4)


def pair_patches(sharp: np.ndarray, blurry: np.ndarray, pp: PatchParams) -> list[tuple[np.ndarray, ...]]:
    """LR-GOPRO triplets from one registered (sharp, blurry) float pair: the reference generator, step by step."""
    out = []
    for scale in pp.scales:
        s, b = rescale(sharp, scale), rescale(blurry, scale)
        for y, x in patch_positions(*s.shape[:2], pp.hr_size, pp.stride):
            hr = s[y : y + pp.hr_size, x : x + pp.hr_size]
            if matlab_gradient_magnitude(hr) < pp.min_gradient:
                continue
            bp = b[y : y + pp.hr_size, x : x + pp.hr_size]
            out.append((to_uint8(imresize(bp, 0.25)), to_uint8(imresize(hr, 0.25)), to_uint8(hr)))
    return out


def synthetic_patches(
    sharp: np.ndarray, rng: np.random.Generator, pp: PatchParams, bp: BlurParams
) -> list[tuple[np.ndarray, ...]]:
    """Triplets from one sharp photo: each kept patch gets its own non-uniform shake (drawn for the whole frame)."""
    out = []
    margin = int(math.ceil(bp.max_extent + bp.max_rotation_px * 3 + 8))
    for scale in pp.scales:
        s = rescale(sharp, scale)
        padded = np.pad(s, ((margin, margin), (margin, margin), (0, 0)), mode="reflect")
        for y, x in patch_positions(*s.shape[:2], pp.hr_size, pp.stride):
            hr = s[y : y + pp.hr_size, x : x + pp.hr_size]
            if matlab_gradient_magnitude(hr) < pp.min_gradient:
                continue
            region = padded[y : y + pp.hr_size + 2 * margin, x : x + pp.hr_size + 2 * margin]
            blurred = shake_blur(region, rng, bp, frame_hw=s.shape[:2], origin=(x - margin, y - margin))
            blurred = blurred[margin:-margin, margin:-margin]
            lr_blur = degrade_lr(to_uint8(imresize(blurred, 0.25)), rng, bp)
            out.append((lr_blur, to_uint8(imresize(hr, 0.25)), to_uint8(hr)))
    return out


def write_eval_pair(out: Path, name: str, lr_blur: np.ndarray, hr: np.ndarray) -> None:
    write_rgb(out / "LR_Blur" / f"{name}.png", lr_blur)
    write_rgb(out / "HR" / f"{name}.png", hr)


def eval_pair_synthetic(sharp: np.ndarray, rng: np.random.Generator, bp: BlurParams, max_hw: tuple[int, int]):
    """A validation image: centre crop (at most max_hw, modcrop 16), whole-frame shake, LR = imresize 1/4."""
    h, w = sharp.shape[:2]
    mh, mw = (max_hw if h <= w else max_hw[::-1])
    ch, cw = min(h, mh), min(w, mw)
    y, x = (h - ch) // 2, (w - cw) // 2
    hr = modcrop(sharp[y : y + ch, x : x + cw], 16)
    blurred = shake_blur(hr, rng, bp)
    lr_blur = degrade_lr(to_uint8(imresize(blurred, 0.25)), rng, bp)
    return lr_blur, to_uint8(hr)


# ---------------------------------------------------------------- workers (top level so they pickle for Pool)


def _photo_job(args):
    path, seed, pp, bp = args
    rng = np.random.default_rng(seed)
    return path.name, synthetic_patches(to_float(read_rgb(path)), rng, pp, bp)


def _pair_job(args):
    sharp_path, blur_path, pp = args
    return sharp_path.name, pair_patches(to_float(read_rgb(sharp_path)), to_float(read_rgb(blur_path)), pp)


def _run_jobs(fn, jobs, workers: int):
    if workers <= 1:
        yield from map(fn, jobs)
        return
    with mp.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(fn, jobs)


def _write_info(out: Path, info: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "make_dataset.json").write_text(json.dumps(info, indent=1, default=str))


# ---------------------------------------------------------------- GOPRO


def gopro_pairs(split_dir: Path, blur_dir: str = "blur_gamma") -> list[tuple[Path, Path]]:
    """(sharp, blurry) frame paths of a GOPRO_Large split: <split>/<sequence>/{sharp,blur_gamma}/*.png."""
    pairs = []
    for seq in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        for sharp in sorted((seq / "sharp").glob("*.png")):
            blurry = seq / blur_dir / sharp.name
            if not blurry.is_file():
                raise FileNotFoundError(f"{blurry} missing (pair of {sharp})")
            pairs.append((sharp, blurry))
    return pairs


def make_gopro(src: Path, out: Path, pp: PatchParams, workers: int, blur_dir: str = "blur_gamma") -> dict:
    t0 = time.time()
    info: dict = {"kind": "lr-gopro", "source": str(src), "blur": blur_dir, "patches": pp.__dict__, "splits": {}}
    if (src / "train").is_dir():
        pairs = gopro_pairs(src / "train", blur_dir)
        writer = ShardWriter(out / "train", pp.hr_size)
        for name, triplets in _run_jobs(_pair_job, [(s, b, pp) for s, b in pairs], workers):
            for t in triplets:
                writer.add(*t)
        index = writer.close()
        info["splits"]["train"] = {"pairs": len(pairs), "patches": index["count"]}
    if (src / "test").is_dir():
        # test set (gopro_val_generator.m): modcrop 16, LR = imresize(blur, 1/4), numbered over all sequences
        pairs = gopro_pairs(src / "test", blur_dir)
        for i, (sharp_path, blur_path) in enumerate(pairs, start=1):
            hr = modcrop(read_rgb(sharp_path), 16)
            blurry = modcrop(to_float(read_rgb(blur_path)), 16)
            write_eval_pair(out / "test", f"{i:04d}", to_uint8(imresize(blurry, 0.25)), hr)
        info["splits"]["test"] = {"pairs": len(pairs)}
    if not info["splits"]:
        raise FileNotFoundError(f"{src} has neither train/ nor test/ (GOPRO_Large layout)")
    info["seconds"] = round(time.time() - t0, 1)
    _write_info(out, info)
    return info


# ---------------------------------------------------------------- synthetic


def split_holdout(photos: list[Path], holdout: str | None, seed: int) -> tuple[list[Path], list[Path]]:
    """holdout: None, a count ("8"), a fraction ("0.1") or comma-separated file names/stems."""
    if not holdout:
        return photos, []
    try:
        value = float(holdout)
    except ValueError:
        names = {n.strip() for n in holdout.split(",") if n.strip()}
        held = [p for p in photos if p.name in names or p.stem in names]
        missing = names - {p.name for p in held} - {p.stem for p in held}
        if missing:
            raise ValueError(f"holdout photos not found: {', '.join(sorted(missing))}")
    else:
        n = int(round(value * len(photos))) if value < 1 else int(value)
        # only photos big enough to be useful validation images are drawn
        big = [p for p in photos if min(read_rgb(p).shape[:2]) >= 384]
        order = np.random.default_rng(seed).permutation(len(big))
        held = [big[i] for i in sorted(order[:n])]
    return [p for p in photos if p not in held], held


def video_pairs(path: Path, rng: np.random.Generator, min_frames: int, max_frames: int, every: int):
    """(sharp, blurry) float pairs from a clip: mean of N consecutive frames (linear light), sharp = middle frame."""
    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(to_float(frame[..., ::-1]))
    finally:
        cap.release()
    start = 0
    while True:
        n = int(rng.integers(min_frames // 2, max_frames // 2 + 1)) * 2 + 1  # odd: a middle frame exists
        if start + n > len(frames):
            break
        group = frames[start : start + n]
        yield group[n // 2], average_frames(group)
        start += max(n, every)


def make_synthetic(args: argparse.Namespace, pp: PatchParams, bp: BlurParams) -> dict:
    t0 = time.time()
    out = Path(args.out)
    photos: list[Path] = []
    for src in args.photos or []:
        src = Path(src)
        photos += sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_EXTS) if src.is_dir() else [src]
    train_photos, val_photos = split_holdout(photos, args.holdout, args.seed)
    info: dict = {
        "kind": "synthetic",
        "seed": args.seed,
        "patches": pp.__dict__,
        "blur": bp.to_dict(),
        "sources": {"photos": [str(p) for p in train_photos], "video": args.video or []},
        "holdout": [str(p) for p in val_photos],
    }
    writer = ShardWriter(out / "train", pp.hr_size)
    per_source: dict[str, int] = {}
    jobs = [(p, [args.seed, i], pp, bp) for i, p in enumerate(train_photos)]
    for name, triplets in _run_jobs(_photo_job, jobs, args.workers):
        for t in triplets:
            writer.add(*t)
        per_source[name] = len(triplets)
        logger.info("%s: %d patches (total %d)", name, len(triplets), writer.count)
    rng = np.random.default_rng([args.seed, 1_000_000])
    for clip in args.video or []:
        n = 0
        pairs = video_pairs(Path(clip), rng, args.video_min_frames, args.video_max_frames, args.video_every)
        for sharp, blurry in pairs:
            for t in pair_patches(sharp, blurry, pp):
                writer.add(*t)
                n += 1
        per_source[Path(clip).name] = n
        logger.info("%s: %d patches (total %d)", clip, n, writer.count)
    index = writer.close()
    info["counts"] = {"train_patches": index["count"], "per_source": per_source}
    if val_photos:
        for i, p in enumerate(val_photos):
            rng = np.random.default_rng([args.seed, 2_000_000 + i])
            lr, hr = eval_pair_synthetic(to_float(read_rgb(p)), rng, bp, tuple(args.val_max_size))
            write_eval_pair(out / "val", p.stem, lr, hr)
        info["counts"]["val_images"] = len(val_photos)
    info["seconds"] = round(time.time() - t0, 1)
    _write_info(out, info)
    return info


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="gfn-make-dataset", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="kind", required=True)
    g = sub.add_parser("gopro", help="LR-GOPRO from a GOPRO_Large folder (train/ -> patches, test/ -> PNG folders)")
    g.add_argument("--src", required=True, help="GOPRO_Large folder (train/<seq>/{sharp,blur_gamma}/*.png, test/...)")
    g.add_argument("--blur-dir", default="blur_gamma", help="blurry frames folder name (blur_gamma as the reference)")
    s = sub.add_parser("synthetic", help="camera-shake blur on sharp photos, frame-averaged video")
    s.add_argument("--photos", nargs="*", help="folders or files of sharp photos")
    s.add_argument("--video", nargs="*", help="sharp video clips: blur = mean of consecutive frames (GOPRO's method)")
    s.add_argument("--holdout", help="photos kept out for validation: a count, a fraction, or comma-separated names")
    s.add_argument("--val-max-size", type=int, nargs=2, default=(720, 1280), metavar=("H", "W"),
                   help="validation images are centre crops of at most this size (landscape; swapped for portrait)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--video-min-frames", type=int, default=5)
    s.add_argument("--video-max-frames", type=int, default=11)
    s.add_argument("--video-every", type=int, default=15, help="start a new blurry frame every N source frames at most")
    for f in fields(BlurParams):
        if f.name == "jpeg_quality":
            s.add_argument("--jpeg-quality", type=int, nargs=2, default=BlurParams.jpeg_quality)
        else:
            s.add_argument("--" + f.name.replace("_", "-"), type=float, default=f.default)
    for p in (g, s):
        p.add_argument("--out", required=True, help="output folder")
        p.add_argument("--scales", type=float, nargs="+", default=PatchParams.scales)
        p.add_argument("--hr-size", type=int, default=PatchParams.hr_size)
        p.add_argument("--stride", type=int, default=PatchParams.stride)
        p.add_argument("--min-gradient", type=float, default=PatchParams.min_gradient)
        p.add_argument("--workers", type=int, default=1, help="processes")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    pp = PatchParams(tuple(args.scales), args.hr_size, args.stride, args.min_gradient)
    if args.kind == "gopro":
        info = make_gopro(Path(args.src), Path(args.out), pp, args.workers, args.blur_dir)
    else:
        if not args.photos and not args.video:
            ap.error("synthetic needs --photos and/or --video")
        bp = BlurParams(**{f.name: (tuple(getattr(args, f.name)) if f.name == "jpeg_quality" else getattr(args, f.name))
                           for f in fields(BlurParams)})
        info = make_synthetic(args, pp, bp)
    print(json.dumps({k: v for k, v in info.items() if k not in ("sources", "holdout")}, indent=1, default=str))


if __name__ == "__main__":
    main()
