"""INT8 post-training quantization (NNCF) of the OpenVINO backend: suite quality and speed against bf16 (JSON out).

    pip install nncf      # or: pip install -e .[int8]
    nice -n 19 python benchmarks/int8.py --suite /work/runs/suite2 --threads 2 --out benchmarks/results/int8.json
    python benchmarks/int8.py --suite /work/runs/suite2 --settings plain_skip,plain_tail --calib-seed 1
    python benchmarks/backends.py --backends torch:bf16,openvino:bf16,openvino:int8   # the speed alone

The network is the project's ONNX export of the weights (the file `--backend openvino` compiles), read by
OpenVINO and quantized by `nncf.quantize` (models/backend_int8.py `quantize`) under each setting of SETTINGS:
the NNCF preset (performance: symmetric INT8 activations; mixed: asymmetric) and the op groups kept in floating
point, found from the graph's structure (`op_groups`): `ends` = the two 7x7 heads on the RGB input and the conv
that makes RGB, `gate` = the gate's two convs, `tail` = everything after the last conv (luma weighting and sum,
the bicubic skip's Interpolate, the final Add), `skip` = only the skip's Interpolate and the final Add. What is
not quantized runs at the bf16 hint, as the bf16 backend does. `plain_skip` is what `--precision int8` ships.

Calibration (`--calib` LR patches of 48x48 px, seeded) uses only material the project ships, never the suite:
`demo` (the shipped recipe) crops demo/demo.mp4's frames as they are and 2x downscaled; `degraded` replaces the
second half with patches made from the same frames by train/degrade.py's training degradations (blur, 4x
downscale, noise, H.264/JPEG).

Quality: each setting and OpenVINO bf16 run through the workers' Enhancer (models/enhancer.py: batching,
padding, tiling, uint8 rounding) and are scored by the quality suite (train/suite.py `score`, as `gfn-eval
--suite`); `delta_db_vs_openvino_bf16` is INT8 minus bf16 per condition, `passes` is |delta| < 0.1 dB on every
one, and `levels_vs_openvino_bf16_on_the_suite` how far the output pixels moved. Speed: random frames of
`--size`, one batch per enhancer per round, interleaved (benchmarks/backends.py `interleaved`), median fps; the
load average before and after is recorded (the ratio moves less with it than the absolute numbers). Quantized
models stay in the cache folder (<cache>/int8-bench/), so a rerun with `--cache-dir` skips NNCF.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gfn_stream.models.backend_cache import cache_root, weights_digest
from gfn_stream.models.backend_int8 import calibration_inputs, demo_frames, quantize
from gfn_stream.models.backend_openvino import OpenVINOBackend
from gfn_stream.models.backends import cached_onnx
from gfn_stream.models.enhancer import Enhancer
from gfn_stream.models.weights import load_model
from gfn_stream.train.degrade import DegradeParams, video_sample
from gfn_stream.train.suite import CONDITIONS, load_suite, score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backends import _cpu_name, interleaved  # noqa: E402  (the sibling benchmark script)

logger = logging.getLogger(__name__)

PASS_DB = 0.1  # the bar: INT8 only if every suite condition moves by less than this
SETTINGS = {  # name: (NNCF preset, op groups kept in floating point: models/backend_int8.py op_groups)
    "plain": ("performance", ()),
    "mixed": ("mixed", ()),
    "mixed_ends": ("mixed", ("ends",)),
    "mixed_ends_gate": ("mixed", ("ends", "gate")),
    "plain_tail": ("performance", ("tail",)),
    "mixed_tail": ("mixed", ("tail",)),
    "mixed_ends_tail": ("mixed", ("ends", "tail")),
    "plain_skip": ("performance", ("skip",)),  # the shipped recipe (--precision int8)
}
CALIBRATIONS = ("demo", "degraded")
SHIPPED = ("plain_skip", 300, 0, "demo")  # setting, patches, seed, calibration of --precision int8 (RECIPE)


def degraded_inputs(count: int, side: int = 48, seed: int = 0) -> list[np.ndarray]:
    """The alternative calibration set: half demo/demo.mp4 crops as they are, half made from its frames by the
    training degradations (train/degrade.py: blur, 4x downscale, noise, H.264/JPEG)."""
    frames = np.stack(demo_frames())
    rng = np.random.default_rng(seed)
    out = calibration_inputs(count - count // 2, side, seed, list(frames))
    for _ in range(count // 2):
        lr = video_sample(frames, 4 * side, DegradeParams(), rng)[0]
        out.append(np.ascontiguousarray(lr.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0)
    return out


def int8_model(net: torch.nn.Module, root: Path, setting: str, calib_count: int, seed: int = 0,
               calibration: str = "demo") -> tuple[Path, dict]:
    """The quantized IR of `net` under `setting` in <root>/int8-bench/, quantized on first use."""
    import nncf

    digest = weights_digest(net)
    tag = f"{setting}-{calibration}{calib_count}s{seed}-nncf{nncf.__version__}"
    xml = root / "int8-bench" / f"{digest}-{tag}.xml"
    if xml.is_file() and xml.with_suffix(".json").is_file():
        return xml, json.loads(xml.with_suffix(".json").read_text())
    logger.info("quantizing (%s)", tag)
    make = calibration_inputs if calibration == "demo" else degraded_inputs
    preset, keep = SETTINGS[setting]
    info = quantize(cached_onnx(net, digest, root), xml, preset=preset, keep_float=keep,
                    calib=make(calib_count, seed=seed))
    return xml, {**info, "calibration": calibration, "calibration_seed": seed}


def int8_enhancer(net: torch.nn.Module, cache_dir: str | None, setting: str = "plain_skip", calib_count: int = 300,
                  tile: int | None = None, seed: int = 0, calibration: str = "demo") -> tuple[Enhancer, dict]:
    """The shipped recipe: the workers' Enhancer with `--precision int8 --backend openvino` itself. Any other: that
    Enhancer with `--backend openvino`, its forward pass swapped for this setting's INT8 model (compiled as
    `--precision int8` compiles it, under its own blob-cache key)."""
    root = cache_root(cache_dir)
    if (setting, calib_count, seed, calibration) == SHIPPED:
        enh = Enhancer(net=net, device="cpu", precision="int8", backend="openvino", cache_dir=str(root), tile=tile)
        info = json.loads(enh._runner.model_path.with_suffix(".json").read_text())
        return enh, {**info, "calibration": calibration, "calibration_seed": seed, "product_path": True}
    xml, info = int8_model(net, root, setting, calib_count, seed, calibration)
    enh = Enhancer(net=net, device="cpu", precision="bf16", backend="openvino", cache_dir=str(root), tile=tile)
    # the INT8 IR read as the export is; the bf16 hint for what stays in float, as --precision int8 on this CPU
    enh._runner = OpenVINOBackend(xml, xml.stem, "bf16", root, threads=torch.get_num_threads())
    return enh, {**info, "product_path": False}


class _Recorder:
    """An Enhancer that keeps what it returned (so the suite is run once per enhancer)."""

    def __init__(self, enhancer: Enhancer):
        self.enhancer, self.outputs = enhancer, []

    def enhance_batch(self, frames):
        out = self.enhancer.enhance_batch(frames)
        self.outputs.extend(out)
        return out


def _quality(suite: dict, enhancers: dict[str, Enhancer]) -> tuple[dict, dict]:
    """Per enhancer and condition: GFN dB, SSIM, flicker and bicubic dB; and per INT8 enhancer the 8-bit level
    differences of its output pixels from the first enhancer's (OpenVINO bf16)."""
    rows, outputs = {}, {}
    for name, enh in enhancers.items():
        rec = _Recorder(enh)
        r = score(suite, rec, sharpen=False)
        outputs[name] = rec.outputs
        rows[name] = {c: {"gfn_db": round(r[c]["gfn"]["psnr"], 4), "bicubic_db": round(r[c]["bicubic"]["psnr"], 4),
                          "gfn_ssim": round(r[c]["gfn"]["ssim"], 5),
                          **({"flicker_vs_bicubic": round(r[c]["flicker_vs_bicubic"], 4)}
                             if "flicker_vs_bicubic" in r[c] else {})}
                      for c in CONDITIONS if c in r}
        logger.info("%s: %s", name, {c: v["gfn_db"] for c, v in rows[name].items()})
    first, *rest = outputs
    levels = {}
    for name in rest:
        d = np.concatenate([np.abs(a.astype(np.int16) - b.astype(np.int16)).ravel()
                            for a, b in zip(outputs[name], outputs[first])])
        levels[name] = {"mean": round(float(d.mean()), 4), "p99_9": int(np.percentile(d, 99.9)), "max": int(d.max()),
                        "share_changed": round(float((d > 0).mean()), 4)}
    return rows, levels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", required=True, help="a quality suite folder (gfn-eval --build-suite)")
    ap.add_argument("--weights", default=None, help="weights file (default: the shipped weights)")
    ap.add_argument("--settings", default=",".join(SETTINGS), help=f"comma list of {', '.join(SETTINGS)}")
    ap.add_argument("--calib", type=int, default=300, help="calibration patches")
    ap.add_argument("--calib-seed", type=int, default=0, help="seed of the calibration patches")
    ap.add_argument("--calibration", default="demo", choices=CALIBRATIONS,
                    help="demo: the shipped recipe's patches; degraded: half through the training degradations")
    ap.add_argument("--size", default="320x180", help="LR WxH of the speed measurement")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for every backend (default: torch's)")
    ap.add_argument("--cache-dir", default=None, help="compiled/quantized-model cache (default: a temporary folder)")
    ap.add_argument("--out", default="benchmarks/results/int8.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)  # the Enhancer hands the same count to OpenVINO
    settings = [s for s in args.settings.split(",") if s]
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        ap.error(f"unknown settings {', '.join(sorted(unknown))}")
    cache = args.cache_dir or tempfile.mkdtemp(prefix="gfn-int8-cache-")
    net = load_model(args.weights)
    load_before = os.getloadavg()[0]
    bf16 = Enhancer(net=net, device="cpu", precision="bf16", backend="openvino", cache_dir=cache)
    quantized, infos = {}, {}
    for s in settings:
        quantized[f"int8:{s}"], infos[s] = int8_enhancer(net, cache, s, args.calib, seed=args.calib_seed,
                                                           calibration=args.calibration)
    suite = load_suite(args.suite)
    quality, levels = _quality(suite, {"openvino:bf16": bf16, **quantized})
    ref = quality["openvino:bf16"]
    deltas = {name: {c: round(q[c]["gfn_db"] - ref[c]["gfn_db"], 4) for c in q} for name, q in quality.items()
              if name != "openvino:bf16"}
    w, h = map(int, args.size.split("x"))
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(args.batch)]
    timed = {"torch:bf16": Enhancer(net=net, device="cpu", precision="bf16", tile=0)}
    timed["openvino:bf16"] = Enhancer(net=net, device="cpu", precision="bf16", backend="openvino", cache_dir=cache,
                                      tile=0)
    for s in settings:
        timed[f"int8:{s}"] = int8_enhancer(net, cache, s, args.calib, tile=0, seed=args.calib_seed,
                                               calibration=args.calibration)[0]
    speed = interleaved(timed, frames, args.rounds, net)
    ov_fps = speed["openvino:bf16"]["fps"]
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": _cpu_name(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "weights": args.weights or "shipped weights",
        "suite": args.suite,
        "pass_bar_db": PASS_DB,
        "quantization": infos,
        "quality_db": quality,
        "delta_db_vs_openvino_bf16": deltas,
        "levels_vs_openvino_bf16_on_the_suite": levels,
        "worst_abs_delta_db": {n: max(abs(v) for v in d.values()) for n, d in deltas.items()},
        "passes": {n: all(abs(v) < PASS_DB for v in d.values()) for n, d in deltas.items()},
        "speed": {"input": f"{w}x{h}", "batch": args.batch, "rounds": args.rounds, "results": speed,
                  "fps_ratio_vs_openvino_bf16": {n: round(r["fps"] / ov_fps, 3) for n, r in speed.items()}},
        "load_avg_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
