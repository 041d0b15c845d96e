"""The quality suite on a weights file, with the speed a user gets from it (JSON out).

    python benchmarks/quality.py --suite /work/runs/suite --out benchmarks/results/quality.json [--weights W]

Builds nothing: make the suite first with `gfn-eval --build-suite` (see models/weights/TRAINING.md for the exact
command over the held-out photos and clips). Scores GFN, bicubic and the best unsharp-mask sharpen per condition
through the Enhancer (the workers' inference module) at the default precision, then times the Enhancer's steady
fps on 320x180 frames in batches of 4 (gfn-stream's default batch).
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
from gfn_stream.train.suite import load_suite, score, table


def fps(enhancer: Enhancer, size: tuple[int, int] = (320, 180), batch: int = 4, repeat: int = 3) -> float:
    w, h = size
    frames = [np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8) for i in range(batch)]
    enhancer.enhance_batch(frames)  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeat):
        enhancer.enhance_batch(frames)
    return batch * repeat / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", required=True)
    ap.add_argument("--weights", help="default: the shipped weights")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--out", help="JSON file (default: stdout only)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    enhancer = Enhancer(args.weights)
    result = {"weights": args.weights or "shipped", "precision": enhancer.precision,
              "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
              "date": time.strftime("%Y-%m-%d"), **score(load_suite(args.suite), enhancer)}
    result["fps_320x180"] = fps(enhancer)
    print(table(result))
    print(f"fps at 320x180 ({result['precision']}, {result['threads']} threads): {result['fps_320x180']:.2f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
