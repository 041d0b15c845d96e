"""GFN on NVIDIA GPUs through TensorRT: the fp16 ONNX export (network fp16, bicubic skip fp32), one engine per
input size, built once and kept in <cache>/tensorrt-<version>/<digest>-<BxHxW>-fp16-<gpu>.engine.

The network is parsed strongly typed (the only mode TensorRT 11 has; TensorRT 10 takes the flag), so the
precision is the ONNX file's: fp16 convolutions, fp32 input, output and skip. `tensorrt` is imported only
when this backend is asked for; without it, or without CUDA, the error says so in one line.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from .backend_cache import CompiledRuntime, has_package, require_package, shape_tag, write_atomic
from .gfn import SCALE
from .onnx_export import INPUT, OUTPUT

logger = logging.getLogger(__name__)

WORKSPACE_BYTES = 4 << 30


def require():
    return require_package("tensorrt")


def available() -> bool:
    return torch.cuda.is_available() and has_package("tensorrt")


class TensorRTBackend(CompiledRuntime):
    """Callable: (B, 3, H, W) CUDA tensor in [0, 1] -> (B, 3, 4H, 4W) float32 CUDA tensor, on the current stream."""

    name = "tensorrt"

    def __init__(self, onnx_path: Path, digest: str, device: torch.device, root: Path):
        if device.type != "cuda":
            raise ValueError("--backend tensorrt needs a CUDA device (--device cuda)")
        self.trt = require()
        super().__init__(onnx_path, digest, root, self.trt.__version__)
        self.device = device
        props = torch.cuda.get_device_properties(device)
        self.gpu = f"sm{props.major}{props.minor}-{props.name.replace(' ', '_')}"
        self.log = self.trt.Logger(self.trt.Logger.WARNING)
        self.runtime = self.trt.Runtime(self.log)
        self._contexts: dict[tuple[int, ...], tuple[object, object]] = {}

    def engine_path(self, shape: tuple[int, ...]) -> Path:
        return self.entry(shape, f"fp16-{self.gpu}.engine")

    def _build(self, shape: tuple[int, ...]) -> bytes:
        trt = self.trt
        t0 = time.perf_counter()
        builder = trt.Builder(self.log)
        flags = 0
        if hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
            flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self.log)
        if not parser.parse_from_file(str(self.onnx_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise RuntimeError(f"tensorrt could not parse {self.onnx_path}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        profile = builder.create_optimization_profile()
        profile.set_shape(INPUT, shape, shape, shape)
        config.add_optimization_profile(profile)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise RuntimeError(f"tensorrt could not build an engine for {shape_tag(shape)}")
        logger.info("tensorrt: built %s in %.1f s", shape_tag(shape), time.perf_counter() - t0)
        return bytes(plan)

    def _context(self, shape: tuple[int, ...]):
        hit = self._contexts.get(shape)
        if hit is not None:
            return hit[1]
        path = self.engine_path(shape)
        engine = None
        if path.is_file():
            engine = self.runtime.deserialize_cuda_engine(path.read_bytes())
            if engine is None:
                logger.warning("tensorrt: %s does not load, rebuilding it", path)
        if engine is None:
            plan = self._build(shape)
            write_atomic(path, plan)
            engine = self.runtime.deserialize_cuda_engine(plan)
        context = engine.create_execution_context()
        context.set_input_shape(INPUT, shape)
        self._contexts[shape] = (engine, context)
        return context

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = self.input_shape(x)
        context = self._context(shape)
        x = x.to(self.device, torch.float32).contiguous()
        b, c, h, w = shape
        y = torch.empty((b, c, SCALE * h, SCALE * w), device=self.device, dtype=torch.float32)
        context.set_tensor_address(INPUT, x.data_ptr())
        context.set_tensor_address(OUTPUT, y.data_ptr())
        if not context.execute_async_v3(torch.cuda.current_stream(self.device).cuda_stream):
            raise RuntimeError("tensorrt: inference failed")
        return y
