"""RGB -> YUV 4:2:0 on the model's device (torch): what a worker on a GPU sends instead of RGB, so half the bytes
come back to the host and the host does no colour work. The same arithmetic as media/deep_planes.py's from_float
(float matrix, chroma averaged over 2 x 2 blocks, one rounding to the format's depth), tested against it.

    y, u, v = rgb_to_yuv420(rgb_nchw, matrix=1, bits=10)    # rgb in [0, 1]; integer tensors, tv range
    frames = planes_on_host(rgb_nhwc, "yuv420p10le", matrix=1)  # [[Y, U, V] numpy uint16] per frame
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)

# (Kr, Kb) of each AVColorSpace matrix: Y = Kr R + (1 - Kr - Kb) G + Kb B (BT.601 for any other)
K = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 5: (0.299, 0.114), 6: (0.299, 0.114), 7: (0.212, 0.087),
     9: (0.2627, 0.0593), 10: (0.2627, 0.0593)}


def rgb_to_yuv420(rgb: torch.Tensor, matrix: int, bits: int = 8, color_range: int = 1
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """B x 3 x H x W float RGB in [0, 1] -> (Y B x H x W, U and V B x ceil(H/2) x ceil(W/2)), uint8 for 8 bits,
    int32 (0 .. 2^bits - 1) for more, on the input's device."""
    kr, kb = K.get(matrix, K[6])
    if color_range == 2:
        top = float(2**bits - 1)
        y0, ys, c0, cs = 0.0, top, float(2 ** (bits - 1)), top
    else:
        s = float(2 ** (bits - 8))
        y0, ys, c0, cs = 16 * s, 219 * s, 128 * s, 224 * s
    rgb = rgb.float().clamp(0, 1)
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    y = kr * r + (1 - kr - kb) * g + kb * b
    chroma = torch.stack([(b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))], dim=1)
    chroma = F.avg_pool2d(chroma, 2, ceil_mode=True)
    top = 2**bits - 1
    dtype = torch.uint8 if bits == 8 else torch.int32
    yq = (y * ys + y0).round_().clamp_(0, top).to(dtype)
    cq = (chroma * cs + c0).round_().clamp_(0, top).to(dtype)
    return yq, cq[:, 0], cq[:, 1]


def planes_on_host(rgb_nhwc: torch.Tensor, fmt: str, matrix: int, color_range: int = 1) -> list[list[np.ndarray]]:
    """B x H x W x 3 float RGB in [0, 1] -> each frame's [Y, U, V] as numpy (uint8 for yuv420p, little-endian
    uint16 for yuv420p10le), converted where the tensor is and then copied to the host."""
    bits = 10 if fmt == "yuv420p10le" else 8
    with torch.inference_mode():
        planes = rgb_to_yuv420(rgb_nhwc.permute(0, 3, 1, 2), matrix, bits, color_range)
    host = [p.cpu().numpy() for p in planes]
    if bits > 8:
        host = [p.astype("<u2") for p in host]
    return [[p[i] for p in host] for i in range(rgb_nhwc.shape[0])]
