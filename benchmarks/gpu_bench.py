"""The GPU benchmark behind benchmarks/gpu.sh: model fps per runtime, then gfn-stream end to end (JSON out).

    python benchmarks/gpu_bench.py --out benchmarks/results/gpu.json            # on a CUDA machine
    python benchmarks/gpu_bench.py --device cpu --quick --out /tmp/gpu.json      # the CPU-runnable parts, fast

Parts, in this order, each in its own try/except (an error is recorded in the JSON and the next part runs):
1. model: fp16 forward fps for the shipped and the paper-size network at 320x180 and 640x360, batch 1/4/8,
   torch eager (channels_last) and CUDA graphs (one captured forward replayed);
2. e2e: gfn-stream on a 300-frame 320x180 clip, --model gfn and --model bicubic, libx264 on the host CPU;
3. tensorrt: the same model grid through models/backend_tensorrt.py (fp16 engines, built here), with what is left
   of the time budget: each engine is a build of tens of seconds, so the grid is cut short rather than the run.
The JSON is rewritten after every measurement, so a run stopped from outside still leaves what it measured.
--device cpu runs eager in fp32 and skips what needs CUDA (recorded as such).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

NETS = ("shipped", "paper")
SIZES = ((320, 180), (640, 360))
BATCHES = (1, 4, 8)


class Report:
    def __init__(self, path: str | None):
        self.path = path
        self.data: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "errors": {}}

    def save(self) -> None:
        if self.path:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            tmp = f"{self.path}.tmp"
            with open(tmp, "w") as f:
                json.dump(self.data, f, indent=2)
                f.write("\n")
            os.replace(tmp, self.path)

    def error(self, where: str, exc: BaseException) -> None:
        self.data["errors"][where] = f"{type(exc).__name__}: {exc}"[:2000]
        print(f"[gpu_bench] {where}: {type(exc).__name__}: {exc}", file=sys.stderr)
        traceback.print_exc(limit=3)
        self.save()


def machine_info(device: torch.device) -> dict:
    info = {"python": sys.version.split()[0], "torch": torch.__version__, "cpu_cores": os.cpu_count(),
            "platform": platform.platform(), "device": str(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    capability=f"{props.major}.{props.minor}", cuda=torch.version.cuda)
    smi = shutil.which("nvidia-smi")
    if smi:
        r = subprocess.run([smi, "--query-gpu=name,driver_version,clocks.max.sm,power.limit", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=30)
        info["nvidia_smi"] = r.stdout.strip() or r.stderr.strip()
    for mod in ("tensorrt", "av", "zmq", "kornia"):
        try:
            info[f"{mod}_version"] = __import__(mod).__version__
        except Exception as exc:  # recorded, not fatal
            info[f"{mod}_version"] = f"missing ({type(exc).__name__})"
    return info


def build_net(name: str, quick: bool):
    from gfn_stream.models.gfn import GFN, GFNConfig
    from gfn_stream.models.weights import load_model

    if name == "shipped":
        return load_model()
    torch.manual_seed(0)
    cfg = GFNConfig(channels=8, deblur_blocks=1, sr_blocks=1, recon_blocks=1) if quick else GFNConfig()
    net = GFN(cfg).eval()
    with torch.no_grad():  # the raw He init overflows fp16 (activations ~1e6); speed is the same either way
        for p in net.parameters():
            p.mul_(0.3)
    return net


def time_fn(fn, device: torch.device, min_s: float, min_iters: int = 3) -> dict:
    """Median seconds per call of fn() after 2 warm-up calls; runs for at least min_s and min_iters calls."""
    for _ in range(2):
        fn()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < min_iters or time.perf_counter() - start < min_s:
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
        if len(times) >= 200:
            break
    times.sort()
    return {"median_s": times[len(times) // 2], "calls": len(times)}


def eager_runner(net, x: torch.Tensor):
    def run():
        with torch.inference_mode():
            return net(x)
    return run


def graph_runner(net, x: torch.Tensor):
    """A CUDA graph of one forward; replay() recomputes into the same output buffer."""
    static_x = x.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.inference_mode():
        for _ in range(3):  # warm-up on a side stream (cudnn picks its algorithms here)
            net(static_x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.inference_mode():
        static_y = net(static_x)

    def run():
        graph.replay()
        return static_y  # held here: the graph writes into its memory on every replay
    return run


def tensorrt_runner(backend, x: torch.Tensor):
    def run():
        with torch.inference_mode():
            return backend(x)
    return run


def grid(quick: bool):
    sizes = ((32, 20), (40, 24)) if quick else SIZES
    batches = (1, 2) if quick else BATCHES
    return [(n, s, b) for n in NETS for s in sizes for b in batches]


def part_model(rep: Report, device: torch.device, quick: bool, min_s: float) -> None:
    from gfn_stream.models.precision import prepare_model

    precision = "fp16" if device.type == "cuda" else "fp32"
    dtype = torch.float16 if precision == "fp16" else torch.float32
    out = rep.data.setdefault("model", {"precision": precision, "layout": "channels_last", "results": []})
    nets = {}
    for name, (w, h), b in grid(quick):
        try:
            if name not in nets:
                nets[name] = prepare_model(build_net(name, quick), device, precision)
            x = torch.rand(b, 3, h, w, device=device).to(dtype).contiguous(memory_format=torch.channels_last)
            row = {"net": name, "size": f"{w}x{h}", "batch": b}
            modes = [("eager", eager_runner)] + ([("cuda_graph", graph_runner)] if device.type == "cuda" else [])
            for mode, make in modes:
                try:
                    t = time_fn(make(nets[name], x), device, min_s)
                    row[mode] = {"fps": round(b / t["median_s"], 2), **t}
                except Exception as exc:
                    rep.error(f"model/{name}/{w}x{h}/b{b}/{mode}", exc)
            if device.type != "cuda":
                row["cuda_graph"] = "skipped: needs CUDA"
            out["results"].append(row)
            rep.save()
        except Exception as exc:
            rep.error(f"model/{name}/{w}x{h}/b{b}", exc)
        if device.type == "cuda":
            torch.cuda.empty_cache()


def part_tensorrt(rep: Report, device: torch.device, quick: bool, min_s: float, deadline: float) -> None:
    out = rep.data.setdefault("tensorrt", {"precision": "fp16 (strongly typed fp16 ONNX, fp32 skip)", "results": []})
    if device.type != "cuda":
        out["skipped"] = "needs CUDA"
        return
    from gfn_stream.models import backend_tensorrt
    from gfn_stream.models.backend_cache import cache_root, weights_digest
    from gfn_stream.models.backends import cached_onnx

    backend_tensorrt.require()
    root = cache_root(os.environ.get("GFN_CACHE_DIR"))
    backends = {}
    # the most telling points first, so a short budget still measures them
    order = sorted(grid(quick), key=lambda r: (r[1] != SIZES[0], r[0] != "shipped", -r[2]))
    for name, (w, h), b in order:
        if time.time() > deadline:
            out["results"].append({"net": name, "size": f"{w}x{h}", "batch": b, "skipped": "time budget"})
            continue
        try:
            if name not in backends:
                net = build_net(name, quick)
                digest = weights_digest(net)
                backends[name] = backend_tensorrt.TensorRTBackend(cached_onnx(net, digest, root, half=True),
                                                                  digest, device, root)
            x = torch.rand(b, 3, h, w, device=device)
            t0 = time.perf_counter()
            backends[name](x)  # builds (or loads) the engine
            build_s = round(time.perf_counter() - t0, 1)
            t = time_fn(tensorrt_runner(backends[name], x), device, min_s)
            out["results"].append({"net": name, "size": f"{w}x{h}", "batch": b, "engine_s": build_s,
                                   "fps": round(b / t["median_s"], 2), **t})
        except Exception as exc:
            rep.error(f"tensorrt/{name}/{w}x{h}/b{b}", exc)
        rep.save()


def make_clip(path: Path, frames: int, width: int, height: int) -> Path:
    """A moving test pattern (gradients, edges, text-like detail) as an H.264 file."""
    import av
    import numpy as np

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    with av.open(str(path), "w") as box:
        st = box.add_stream("libx264", rate=30)
        st.width, st.height, st.pix_fmt = width, height, "yuv420p"
        st.options = {"crf": "18", "preset": "veryfast"}
        for i in range(frames):
            r = (xx * 255 / width + 3 * i) % 256
            g = (yy * 255 / height + 2 * i) % 256
            b = ((xx // 8 + yy // 8 + i) % 2) * 200 + 20
            rgb = np.stack([r, g, b], axis=-1).astype(np.uint8)
            for packet in st.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                box.mux(packet)
        for packet in st.encode():
            box.mux(packet)
    return path


def gfn_stream_help() -> str:
    r = subprocess.run([sys.executable, "-m", "gfn_stream.pipeline.cli", "--help"], capture_output=True, text=True)
    return r.stdout


def part_e2e(rep: Report, device: torch.device, quick: bool, work: Path) -> None:
    frames, (w, h) = (12, (32, 24)) if quick else (300, (320, 180))
    out = rep.data.setdefault("e2e", {"clip": f"{frames} frames {w}x{h} H.264", "encoder": "libx264 veryfast crf 18",
                                      "runs": []})
    clip = make_clip(work / "clip.mp4", frames, w, h)
    runs = [("bicubic", []), ("gfn", [])]
    if device.type == "cuda" and "--backend" in gfn_stream_help():
        runs.append(("gfn", ["--backend", "tensorrt"]))
    for model, extra in runs:
        label = " ".join([model, *extra])
        try:
            report = work / f"report-{len(out['runs'])}.json"
            cmd = [sys.executable, "-m", "gfn_stream.pipeline.cli", str(clip), str(work / f"out-{model}.mp4"), "-y",
                   "-q", "--model", model, "--device", str(device), "--preset", "veryfast", "--report", str(report),
                   *extra]
            t0 = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            wall = time.perf_counter() - t0
            row = {"run": label, "command": " ".join(cmd[2:]), "rc": r.returncode, "wall_s": round(wall, 2),
                   "fps_wall": round(frames / wall, 2)}
            if r.returncode != 0:
                row["stderr"] = r.stderr[-1500:]
            if report.is_file():
                row["report"] = json.loads(report.read_text())
            out["runs"].append(row)
        except Exception as exc:
            rep.error(f"e2e/{label}", exc)
        rep.save()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default="benchmarks/results/gpu.json")
    ap.add_argument("--quick", action="store_true", help="tiny sizes and clip (a smoke test of every part)")
    ap.add_argument("--budget-s", type=float, default=420.0, help="stop starting TensorRT builds after this")
    ap.add_argument("--min-s", type=float, default=1.0, help="seconds of timed calls per measurement")
    ap.add_argument("--parts", default="model,e2e,tensorrt")
    args = ap.parse_args(argv)
    t_start = time.time()
    rep = Report(args.out)
    device = torch.device(args.device)
    try:
        rep.data["machine"] = machine_info(device)
    except Exception as exc:
        rep.error("machine", exc)
    rep.save()
    parts = args.parts.split(",")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if "model" in parts:
        try:
            part_model(rep, device, args.quick, args.min_s)
        except Exception as exc:
            rep.error("model", exc)
    if "e2e" in parts:
        with tempfile.TemporaryDirectory(prefix="gfn-gpu-bench-") as tmp:
            try:
                part_e2e(rep, device, args.quick, Path(tmp))
            except Exception as exc:
                rep.error("e2e", exc)
    if "tensorrt" in parts:
        try:
            part_tensorrt(rep, device, args.quick, args.min_s, t_start + args.budget_s)
        except Exception as exc:
            rep.error("tensorrt", exc)
    rep.data["total_s"] = round(time.time() - t_start, 1)
    rep.save()
    print(json.dumps(rep.data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
