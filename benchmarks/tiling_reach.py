"""How far GFN's output feels its input (LR px), what tiling costs, and GFN's memory per LR pixel (JSON out).

    python benchmarks/tiling_reach.py --size 256 --out benchmarks/results/tiling_reach.json
    python benchmarks/tiling_reach.py --weights gfn.safetensors --memory      # trained weights; + memory

Reach, on one random S x S input (uniform noise, the hardest case for locality), full-size network:
- point: flip one centre pixel (|delta| >= 0.5 in each channel) and take the farthest output pixel (Chebyshev, in LR
  px) that moved by >= 1/255;
- edge: run the network on the left/right half only (cut on the 4-px grid) and take the deepest output pixel,
  counted from the cut, that differs from the whole-frame output by >= 1/255. A tile window edge is such a cut,
  so the tile overlap must be at least this.
Both are reported for the raw output and for the output rescaled to a trained-like spread (std 0.25; the
threshold scales inversely). Then enhance_tiled with the proposed overlap is checked against the whole frame.

Inits: `reference` is GFN.reset_parameters (the authors' He init). Without normalisation or residual scaling its
activations explode (output std ~1e5-1e6), which no trained GFN does, and every output pixel feels every input
pixel. `tamed` is the same init with the second conv of every residual block scaled by 0.1 (what trainers use
to start deep residual nets), so activations stay O(1) as in a trained net. `--weights` measures real weights.
Memory (--memory, CPU): peak resident memory of fresh processes at two input sizes; the slope is bytes per LR pixel.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time

import torch

from gfn_stream.models.gfn import GFN, GFNConfig
from gfn_stream.models.precision import autocast
from gfn_stream.models.tiling import PAD_MULTIPLE, enhance_tiled
from gfn_stream.models.weights import load_model

TRAINED_STD = 0.25  # spread of a natural image in [0, 1]


def _forward(model, x, precision):
    with torch.inference_mode(), autocast(x.device, precision):
        return model(x).float()


def _deepest(diff_cols: torch.Tensor, thresholds: dict[str, float], from_end: bool) -> dict[str, int]:
    """diff_cols: (4W,) max |diff| per HR column; depth of the farthest column over threshold from the cut, LR px."""
    out = {}
    for name, thr in thresholds.items():
        cols = torch.nonzero(diff_cols >= thr).flatten()
        if cols.numel() == 0:
            out[name] = 0
            continue
        lr = cols // 4
        n_lr = diff_cols.numel() // 4
        depth = (n_lr - 1 - lr) if from_end else lr
        out[name] = int(depth.max()) + 1  # pixels within `depth` of the cut, counting the one at the cut
    return out


def tamed(model: GFN, factor: float = 0.1) -> GFN:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".conv2." in name and name.split(".")[1] in ("scale1", "scale2", "scale3", "blocks"):
                p.mul_(factor)
    return model


def measure_reach(model: GFN, size: int, precision: str, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, size, size, generator=g)
    t0 = time.perf_counter()
    y0 = _forward(model, x, precision)
    forward_s = time.perf_counter() - t0
    std = float(y0.std())
    thresholds = {"raw": 1 / 255, "trained_like": (1 / 255) * std / TRAINED_STD}

    c = size // 2
    x1 = x.clone()
    x1[..., c, c] = torch.where(x1[..., c, c] < 0.5, 1.0, 0.0)
    d = (_forward(model, x1, precision) - y0).abs().amax(1)[0]  # (4S, 4S)
    ly = torch.arange(4 * size) // 4
    dist = torch.maximum((ly[:, None] - c).abs(), (ly[None, :] - c).abs())
    point = {k: int(dist[d >= thr].max()) if (d >= thr).any() else 0 for k, thr in thresholds.items()}

    k = size // 2 // PAD_MULTIPLE * PAD_MULTIPLE
    left = (_forward(model, x[..., :k], precision) - y0[..., : 4 * k]).abs().amax((0, 1, 2))
    right = (_forward(model, x[..., k:], precision) - y0[..., 4 * k :]).abs().amax((0, 1, 2))
    edge_l = _deepest(left, thresholds, from_end=True)
    edge_r = _deepest(right, thresholds, from_end=False)
    edge = {name: max(edge_l[name], edge_r[name]) for name in thresholds}
    return {
        "input": f"{size}x{size}",
        "precision": precision,
        "forward_s": round(forward_s, 2),
        "output_mean": round(float(y0.mean()), 4),
        "output_std": round(std, 4),
        "thresholds": {k: round(v, 6) for k, v in thresholds.items()},
        "point_reach_lr_px": point,
        "edge_reach_lr_px": edge,
        "edge_reach_by_side": {"cut_on_right": edge_l, "cut_on_left": edge_r},
        "_x": x,
        "_y0": y0,
    }


def check_tiling(model, x, y0, tile, overlap, precision, std) -> dict:
    y = enhance_tiled(lambda t: _forward(model, t, precision), x, tile=tile, overlap=overlap)
    diff = (y - y0).abs()
    q = ((y.clamp(0, 1) * 255).round() - (y0.clamp(0, 1) * 255).round()).abs()
    return {
        "tile": tile,
        "overlap": overlap,
        "max_abs_diff_raw_in_levels": round(float(diff.max()) * 255, 4),
        "max_abs_diff_trained_like_in_levels": round(float(diff.max()) * 255 * TRAINED_STD / std, 4),
        "max_8bit_level_diff_after_clamp": int(q.max()),
    }


def overhead(tile: int, overlap: int) -> float:
    """Extra pixels an interior tile's window costs over its core (windows start/end on the 4-px grid)."""
    side = tile + 2 * math.ceil(overlap / PAD_MULTIPLE) * PAD_MULTIPLE
    return side * side / (tile * tile) - 1


_MEM_CHILD = """
import torch
from gfn_stream.models.gfn import GFN, GFNConfig
from gfn_stream.models.precision import autocast
torch.set_num_threads({threads})
m = GFN(GFNConfig()).eval()
x = torch.rand(1, 3, {size}, {size})
with torch.inference_mode(), autocast(torch.device("cpu"), "{precision}"):
    y = m(x).float()
print([int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:")][0])
"""


def measure_memory(precision: str, sizes=(128, 320), threads: int = 2) -> dict:
    """Peak resident memory (VmHWM: ru_maxrss would report the parent's peak) of fresh processes; slope per px."""
    peaks = {}
    for s in sizes:
        code = _MEM_CHILD.format(size=s, precision=precision, threads=threads)
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        peaks[s] = int(run.stdout.split()[-1])
    a, b = sizes
    per_px = (peaks[b] - peaks[a]) / (b * b - a * a)
    return {"peak_bytes": {f"{s}x{s}": v for s, v in peaks.items()}, "bytes_per_lr_pixel": round(per_px)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256, help="LR input side")
    ap.add_argument("--weights", default=None, help="weights file (default: a random init, see --init)")
    ap.add_argument("--init", default="tamed", choices=("tamed", "reference"), help="random init without --weights")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--tile", type=int, default=64, help="tile side for the tiled-vs-whole check")
    ap.add_argument("--overlap", type=int, default=None, help="overlap to check (default: edge reach, 4-px grid)")
    ap.add_argument("--memory", action="store_true", help="also measure CPU bytes per LR pixel (fp32, bf16)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = load_model(args.weights) if args.weights else GFN(GFNConfig()).eval()
    if not args.weights and args.init == "tamed":
        tamed(model)
    reach = measure_reach(model, args.size, args.precision, args.seed)
    x, y0 = reach.pop("_x"), reach.pop("_y0")
    edge = max(reach["edge_reach_lr_px"].values())
    overlap = args.overlap if args.overlap is not None else math.ceil(edge / PAD_MULTIPLE) * PAD_MULTIPLE
    report = {
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "weights": args.weights or f"random {args.init} init",
        "config": model.config.to_dict(),
        "reach": reach,
        "tiled_vs_whole": check_tiling(model, x, y0, args.tile, overlap, args.precision, reach["output_std"]),
        "overhead_interior_tile": {
            f"tile{t}_overlap{o}": round(overhead(t, o), 3) for t in (128, 256, 512) for o in sorted({overlap, 16, 32})
        },
    }
    if args.memory:
        report["memory_cpu"] = {p: measure_memory(p, threads=args.threads) for p in ("fp32", "bf16")}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
