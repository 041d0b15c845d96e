"""The `--backend` option: which runtime runs GFN's forward pass for the Enhancer.

    torch      the network in torch (fp16 on CUDA, bf16 autocast on CPUs that have bf16, else fp32)
    openvino   CPU only: the ONNX export compiled by OpenVINO, bf16 where the CPU has it (models/backend_openvino.py);
               with --precision int8 its NNCF post-training INT8 model (models/backend_int8.py)
    tensorrt   CUDA only: the fp16 ONNX export built into TensorRT engines (models/backend_tensorrt.py)
    auto       tensorrt on CUDA and openvino on CPU when that package is installed, else torch

`auto`'s rule comes from measurements (benchmarks/backends.py, README's performance table): on this project's
2-core CPU OpenVINO bf16 ran the shipped weights and the paper-size network faster than the best torch path,
and OpenVINO f32 beat torch fp32 too, so a CPU without bf16 gets it as well; on NVIDIA GPUs TensorRT fp16 is
the runtime NVIDIA tunes for its own chips (benchmarks/gpu.sh measures it against torch eager and CUDA graphs).
Every runtime starts from the same network and weights: the ONNX file is exported from them on first use and
kept in the cache (models/backend_cache.py), keyed by their digest.
"""

from __future__ import annotations

import logging

import torch

from . import backend_int8, backend_openvino, backend_tensorrt
from .backend_cache import cache_root, cached_onnx, weights_digest

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "openvino", "tensorrt")


def resolve_backend(backend: str, device: torch.device) -> str:
    """'auto' → the rule above; an explicit choice is checked against the device (one-line errors)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if backend == "auto":
        if device.type == "cuda":
            return "tensorrt" if backend_tensorrt.available() else "torch"
        return "openvino" if backend_openvino.available() else "torch"
    if backend == "openvino" and device.type != "cpu":
        raise ValueError("--backend openvino runs on the CPU (use --device cpu, or tensorrt/torch on CUDA)")
    if backend == "tensorrt" and device.type != "cuda":
        raise ValueError("--backend tensorrt needs a CUDA device (use openvino or torch on CPU)")
    return backend


def make_runner(backend: str, net: torch.nn.Module, device: torch.device, precision: str,
                cache_dir: str | None = None, threads: int | None = None):
    """A callable float NCHW → float NCHW (4x) for a resolved, non-torch backend."""
    root = cache_root(cache_dir)
    digest = weights_digest(net)
    if backend == "openvino":
        if precision == "int8":
            backend_int8.require_nncf()  # the missing-package error before the export
        onnx_path = cached_onnx(net, digest, root)
        return backend_openvino.OpenVINOBackend(onnx_path, digest, precision, root, threads=threads)
    if backend == "tensorrt":
        backend_tensorrt.require()  # the missing-package error before a minute of export
        onnx_path = cached_onnx(net, digest, root, half=True)
        return backend_tensorrt.TensorRTBackend(onnx_path, digest, device, root)
    raise ValueError(f"no runner for backend {backend!r}")
