"""Enhancer fps per backend on this CPU, interleaved so every backend sees the same machine load (JSON out).

    python benchmarks/backends.py --size 320x180 --batch 4 --rounds 5 --out benchmarks/results/backends.json
    python benchmarks/backends.py --paper --batch 1 --rounds 3        # the paper-size network (random init)
    python benchmarks/backends.py --backends torch:bf16,openvino:bf16,openvino:int8   # + --precision int8

Each round runs one batch through every backend in turn (torch bf16 autocast + channels_last, OpenVINO bf16, by
default); the figure is the median over rounds of frames / second, after one warm-up batch each (which also
compiles OpenVINO's model). The 1-minute load average before and after is recorded: on a shared machine the
absolute numbers move with it, the ratio much less. `max_levels_vs_torch_fp32` is the largest output difference
in 8-bit levels from torch fp32 on the same frames. `openvino:int8` is `--precision int8` (NNCF post-training
INT8, models/backend_int8.py; needs nncf, quantized on first use into the cache folder); `openvino:int8:SETTING`
one of benchmarks/int8.py's other quantization settings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

import numpy as np
import torch

from gfn_stream.models.enhancer import Enhancer
from gfn_stream.models.gfn import GFN, GFNConfig
from gfn_stream.models.weights import load_model


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _onnx_error(net, cache: str, shape: tuple[int, ...]) -> float | str:
    """Max |ONNX Runtime fp32 - torch fp32| of the export the OpenVINO backend compiled (bf16 rounding: 4e-3)."""
    try:
        from gfn_stream.models.backend_cache import cache_root, weights_digest
        from gfn_stream.models.backends import cached_onnx
        from gfn_stream.models.onnx_export import onnx_reference_error

        digest = weights_digest(net)
        return float(f"{onnx_reference_error(net, cached_onnx(net, digest, cache_root(cache)), (shape,)):.3g}")
    except ImportError as exc:
        return f"not measured ({exc})"


def make_enhancer(net, backend: str, precision: str, cache: str, tile: int | None = 0, setting: str = ""):
    """The workers' Enhancer for one BACKEND:PRECISION[:SETTING] plan; a setting: benchmarks/int8.py's model."""
    if setting:
        from int8 import int8_enhancer  # the sibling script (its folder is on sys.path when run as a script)

        return int8_enhancer(net, cache, setting, tile=tile)[0]
    return Enhancer(net=net, device="cpu", precision=precision, backend=backend, cache_dir=cache, tile=tile)


def interleaved(enhancers: dict[str, Enhancer], frames: list[np.ndarray], rounds: int, net=None) -> dict:
    """Per enhancer: one warm-up batch (OpenVINO compiles the size there), then one batch each per round in turn;
    the median fps and (given the network) the largest difference in 8-bit levels from torch fp32 on the first
    frame."""
    warm = {}
    for name, enh in enhancers.items():
        t0 = time.perf_counter()
        enh.enhance_batch(frames)
        warm[name] = round(time.perf_counter() - t0, 2)
    times: dict[str, list[float]] = {k: [] for k in enhancers}
    outputs = {}
    for _ in range(rounds):
        for name, enh in enhancers.items():
            t0 = time.perf_counter()
            outputs[name] = enh.enhance_batch(frames)
            times[name].append(time.perf_counter() - t0)
    ref = None
    if net is not None:
        ref = Enhancer(net=net, device="cpu", precision="fp32", tile=0).enhance_batch(frames[:1])[0].astype(int)
    results = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        results[name] = {
            "fps": round(len(frames) / med, 3),
            "median_batch_s": round(med, 3),
            "batch_s": [round(t, 3) for t in ts],
            "warmup_s": warm[name],
        }
        if ref is not None:
            results[name]["max_levels_vs_torch_fp32"] = int(np.abs(outputs[name][0].astype(int) - ref).max())
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="320x180", help="LR input WxH")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--weights", default=None, help="weights file (default: the shipped weights)")
    ap.add_argument("--paper", action="store_true", help="the paper-size network, random init, instead")
    ap.add_argument("--backends", default="torch:bf16,openvino:bf16", help="BACKEND:PRECISION list")
    ap.add_argument("--cache-dir", default=None, help="compiled-model cache (default: a temporary folder)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for every backend (default: torch's)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # the Enhancer hands the same count to OpenVINO
    w, h = map(int, args.size.split("x"))
    torch.manual_seed(0)
    net = GFN(GFNConfig()).eval() if args.paper else load_model(args.weights)
    if args.paper:
        with torch.no_grad():  # the raw He init saturates every output (activations ~1e6); speed is the same
            for p in net.parameters():
                p.mul_(0.3)
    cache = args.cache_dir or tempfile.mkdtemp(prefix="gfn-bench-cache-")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(args.batch)]
    plans = [tuple(p.split(":")) for p in args.backends.split(",")]
    load_before = os.getloadavg()[0]
    enhancers, setup_s = {}, {}
    for plan in plans:
        t0 = time.perf_counter()
        enhancers[":".join(plan)] = make_enhancer(net, *plan[:2], cache, 0, *plan[2:])
        setup_s[":".join(plan)] = round(time.perf_counter() - t0, 2)  # + the warm-up batch in warmup_s
    results = interleaved(enhancers, frames, args.rounds, net)
    for name, r in results.items():
        r["setup_s"] = setup_s[name]
    names = list(results)
    onnx_err = _onnx_error(net, cache, (1, 3, h, w))
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": _cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "network": "paper-size GFN (random init)" if args.paper else (args.weights or "shipped weights"),
        "input": f"{w}x{h}",
        "batch": args.batch,
        "rounds": args.rounds,
        "load_avg_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "results": results,
        "onnx_max_abs_err_vs_torch_fp32": onnx_err,
    }
    if len(names) >= 2:
        report[f"ratio_{names[1]}_over_{names[0]}"] = round(results[names[1]]["fps"] / results[names[0]]["fps"], 3)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
