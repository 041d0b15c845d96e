"""Forward time and memory of GFN on this machine, per precision (JSON out).

    python benchmarks/model.py --size 320x180 --repeat 3 --out benchmarks/results/model.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from gfn_stream.models.gfn import GFN, GFNConfig
from gfn_stream.models.precision import autocast, cpu_has_bf16, prepare_model
from gfn_stream.models.weights import load_model
from gfn_stream.nodes.node import peak_rss_mb


def bench(model: torch.nn.Module, x: torch.Tensor, device: torch.device, precision: str, repeat: int) -> dict:
    ref = None
    times = []
    with torch.inference_mode():
        for i in range(repeat + 1):
            xi = x.to(device, dtype=torch.float16 if precision == "fp16" else torch.float32)
            if precision != "fp32-nchw":
                xi = xi.contiguous(memory_format=torch.channels_last)
            t0 = time.perf_counter()
            with autocast(device, "bf16" if precision == "bf16" else "fp32"):
                out = model(xi)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:  # first call is warm-up
                times.append(time.perf_counter() - t0)
            ref = out.float().cpu()
    return {"median_s": sorted(times)[len(times) // 2], "min_s": min(times), "output": ref}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="320x180", help="LR input WxH")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--weights", default=None, help="weights file (default: shipped; random init if none shipped)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    w, h = map(int, args.size.split("x"))
    device = torch.device(args.device)
    torch.manual_seed(0)
    try:
        base = load_model(args.weights)
        weights = args.weights or "shipped"
    except ValueError:
        base = GFN(GFNConfig()).eval()
        weights = "random init"
    x = torch.rand(1, 3, h, w)
    results = {}
    ref_out = None
    plans = [("fp32-nchw", "fp32"), ("fp32", "fp32")]
    if device.type == "cpu" and cpu_has_bf16():
        plans.append(("bf16", "bf16"))
    if device.type == "cuda":
        plans += [("bf16", "bf16"), ("fp16", "fp16")]
    for name, prec in plans:
        model = GFN(base.config)
        model.load_state_dict(base.state_dict())
        model = model.eval().to(device)
        if name != "fp32-nchw":
            model = prepare_model(model, device, prec)
        r = bench(model, x, device, name, args.repeat)
        out = r.pop("output").clamp(0, 1)
        if ref_out is None:
            ref_out = out
        diff = (out - ref_out).abs() * 255
        r["max_abs_err_8bit_levels"] = round(diff.max().item(), 3)
        r["mean_abs_err_8bit_levels"] = round(diff.mean().item(), 4)
        r["fps"] = round(1 / r["median_s"], 3)
        results[name] = r
    report = {
        "machine": platform.processor() or platform.machine(),
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "input": f"{w}x{h}",
        "weights": weights,
        "peak_rss_mb": peak_rss_mb(),
        "results": results,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
