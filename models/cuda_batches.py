"""The CUDA side of models/enhancer.py: uint8 batches through page-locked host buffers, reused frame after frame,
copied with non_blocking=True on a dedicated stream; float32 frames (deep video) go straight to the device.

    cuda = CudaBatches(device, forward)        # forward: uint8 NHWC on the device -> uint8 NHWC (4x) there
    bigs = cuda.run(frames)                    # same-size H x W x 3 frames -> their 4x, as numpy arrays
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .gfn import SCALE


class PinnedBuffers:
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


class CudaBatches:
    """One forward pass per call on a CUDA device, for the Enhancer that holds it."""

    def __init__(self, device: torch.device, forward: Callable[[torch.Tensor], torch.Tensor]):
        self.device = device
        self.forward = forward  # NHWC on the device -> NHWC (4x) on the device, same dtype (uint8 or float32)
        self.pinned = PinnedBuffers()
        self.stream = torch.cuda.Stream(device)

    def run(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Same-size H x W x 3 frames (uint8, or float32 in [0, 1]) -> their 4x, one numpy array each."""
        if frames[0].dtype == np.float32:  # no uint8 pinned staging for these
            return list(self.forward(torch.from_numpy(np.stack(frames)).to(self.device)).cpu().numpy())
        b, (h, w) = len(frames), frames[0].shape[:2]
        pin_in = self.pinned.get("inp", (b, h, w, 3))
        np.stack(frames, out=pin_in.numpy())
        pin_out = self.pinned.get("out", (b, SCALE * h, SCALE * w, 3))
        with torch.cuda.stream(self.stream):
            x = pin_in.to(self.device, non_blocking=True)
            y = self.forward(x)
            pin_out.copy_(y, non_blocking=True)
        self.stream.synchronize()
        return [a.copy() for a in pin_out.numpy()]  # the pinned buffer is reused by the next call
