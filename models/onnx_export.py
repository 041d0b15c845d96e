"""`gfn-export`: a GFN weights file to ONNX, with dynamic batch, height and width.

    gfn-export --out gfn.onnx                     # the shipped weights, fp32, opset 18
    gfn-export --weights my.safetensors --half --out gfn16.onnx --check

The graph is GFN's forward for inputs of at least 4x4 px: (B, 3, H, W) float32 in [0, 1] named `lr` to
(B, 3, 4H, 4W) float32 named `hr`. The padding to a multiple of 4 is in the graph (ONNX Pad, reflect), and so
is the crop; with `bicubic_skip` the skip is an ONNX Resize (cubic, cubic_coeff_a -0.75, half_pixel: torch's
bicubic) added in fp32. `--half` stores the network in fp16 with fp32 input, output and skip: that is what a
strongly typed TensorRT build runs in fp16. The export is checked against torch with ONNX Runtime in
tests/test_onnx_export.py (fp32: max error ~2e-6; bf16 rounding is 4e-3).
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
import threading
import time
import warnings
from pathlib import Path

import torch
import tqdm
from torch import nn

from .gfn import GFN
from .weights import WeightsError, load_model

logger = logging.getLogger(__name__)

OPSET = 18
INPUT, OUTPUT = "lr", "hr"
MIN_SIDE = 4  # from 4 px up GFN's padding is always reflect (below, it may replicate: not in the graph)
MAX_SIDE = 8192


class ExportableGFN(nn.Module):
    """GFN's own forward (GFN.forward_train, its padding rule included) with an fp32 output, to be traced.

    torch.export follows it for any H, W in [MIN_SIDE, MAX_SIDE]: the padding needs no branch there (always
    reflect, models/gfn.py pad_to_multiple). An fp16 network gets the fp32 input cast by GFN itself; its bicubic
    skip stays fp32. The auxiliary LR output is not a graph output, so the exporter drops that branch.
    """

    def __init__(self, net: GFN):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).float()


def export_onnx(net: GFN, path: str | Path, *, half: bool = False, opset: int = OPSET) -> Path:
    """Write `net` (left untouched: a CPU copy is exported) as a single-file ONNX model."""
    path = Path(path)
    model = copy.deepcopy(net).to("cpu", torch.float16 if half else torch.float32).eval()
    wrapper = ExportableGFN(model).eval()
    example = torch.rand(2, 3, 36, 44)
    dims = {
        0: torch.export.Dim("batch", min=1, max=256),
        2: torch.export.Dim("height", min=MIN_SIDE, max=MAX_SIDE),
        3: torch.export.Dim("width", min=MIN_SIDE, max=MAX_SIDE),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    t0 = time.perf_counter()
    # torch's exporter logs "torchvision is not installed. Skipping torchvision::nms" (and three more) on its
    # first use: ops GFN never has, and stderr lines a user of --backend openvino would otherwise see on each new model
    # torch.fx's interpreter opens a (hidden) tqdm bar, whose first use creates a multiprocessing lock: a worker
    # process ends with os._exit, and Python's resource tracker then warns of a "leaked semaphore". A thread lock
    # serves this process as well.
    if not hasattr(tqdm.tqdm, "_lock"):
        tqdm.tqdm.set_lock(threading.RLock())
    quiet = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper, (example,), str(tmp), dynamo=True, external_data=False, opset_version=opset,
                input_names=[INPUT], output_names=[OUTPUT], dynamic_shapes=(dims,), verbose=False,
            )
    finally:
        quiet.setLevel(level)
    tmp.replace(path)
    logger.info("exported %s (%s, opset %d) in %.1f s", path, "fp16" if half else "fp32", opset,
                time.perf_counter() - t0)
    return path


def onnx_reference_error(net: GFN, path: str | Path, shapes=((1, 3, 36, 44), (2, 3, 37, 45))) -> float:
    """Max |ONNX Runtime - torch fp32| over random inputs of `shapes` (needs onnxruntime)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref_net = copy.deepcopy(net).to("cpu", torch.float32).eval()
    worst = 0.0
    gen = torch.Generator().manual_seed(0)
    for shape in shapes:
        x = torch.rand(shape, generator=gen)
        with torch.no_grad():
            ref = ref_net(x).float().numpy()
        got = session.run([OUTPUT], {INPUT: x.numpy()})[0]
        if got.shape != ref.shape:
            raise AssertionError(f"ONNX output {got.shape} for input {shape}, torch {ref.shape}")
        worst = max(worst, float(abs(got - ref).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="gfn-export", description="Export GFN weights to ONNX (dynamic B, H, W).")
    p.add_argument("--weights", metavar="FILE", help="GFN weights (.safetensors); default: the shipped weights")
    p.add_argument("--out", metavar="FILE", default="gfn.onnx", help="output .onnx (default gfn.onnx)")
    p.add_argument("--half", action="store_true", help="network in fp16 (fp32 input, output and bicubic skip)")
    p.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (default {OPSET})")
    p.add_argument("--check", action="store_true", help="compare with torch through ONNX Runtime")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        net = load_model(args.weights)
    except WeightsError as exc:
        print(f"gfn-export: {exc}", file=sys.stderr)
        return 2
    try:
        path = export_onnx(net, args.out, half=args.half, opset=args.opset)
    except ImportError as exc:
        print(f"gfn-export: the ONNX exporter needs onnx and onnxscript ({exc})", file=sys.stderr)
        return 2
    print(path)
    if args.check:
        try:
            err = onnx_reference_error(net, path)
        except ImportError:
            print("gfn-export: --check needs onnxruntime (pip install onnxruntime)", file=sys.stderr)
            return 2
        print(f"max |onnxruntime - torch fp32| = {err:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
