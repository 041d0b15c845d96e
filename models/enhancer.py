"""Enhance numpy RGB frames in-process: GFN (or plain bicubic) on CPU or CUDA, batched, tiled when large.

    from gfn_stream.models.enhancer import Enhancer
    enhancer = Enhancer()                      # shipped weights, fastest precision for this machine
    big = enhancer.enhance(frame)              # H x W x 3 uint8 -> 4H x 4W x 3 uint8
    bigs = enhancer.enhance_batch([f1, f2])    # same-size frames share one forward pass

On CUDA the frames go through pinned host buffers that are reused across calls, copied with
non_blocking=True on a dedicated stream, and run in fp16 + channels_last. On CPU the same code runs in
bf16 autocast + channels_last where the CPU has native bf16, else fp32. Frames above the pixel budget
are processed in overlapping tiles (models/tiling.py). `backend` picks the runtime of the forward pass
(models/backends.py: torch, openvino on CPU, tensorrt on CUDA, or auto); everything around it is the same.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch

from .backends import make_runner, resolve_backend
from .gfn import SCALE
from .precision import autocast, input_dtype, prepare_model, resolve_precision
from .tiling import auto_tile_side, default_overlap, enhance_tiled, pixel_budget
from .weights import load_model
from .yuv import rgb_to_yuv420

MODELS = ("gfn", "bicubic")


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} requested but CUDA is not available")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r} (use cpu, cuda or cuda:N)")
    return dev


class _PinnedBuffers:
    """Page-locked host staging buffers, grown on demand and reused frame after frame."""

    def __init__(self) -> None:
        self.inp: torch.Tensor | None = None
        self.out: torch.Tensor | None = None

    def get(self, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        buf = getattr(self, name)
        numel = int(np.prod(shape))
        if buf is None or buf.numel() < numel:
            buf = torch.empty(numel, dtype=torch.uint8, pin_memory=True)
            setattr(self, name, buf)
        return buf[:numel].view(shape)


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
        self._pinned = _PinnedBuffers() if self.device.type == "cuda" else None
        self._stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None

    @classmethod
    def from_network(cls, net: torch.nn.Module, *, device: str | torch.device | None = "auto",
                     precision: str = "auto", tile: int | None = None) -> "Enhancer":
        """An Enhancer around a GFN already in memory (training validation, the quality suite).

        The network is prepared (device, layout, dtype) exactly as a loaded weights file would be; pass a copy
        if the caller keeps training it.
        """
        return cls(net=net, device=device, precision=precision, tile=tile)

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
        bits = 10 if fmt == "yuv420p10le" else 8
        deep = [f if f.dtype == np.float32 else f.astype(np.float32) / 255.0 for f in frames]
        h, w = deep[0].shape[:2]
        budget = None if self.tile is not None else pixel_budget(self.device, self.precision)
        if self.kind == "bicubic" or self._tile_side(h, w, budget):
            y = torch.from_numpy(np.stack(self.enhance_batch(deep))).to(self.device)
        else:
            y = self._forward(torch.from_numpy(np.stack(deep)).to(self.device))
        with torch.inference_mode():
            planes = rgb_to_yuv420(y.permute(0, 3, 1, 2), matrix, bits, color_range)
        host = [p.cpu().numpy() for p in planes]
        if bits > 8:
            host = [p.astype("<u2") for p in host]
        return [[p[i] for p in host] for i in range(len(frames))]

    # ------------------------------------------------------------------------------------------ internals
    def _run(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        if self.kind == "bicubic":
            return [_bicubic(f) for f in frames]
        if frames[0].dtype == np.float32 and self.device.type == "cuda":  # no uint8 pinned staging for these
            return [self._forward(torch.from_numpy(np.stack(frames)).to(self.device)).cpu().numpy()]
        h, w = frames[0].shape[:2]
        # free memory is read once per batch; an explicit tile setting means the caller manages memory
        budget = None if self.tile is not None else pixel_budget(self.device, self.precision)
        tile = self._tile_side(h, w, budget)
        if tile:
            return [self._run_tiled(f, tile) for f in frames]
        per_pass = len(frames) if budget is None else max(1, budget // (h * w))  # a batch must fit too
        out: list[np.ndarray] = []
        for i in range(0, len(frames), per_pass):
            chunk = frames[i : i + per_pass]
            if self.device.type == "cuda":
                out.extend(self._run_cuda(chunk))
            else:
                out.extend(self._forward(torch.from_numpy(np.stack(chunk))).numpy())  # B,H,W,3 uint8
        return out

    def _tile_side(self, h: int, w: int, budget: int | None) -> int:
        """LR tile side for an h x w frame, 0 = whole frame."""
        if self.tile is not None:
            return self.tile if self.tile and max(h, w) > self.tile else 0
        return auto_tile_side(h, w, overlap=self._overlap(), budget=budget)

    def _overlap(self) -> int:
        return self.tile_overlap if self.tile_overlap is not None else default_overlap()

    def _forward(self, x_nhwc: torch.Tensor) -> torch.Tensor:
        """uint8 NHWC on the device → uint8 NHWC (4x) on the device; float32 in [0, 1] → float32 in [0, 1]."""
        # NHWC permuted to NCHW *is* channels_last memory: no copy needed
        deep = x_nhwc.dtype == torch.float32
        x = x_nhwc.permute(0, 3, 1, 2).to(input_dtype(self.precision))
        x = x if deep else x / 255.0
        with torch.inference_mode():
            y = self._call(x)
            y = y.float().clamp_(0, 1) if deep else _to_uint8(y)
            return y.permute(0, 2, 3, 1).contiguous()

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        """The network's forward pass on float NCHW in [0, 1], through the chosen backend."""
        if self._runner is not None:
            return self._runner(x)
        with autocast(self.device, self.precision):
            return self.net(x)

    def _run_cuda(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        b, (h, w) = len(frames), frames[0].shape[:2]
        pin_in = self._pinned.get("inp", (b, h, w, 3))
        np.stack(frames, out=pin_in.numpy())
        pin_out = self._pinned.get("out", (b, SCALE * h, SCALE * w, 3))
        with torch.cuda.stream(self._stream):
            x = pin_in.to(self.device, non_blocking=True)
            y = self._forward(x)
            pin_out.copy_(y, non_blocking=True)
        self._stream.synchronize()
        return [a.copy() for a in pin_out.numpy()]  # the pinned buffer is reused by the next call

    def _run_tiled(self, frame: np.ndarray, tile: int) -> np.ndarray:
        deep = frame.dtype == np.float32
        x = torch.from_numpy(frame).unsqueeze(0).permute(0, 3, 1, 2).to(self.device)
        x = x.to(input_dtype(self.precision))
        x = x if deep else x.div_(255.0)

        def fn(t: torch.Tensor) -> torch.Tensor:
            return self._call(t.contiguous(memory_format=torch.channels_last)).float()

        with torch.inference_mode():
            y = enhance_tiled(fn, x, tile=tile, overlap=self._overlap(), scale=SCALE)
            y = y.float().clamp_(0, 1) if deep else _to_uint8(y)
            return y[0].permute(1, 2, 0).contiguous().cpu().numpy()


def _to_uint8(y: torch.Tensor) -> torch.Tensor:
    """Network output in [0, 1] (any float dtype) → rounded uint8, same layout."""
    return y.float().clamp_(0, 1).mul_(255.0).round_().to(torch.uint8)


def _bicubic(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    big = cv2.resize(frame, (SCALE * w, SCALE * h), interpolation=cv2.INTER_CUBIC)
    return np.clip(big, 0, 1, out=big) if big.dtype == np.float32 else big

