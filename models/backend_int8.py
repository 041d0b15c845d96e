"""`--precision int8` with `--backend openvino`: the ONNX export quantized to INT8 by NNCF post-training quantization.

Measured (benchmarks/int8.py: the held-out quality suite through the workers' Enhancer, against OpenVINO bf16):
every condition moves by at most 0.02 dB (the bar was 0.1 dB), for ~1.2x the speed of OpenVINO bf16 on the
2-core dev CPU (AVX-512 VNNI). The recipe: NNCF's performance preset (symmetric INT8) on the whole network except
the bicubic skip (`skip`: its Interpolate and the final Add stay in float). Quantized, the skip's bicubic image
is rounded to 256 levels over its overshooting range, which cost up to 0.08 dB on sharp photos; keeping the whole
tail after the last conv in float as well changed nothing measurable; the mixed preset (asymmetric activations)
lost up to 0.15 dB, and with the 7x7 heads and the RGB conv kept in float (with or without the gate) 0.67 dB.

Calibration: 300 LR patches of 48x48 px, seeded, from the clip the package ships (demo/demo.mp4): half from
its frames as they are, half from them 2x downscaled. The quantized model is written once per weights into the
cache beside the bf16 entries (<cache>/openvino-<version>/int8/<digest>-nncf<version>-<recipe>.xml and .bin) and
compiled per input size like them; what stays in float runs at the bf16 hint where the CPU has it. Needs `nncf`
(`pip install gfn-stream[int8]`), only for this precision.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

DEMO_CLIP = Path(__file__).resolve().parents[1] / "demo" / "demo.mp4"
RECIPE = "perf-skip-c300s0"  # in the cache key: a change of recipe never meets an older model
PRESETS = ("performance", "mixed")
GROUPS = ("ends", "gate", "tail", "skip")


def require_nncf():
    try:
        import nncf
    except ImportError:
        raise RuntimeError("--precision int8 needs the nncf package (pip install 'gfn-stream[int8]')") from None
    return nncf


def demo_frames(path: Path = DEMO_CLIP) -> list[np.ndarray]:
    """The RGB frames of the shipped demo clip, read as gfn-stream's decoder reads them."""
    import av

    from ..media.colors import default_matrix
    from ..media.planes import decode_params, frame_to_rgb

    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(container.streams.video[0]):
            matrix, color_range = decode_params(frame, default_matrix(frame.width, frame.height))
            frames.append(frame_to_rgb(frame, matrix, color_range))
    return frames


def calibration_inputs(count: int = 300, side: int = 48, seed: int = 0,
                       frames: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """`count` (1, 3, side, side) float32 LR patches in [0, 1], seeded: even ones cropped from the frames (default:
    demo/demo.mp4's) as they are, odd ones from the frames 2x downscaled (area), denser detail as in a source
    made smaller."""
    import cv2

    frames = frames if frames is not None else demo_frames()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        f = frames[int(rng.integers(len(frames)))]
        if i % 2:
            f = cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2), interpolation=cv2.INTER_AREA)
        y, x = int(rng.integers(f.shape[0] - side + 1)), int(rng.integers(f.shape[1] - side + 1))
        lr = f[y : y + side, x : x + side]
        out.append(np.ascontiguousarray(lr.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0)
    return out


def op_groups(model) -> dict[str, list[str]]:
    """Names of ops of an OpenVINO GFN by role, found from the graph's structure so they survive a re-export.

    ends: the convs on the RGB input (3 input channels: the two 7x7 heads) and those that make RGB (3 outputs);
    gate: the gate's convs (the one on the concatenation, 2C+3 inputs, and the 1x1);
    tail: everything downstream of the last conv up to the output, and the bicubic skip's Interpolate;
    skip: only the bicubic skip's Interpolate and the Add that takes it.
    """
    groups: dict[str, list[str]] = {g: [] for g in GROUPS}
    convs, last = [], None
    for op in model.get_ordered_ops():
        if op.get_type_name() == "Interpolate":
            groups["tail"].append(op.get_friendly_name())
            groups["skip"] += [op.get_friendly_name()] + [t.get_node().get_friendly_name()
                                                          for t in op.output(0).get_target_inputs()]
        if op.get_type_name() == "Convolution":
            convs.append((op.get_friendly_name(), list(op.input_value(1).get_partial_shape().to_shape())))
            last = op
    gate_in = {s[1] for _, s in convs if s[1] % 2 == 1 and s[1] > 3}  # 2C + 3: deblur, input, SR features
    for name, (c_out, c_in, kh, kw) in convs:
        if c_in == 3 or c_out == 3:
            groups["ends"].append(name)
        if c_in in gate_in or (kh, kw) == (1, 1):
            groups["gate"].append(name)
    todo = [last] if last is not None else []
    while todo:
        for out in todo.pop().outputs():
            for t in out.get_target_inputs():
                node, name = t.get_node(), t.get_node().get_friendly_name()
                if node.get_type_name() not in ("Result", "ShapeOf") and name not in groups["tail"]:
                    groups["tail"].append(name)
                    todo.append(node)
    return groups


def quantize(onnx_path: Path, out_xml: Path, *, preset: str = "performance", keep_float: tuple[str, ...] = ("skip",),
             calib: list[np.ndarray] | None = None) -> dict:
    """Quantize the ONNX export with NNCF; the IR goes to out_xml (+ .bin, + .json: what was done), written to
    temporary names and renamed."""
    nncf = require_nncf()
    import openvino as ov

    if preset not in PRESETS or set(keep_float) - set(GROUPS):
        raise ValueError(f"preset one of {PRESETS}, keep_float of {GROUPS}")
    calib = calib if calib is not None else calibration_inputs()
    model = ov.Core().read_model(str(onnx_path))
    groups = op_groups(model)
    ignored = sorted({n for g in keep_float for n in groups[g]})
    presets = {"performance": nncf.QuantizationPreset.PERFORMANCE, "mixed": nncf.QuantizationPreset.MIXED}
    t0 = time.perf_counter()
    logger.info("quantizing the model to INT8 once for these weights (%d calibration patches)", len(calib))
    # NNCF's own INFO lines and its progress bar (rich, on stdout) would break -q and a piped stdout: ours above
    nncf.set_log_level(logging.WARNING)
    with contextlib.redirect_stdout(io.StringIO()):
        q = nncf.quantize(model, nncf.Dataset(calib), preset=presets[preset], subset_size=len(calib),
                          ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None)
    seconds = time.perf_counter() - t0
    info = {"preset": preset, "keep_float": list(keep_float), "float_ops": ignored,
            "fake_quantize_ops": sum(op.get_type_name() == "FakeQuantize" for op in q.get_ops()),
            "calibration_patches": len(calib), "nncf": nncf.__version__, "quantize_seconds": round(seconds, 1)}
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_xml.with_name(f".{out_xml.stem}.{os.getpid()}.xml")
    ov.save_model(q, str(tmp), compress_to_fp16=False)
    out_xml.with_suffix(".json").write_text(json.dumps(info, indent=1))
    tmp.with_suffix(".bin").replace(out_xml.with_suffix(".bin"))
    tmp.replace(out_xml)  # last: the .xml is what says the entry is complete
    return info


def int8_path(runtime_root: Path, digest: str) -> Path:
    """The INT8 model of the weights `digest` in OpenVINO's versioned cache folder (NNCF's version in the name)."""
    nncf = require_nncf()
    return runtime_root / "int8" / f"{digest}-nncf{nncf.__version__}-{RECIPE}.xml"


def cached_int8(onnx_path: Path, digest: str, runtime_root: Path) -> Path:
    """The INT8 model in the cache (<cache>/openvino-<version>/int8/), quantized from the ONNX export on first
    use (about a minute on 2 cores)."""
    path = int8_path(runtime_root, digest)
    if not path.is_file():
        logger.info("quantizing the network to INT8 (NNCF, once for these weights) into %s", path)
        info = quantize(onnx_path, path)
        logger.info("quantized in %.0f s", info["quantize_seconds"])
    return path
