"""gfn-eval: PSNR/SSIM of GFN and of bicubic on a folder of LR blurry inputs with HR ground truth.

    gfn-eval --data /work/data-gen/synth/val                         # shipped weights, JSON to stdout
    gfn-eval --data data/lr-gopro/test --weights my.safetensors --json results.json --montage montage/

The folder holds LR_Blur/*.png (inputs) and HR/*.png (4x-size truth, same names). Metrics follow the reference
protocol (train/metrics.py): uint8 outputs, 6 px border cropped, RGB PSNR; SSIM is the per-channel Gaussian
variant (MATLAB's volume SSIM, used by the paper, differs a little). "bicubic" is torch's bicubic 4x upscale
(a = -0.75); "bicubic_matlab" is MATLAB imresize 4x (a = -0.5), the reference's test_bicubic.m baseline.
On a CPU with bf16 the model runs in bf16 autocast + channels_last; large inputs are processed in tiles.
`--backend` picks the runtime of the forward pass as gfn-stream's does (torch by default, openvino, tensorrt,
auto): the numbers are those of the workers' Enhancer with that backend.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..models.backends import BACKENDS
from ..models.enhancer import Enhancer
from ..models.precision import PRECISIONS
from ..models.weights import DEFAULT_WEIGHTS
from .dataset import list_pairs, read_rgb, write_rgb
from .imresize import imresize, to_uint8
from .metrics import psnr, ssim
from .suite import build_suite, load_suite, score, table


def to_tensor(img: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float().div(255.0).to(device)


def to_image(t: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float -> uint8 (H, W, 3), clamped and rounded."""
    return (t[0].float().clamp(0, 1).mul(255.0).round().byte().permute(1, 2, 0).cpu().numpy())


def bicubic_up(lr: np.ndarray) -> np.ndarray:
    """torch bicubic x4 (a = -0.75, align_corners False), the baseline gfn-eval reports."""
    y = F.interpolate(to_tensor(lr, torch.device("cpu")), scale_factor=4, mode="bicubic", align_corners=False)
    return to_image(y)



def label(img: np.ndarray, text: str) -> np.ndarray:
    import cv2

    out = np.ascontiguousarray(img.copy())
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def montage(
    lr: np.ndarray, bicubic: np.ndarray, gfn: np.ndarray, hr: np.ndarray, max_width: int = 0, max_height: int = 0
) -> np.ndarray:
    """input (nearest 4x) | bicubic | GFN | ground truth, side by side, labelled; panels cropped to the centre
    max_width x max_height (0 = the whole width / height)."""
    lr_big = np.repeat(np.repeat(lr, 4, axis=0), 4, axis=1)
    h, w = hr.shape[:2]
    ch, cw = min(h, max_height or h), min(w, max_width or w)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    panels = [lr_big, bicubic, gfn, hr]
    titles = ["input", "bicubic", "GFN", "ground truth"]
    return np.concatenate([label(p[y0 : y0 + ch, x0 : x0 + cw], t) for p, t in zip(panels, titles)], axis=1)


def make_enhancer(weights: str | Path | None, precision: str = "auto", tile: int | None = None,
                  backend: str = "torch", cache_dir: str | None = None) -> Enhancer:
    """The workers' inference path (models/enhancer.py) with gfn-stream's settings of the same names."""
    return Enhancer(str(weights) if weights else None, precision=precision, tile=tile, backend=backend,
                    cache_dir=cache_dir)


def evaluate(
    data: str | Path,
    weights: str | Path | None = None,
    precision: str = "auto",
    tile: int | None = None,
    montage_dir: str | Path | None = None,
    montage_width: int = 0,
    limit: int = 0,
    threads: int = 0,
    montage_height: int = 0,
    backend: str = "torch",
    cache_dir: str | None = None,
) -> dict:
    if threads > 0:
        torch.set_num_threads(threads)
    enhancer = make_enhancer(weights, precision, tile, backend, cache_dir)
    pairs = list_pairs(data)
    if limit > 0:
        pairs = pairs[:limit]
    rows = []
    t_model = 0.0
    for lr_path, hr_path in pairs:
        lr, hr = read_rgb(lr_path), read_rgb(hr_path)
        if hr.shape[:2] != (4 * lr.shape[0], 4 * lr.shape[1]):
            raise ValueError(f"{hr_path}: {hr.shape[:2]} is not 4x {lr_path} {lr.shape[:2]}")
        t0 = time.perf_counter()
        out = enhancer.enhance(lr)
        t_model += time.perf_counter() - t0
        bic = bicubic_up(lr)
        bic_m = to_uint8(imresize(lr, 4.0))
        row = {"image": lr_path.name, "lr_size": [lr.shape[1], lr.shape[0]]}
        for name, img in (("gfn", out), ("bicubic", bic), ("bicubic_matlab", bic_m)):
            row[name] = {"psnr": psnr(img, hr), "ssim": ssim(img, hr)}
        rows.append(row)
        if montage_dir:
            panels = montage(lr, bic, out, hr, montage_width, montage_height)
            write_rgb(Path(montage_dir) / f"{lr_path.stem}_montage.png", panels)
    mean = {
        name: {m: float(np.mean([r[name][m] for r in rows])) for m in ("psnr", "ssim")}
        for name in ("gfn", "bicubic", "bicubic_matlab")
    }
    return {
        "data": str(data),
        "weights": str(weights or DEFAULT_WEIGHTS),
        "images": len(rows),
        "precision": enhancer.precision,
        "backend": enhancer.backend,
        "mean": mean,
        "gain_over_bicubic_db": mean["gfn"]["psnr"] - mean["bicubic"]["psnr"],
        "model_seconds_per_image": t_model / max(len(rows), 1),
        "protocol": "uint8 outputs, 6 px border crop, RGB PSNR; SSIM = mean of per-channel Gaussian SSIM (sigma 1.5)",
        "per_image": rows,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="gfn-eval", description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--data", help="folder with LR_Blur/ and HR/ PNGs")
    mode.add_argument("--suite", help="score on a quality suite folder (made by --build-suite): every condition "
                                      "against bicubic and a classical sharpen")
    mode.add_argument("--build-suite", metavar="DIR", help="build a quality suite in DIR from held-out material")
    ap.add_argument("--weights", help="weights file (default: the shipped weights)")
    ap.add_argument("--precision", default="auto", choices=PRECISIONS,
                    help="auto (default: the fastest float precision for the device), fp32, bf16, fp16 (CUDA), "
                         "int8 (with --backend openvino: NNCF post-training INT8)")
    ap.add_argument("--backend", default="torch", choices=BACKENDS,
                    help="runtime of the model, as gfn-stream: torch (default), openvino (CPU), tensorrt (CUDA), auto")
    ap.add_argument("--cache-dir", help="compiled-model cache of the openvino/tensorrt backends "
                                        "(default: $GFN_CACHE_DIR, else ~/.cache/gfn-stream)")
    ap.add_argument("--tile", type=int, default=None,
                    help="LR tile side (default: derived from free memory, as gfn-stream; 0 = never tile)")
    ap.add_argument("--json", help="write the results here (default: stdout only)")
    ap.add_argument("--montage", help="folder for input | bicubic | GFN | truth PNG montages")
    ap.add_argument("--montage-width", type=int, default=0, help="crop each montage panel to this width (0 = full)")
    ap.add_argument("--montage-height", type=int, default=0, help="crop each montage panel to this height (0 = full)")
    ap.add_argument("--limit", type=int, default=0, help="evaluate only the first N images (of each condition)")
    ap.add_argument("--threads", type=int, default=0)
    b = ap.add_argument_group("--build-suite")
    b.add_argument("--photos", nargs="*", default=[], help="folders/files of sharp photos")
    b.add_argument("--holdout", default="", help="comma-separated names or stems of the photos to use (held out "
                                                  "of training); default: all of --photos")
    b.add_argument("--blur-clip", help="clip for the real frame-averaged blur condition (held out of training)")
    b.add_argument("--h264-clip", help="clip for the 4x-downscaled H.264 crf 23 condition (held out of training)")
    b.add_argument("--frames", type=int, default=24, help="consecutive frames of each video condition")
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.build_suite:
        holdout = [h.strip() for h in args.holdout.split(",") if h.strip()]
        try:
            result = build_suite(args.build_suite, args.photos, holdout, args.blur_clip, args.h264_clip,
                                 video_frames=args.frames)
        except (OSError, ValueError) as exc:
            ap.exit(2, f"gfn-eval: error: {exc}\n")
        print(json.dumps(result, indent=1))
        return
    if args.suite:
        try:
            suite = load_suite(args.suite, limit=args.limit)
            enhancer = make_enhancer(args.weights, args.precision, args.tile, args.backend, args.cache_dir)
        except (OSError, ValueError, RuntimeError) as exc:
            ap.exit(2, f"gfn-eval: error: {exc}\n")
        result = {"suite": args.suite, "weights": str(args.weights or DEFAULT_WEIGHTS),
                  "precision": enhancer.precision, "backend": enhancer.backend, "threads": torch.get_num_threads(),
                  "machine": platform.processor() or platform.machine(),
                  "date": time.strftime("%Y-%m-%d"), **score(suite, enhancer, per_item=True)}
        print(table(result))
    else:
        try:
            result = evaluate(args.data, args.weights, args.precision, args.tile, montage_dir=args.montage,
                              montage_width=args.montage_width, montage_height=args.montage_height,
                              limit=args.limit, backend=args.backend, cache_dir=args.cache_dir)
        except (OSError, ValueError, RuntimeError) as exc:  # e.g. a backend this machine lacks: one line
            ap.exit(2, f"gfn-eval: error: {exc}\n")
    text = json.dumps(result, indent=1)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text)
    if not args.suite:
        print(json.dumps({k: v for k, v in result.items() if k != "per_image"}, indent=1))


if __name__ == "__main__":
    main()
