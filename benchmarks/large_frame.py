"""One large frame (default 1920x1080 LR -> 7680x4320) through the Enhancer with automatic tiling: time, tiles and
peak memory (JSON out). Untiled, GFN needs ~14 KB per LR pixel in fp32 (~29 GB at 1080p); tiling keeps it bounded.

    python benchmarks/large_frame.py --size 1920x1080 --out benchmarks/results/large_frame.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from gfn_stream.models.enhancer import Enhancer
from gfn_stream.models.gfn import GFN, GFNConfig
from gfn_stream.models.tiling import auto_tile_side, default_overlap, pixel_budget, tile_plan
from gfn_stream.models.weights import save_weights
from gfn_stream.nodes.node import peak_rss_mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--weights", help="weights file (default: a paper-size GFN with random init, the worst case)")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--out")
    args = ap.parse_args()
    w, h = map(int, args.size.split("x"))
    weights = args.weights
    if weights is None:
        torch.manual_seed(0)
        weights = str(save_weights(GFN(GFNConfig()), Path("/tmp/gfn_full_random.safetensors")))
    enh = Enhancer(weights, precision=args.precision)
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    tile = auto_tile_side(h, w, enh.device, enh.precision)
    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    out = enh.enhance(frame)
    dt = time.perf_counter() - t0
    report = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "input": f"{w}x{h}",
        "output": f"{out.shape[1]}x{out.shape[0]}",
        "precision": enh.precision,
        "pixel_budget_lr_px": pixel_budget(enh.device, enh.precision),
        "tile": tile,
        "overlap": default_overlap(),
        "tiles": len(tile_plan(h, w, tile, default_overlap())) if tile else 1,
        "seconds": round(dt, 2),
        "peak_rss_mb_before": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "weights": args.weights or "paper-size GFN, random init",
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
