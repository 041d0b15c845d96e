"""GFN on CPU through OpenVINO: the ONNX export, compiled per input size, bf16 where the CPU has it.

Measured on the 2-core dev CPU (benchmarks/backends.py; AVX-512 bf16): OpenVINO bf16 runs the shipped and the
paper-size network faster than torch bf16 autocast + channels_last, so `--backend auto` picks it on CPU.
Each (batch, height, width) is compiled once (a fraction of a second) into OpenVINO's blob cache under
<cache>/openvino-<version>/<digest>-<BxHxW>-<precision>/ and kept in memory for the next frames of that size;
a tiled frame's windows add a few sizes. The output is the same as torch's to bf16 rounding.
`--precision int8` compiles the NNCF INT8 model of the same export instead (models/backend_int8.py, quantized
once per weights into <cache>/openvino-<version>/int8/), what stays in float at the bf16 hint where the CPU has it,
and its blobs are <digest>-<BxHxW>-int8.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

import torch

from . import backend_int8
from .backend_cache import CompiledRuntime, has_package, require_package, shape_tag
from .onnx_export import INPUT
from .precision import cpu_has_bf16

logger = logging.getLogger(__name__)

KEEP_COMPILED = 8  # input sizes held compiled in memory (whole frames plus a tiled frame's windows)


def require():
    return require_package("openvino")


def available() -> bool:
    return has_package("openvino")


class OpenVINOBackend(CompiledRuntime):
    """Callable: (B, 3, H, W) float CPU tensor in [0, 1] -> (B, 3, 4H, 4W) float32 CPU tensor."""

    name = "openvino"

    def __init__(self, onnx_path: Path, digest: str, precision: str, root: Path, threads: int | None = None):
        ov = require()
        super().__init__(onnx_path, digest, root, ov.__version__.split("-")[0])
        self.core = ov.Core()
        bf16 = precision == "bf16" or (precision == "int8" and cpu_has_bf16())
        self.hint = "bf16" if bf16 else "f32"  # int8: what NNCF left in float
        self.tag = "int8" if precision == "int8" else self.hint
        self.model_path = (backend_int8.cached_int8(self.onnx_path, digest, self.root) if precision == "int8"
                           else self.onnx_path)
        self.threads = threads
        self._requests: OrderedDict[tuple[int, ...], object] = OrderedDict()

    def cache_dir(self, shape: tuple[int, ...]) -> Path:
        return self.entry(shape, self.tag)

    def _request(self, shape: tuple[int, ...]):
        req = self._requests.get(shape)
        if req is not None:
            self._requests.move_to_end(shape)
            return req
        model = self.core.read_model(str(self.model_path))
        model.reshape({INPUT: list(shape)})
        config = {"INFERENCE_PRECISION_HINT": self.hint, "PERFORMANCE_HINT": "LATENCY",
                  "CACHE_DIR": str(self.cache_dir(shape))}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = int(self.threads)
        compiled = self.core.compile_model(model, "CPU", config)
        logger.debug("openvino: compiled %s (%s)", shape_tag(shape), self.tag)
        req = compiled.create_infer_request()
        self._requests[shape] = req
        while len(self._requests) > KEEP_COMPILED:
            self._requests.popitem(last=False)
        return req

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        req = self._request(self.input_shape(x))
        out = req.infer({0: x.detach().to("cpu", torch.float32).contiguous().numpy()})
        return torch.from_numpy(out[0].copy())  # the request's buffer is reused by its next call
