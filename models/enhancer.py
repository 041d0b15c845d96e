"""Enhance numpy RGB frames in-process: GFN (or plain bicubic) on CPU or CUDA, batched, tiled when large.

    from gfn_stream.models.enhancer import Enhancer
    enhancer = Enhancer()                      # shipped weights, fastest precision for this machine
    big = enhancer.enhance(frame)              # H x W x 3 uint8 -> 4H x 4W x 3 uint8
    bigs = enhancer.enhance_batch([f1, f2])    # same-size frames share one forward pass
    Enhancer(net=gfn)                          # a GFN in memory (training validation), prepared the same way

On CUDA the frames go through reused pinned host buffers on a dedicated stream (models/cuda_batches.py) and run
in fp16 + channels_last. On CPU the same code runs in bf16 autocast + channels_last where the CPU has native
bf16, else fp32. Frames above the pixel budget are processed in overlapping tiles (models/tiling.py). The plain
bicubic model is media/compose.py's bicubic. `backend` picks the runtime of the forward pass
(models/backends.py: torch, openvino on CPU, tensorrt on CUDA, or auto); everything around it is the same.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from ..media.compose import bicubic
from .backends import make_runner, resolve_backend
from .cuda_batches import CudaBatches
from .gfn import SCALE
from .precision import autocast, input_dtype, prepare_model, resolve_device, resolve_precision
from .tiling import auto_tile_side, default_overlap, pixel_budget, tiled
from .weights import load_model
from .yuv import planes_on_host

MODELS = ("gfn", "bicubic")


class Enhancer:
    """Load a model once and enhance frames with it. Thread-compatible, not thread-safe."""

    def __init__(
        self,
        weights: str | None = None,
        *,
        model: str = "gfn",
        device: str | torch.device | None = "auto",
        precision: str = "auto",
        tile: int | None = None,
        tile_overlap: int | None = None,
        net: torch.nn.Module | None = None,
        backend: str = "torch",
        cache_dir: str | None = None,
    ):
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r} (choose from {', '.join(MODELS)})")
        self.kind = model
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device) if model == "gfn" else "fp32"
        self.backend = resolve_backend(backend, self.device) if model == "gfn" else "torch"
        if self.precision == "int8" and self.backend != "openvino":
            raise ValueError("--precision int8 runs with --backend openvino (or auto where openvino is installed)")
        self.net = None
        self._runner = None  # the forward pass of a non-torch backend
        if model == "gfn":  # `net`: a GFN already in memory instead of a weights file
            net = net if net is not None else load_model(weights)
            if self.backend == "torch":
                self.net = prepare_model(net, self.device, self.precision)
            else:
                self._runner = make_runner(self.backend, net, self.device, self.precision, cache_dir,
                                           threads=torch.get_num_threads())
        self.tile = tile  # LR tile side; None = derived from free memory, 0 = never tile
        self.tile_overlap = tile_overlap
        self._cuda = CudaBatches(self.device, self._forward) if self.device.type == "cuda" else None

    # ------------------------------------------------------------------------------------------ public
    def enhance(self, frame: np.ndarray) -> np.ndarray:
        return self.enhance_batch([frame])[0]

    def enhance_batch(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """4x-enhance H x W x 3 RGB frames; frames of equal size share a forward pass. uint8 frames come back as
        rounded uint8; float32 frames in [0, 1] (deep video: 10 bits and more) as float32 in [0, 1], unrounded,
        so nothing on the way drops to 8 bits."""
        for f in frames:
            if f.dtype not in (np.uint8, np.float32) or f.ndim != 3 or f.shape[2] != 3:
                raise ValueError(f"frames must be H x W x 3 uint8 or float32, got {f.dtype} {f.shape}")
        out: list[np.ndarray | None] = [None] * len(frames)
        groups: dict[tuple, list[int]] = {}
        for i, f in enumerate(frames):
            groups.setdefault((*f.shape[:2], f.dtype), []).append(i)
        for idx in groups.values():
            for i, res in zip(idx, self._run([frames[i] for i in idx])):
                out[i] = res
        return out  # type: ignore[return-value]

    def enhance_yuv(self, frames: Sequence[np.ndarray], fmt: str, matrix: int,
                    color_range: int = 1) -> list[list[np.ndarray]]:
        """4x-enhance same-size RGB frames (uint8, or float32 in [0, 1]) and give each as YUV 4:2:0 planes [Y, U, V]
        (uint8 for yuv420p, uint16 for yuv420p10le), converted on the model's device (models/yuv.py): on a GPU the
        host gets half the bytes of RGB and does no colour work. Tiled frames are converted after the tiles."""
        deep = [f if f.dtype == np.float32 else f.astype(np.float32) / 255.0 for f in frames]
        if self.kind == "bicubic" or self._plan(*deep[0].shape[:2])[1]:
            y = torch.from_numpy(np.stack(self.enhance_batch(deep))).to(self.device)
        else:
            y = self._forward(torch.from_numpy(np.stack(deep)).to(self.device))
        return planes_on_host(y, fmt, matrix, color_range)

    # ------------------------------------------------------------------------------------------ internals
    def _run(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        if self.kind == "bicubic":
            return [bicubic(f, (SCALE * f.shape[1], SCALE * f.shape[0])) for f in frames]
        h, w = frames[0].shape[:2]
        budget, tile = self._plan(h, w)
        if tile:
            forward = tiled(self._call, tile, self._overlap())
            return [self._forward(torch.from_numpy(f[None]).to(self.device), forward)[0].cpu().numpy() for f in frames]
        per_pass = len(frames) if budget is None else max(1, budget // (h * w))  # a batch must fit too
        out: list[np.ndarray] = []
        for i in range(0, len(frames), per_pass):
            chunk = frames[i : i + per_pass]
            if self._cuda is not None:
                out.extend(self._cuda.run(chunk))
            else:
                out.extend(self._forward(torch.from_numpy(np.stack(chunk))).numpy())  # B,H,W,3 uint8
        return out

    def _plan(self, h: int, w: int) -> tuple[int | None, int]:
        """(LR pixel budget, None with an explicit tile setting; LR tile side for an h x w frame, 0 = whole frame)."""
        if self.tile is not None:  # an explicit tile setting means the caller manages memory
            return None, (self.tile if self.tile and max(h, w) > self.tile else 0)
        budget = pixel_budget(self.device, self.precision)  # free memory is read once per batch
        return budget, auto_tile_side(h, w, overlap=self._overlap(), budget=budget)

    def _overlap(self) -> int:
        return self.tile_overlap if self.tile_overlap is not None else default_overlap()

    def _forward(self, x_nhwc: torch.Tensor, call: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 ) -> torch.Tensor:
        """uint8 NHWC on the device → uint8 NHWC (4x) on the device; float32 in [0, 1] → float32 in [0, 1]. `call`:
        the forward pass on float NCHW (default: the network's, _call; tiling.tiled for a frame over the budget)."""
        # NHWC permuted to NCHW *is* channels_last memory: no copy needed
        deep = x_nhwc.dtype == torch.float32
        x = x_nhwc.permute(0, 3, 1, 2).to(input_dtype(self.precision))
        x = x if deep else x / 255.0
        with torch.inference_mode():
            y = (call or self._call)(x).float().clamp_(0, 1)
            y = y if deep else y.mul_(255.0).round_().to(torch.uint8)  # rounded
            return y.permute(0, 2, 3, 1).contiguous()

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        """The network's forward pass on float NCHW in [0, 1], through the chosen backend."""
        if self._runner is not None:
            return self._runner(x)
        with autocast(self.device, self.precision):
            return self.net(x)
