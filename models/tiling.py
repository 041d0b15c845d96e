"""Overlapping-tile inference for frames over the memory budget: the same pixels as one whole-frame forward.

    y = enhance_tiled(lambda t: net(t), x, tile=256, overlap=DEFAULT_OVERLAP)   # (B,3,H,W) -> (B,3,4H,4W)
    forward = tiled(net, 256, DEFAULT_OVERLAP)                                   # the same, as one callable

The frame's LR grid is cut into cores (at most `tile` px a side, balanced); each core is run with a window that
extends it by at least `overlap` LR px on every side (clipped at the frame edge), and only the core's part of the
output is kept (crop-centre stitching). An output pixel then differs from the whole-frame output only by what
the network sees beyond the window, which stays below 1/255 once `overlap` >= the network's effective reach.
Window corners are aligned to multiples of 4 (`PAD_MULTIPLE`): the deblur encoder downsamples twice by 2, and
a window off that grid would sample its stride-2 convs at another phase than the whole frame does. Bottom/right
windows end at the frame edge, so GFN's own reflect padding sees the same rows there as in the whole frame.
`feather` > 0 cross-fades neighbouring tiles over that many LR px instead of a hard cut, which hides seams when
the overlap is smaller than the reach (at the cost of exactness when it is not).

Measured with benchmarks/tiling_reach.py (its JSON: --out; CPU fp32, 256x256 noise input):
| weights                                           | edge reach | point reach | output std |
| full GFN, init with residual branches x0.1        | 16 LR px   | 12 LR px    | 0.42       |
| channels=32 GFN after 80 training steps (22 dB)   | 16 LR px   | 11 LR px    | 0.16       |
| full GFN, the authors' raw He init (128x128 input)| >= 64 (all)| >= 64 (all) | ~1e6       |
Edge reach: how deep into a window a cut at its edge moves outputs by >= 1/255 (what the overlap must cover);
point reach: how far a one-pixel change moves outputs by >= 1/255. The theoretical field is ~118 LR px. The raw
He init (no normalisation, no residual scaling) blows activations up to ~1e6, so there every pixel feels every
other; no trained GFN works in that regime. Re-measure with real weights: `tiling_reach.py --weights FILE`.
GFN_REACH = 16, DEFAULT_OVERLAP = 24 (reach + 50 %, on the 4-px grid); with it, tiles of 64 on the 256x256 input
differ from the whole frame by at most 0.05 levels before rounding (tamed init; 0.10 for the trained c32 net),
i.e. at most one 8-bit level after rounding.
Cost of the default overlap: a 256-px interior tile runs a 304-px window, +41 % pixels over its core; a
960x540 frame tiled at 256 (12 tiles) costs +35 %, at 512 (4 tiles) +15 %; a 1920x1080 frame at 512, +17 %.

Memory per LR pixel of one forward (peak resident, incl. input and 4x output; CPU, 128^2 vs 320^2 inputs):
15.9 KB fp32, 7.8 KB bf16 autocast. CUDA fp16/bf16 is assumed like CPU bf16 (not measured here: no GPU).
`pixel_budget` divides free memory by these and keeps a safety factor of 0.6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from ..media.size_limits import mem_available
from .gfn import PAD_MULTIPLE, SCALE

GFN_REACH = 16  # LR px: measured effective reach (edge cut, >= 1/255), see the module docstring
DEFAULT_OVERLAP = 24  # LR px of context on each side of a tile's core
MIN_TILE = 32
BYTES_PER_LR_PIXEL = {"fp32": 16_000, "bf16": 8_000, "fp16": 8_000}  # peak forward memory, see docstring
SAFETY = 0.6  # use at most this fraction of the free memory for one forward


@dataclass(frozen=True)
class Tile:
    """One forward: the network sees `window`, the output of `core` is kept. (y0, y1, x0, x1) in LR px, end excluded."""

    core: tuple[int, int, int, int]
    window: tuple[int, int, int, int]


def _cores(n: int, tile: int) -> list[tuple[int, int]]:
    k = math.ceil(n / tile)  # balanced: all cores within one px of each other, none over `tile`
    edges = [round(i * n / k) for i in range(k + 1)]
    return list(zip(edges[:-1], edges[1:]))


def _window(c0: int, c1: int, n: int, overlap: int, align: int) -> tuple[int, int]:
    w0 = max(0, (c0 - overlap) // align * align)
    w1 = min(n, -(-(c1 + overlap) // align) * align)
    return w0, w1


def tile_plan(h: int, w: int, tile: int, overlap: int, align: int = PAD_MULTIPLE) -> list[Tile]:
    """Tiles for an h x w LR frame, row-major.

    The cores partition the frame exactly (every pixel belongs to one core); each core is at most `tile` px a
    side and the cores of a row/column differ by at most one px. A window is its core grown by >= `overlap` px
    on each side, with its start (and, inside the frame, its end) rounded outwards to a multiple of `align`,
    and clipped to the frame. A frame that fits in one tile gives one tile whose window is the whole frame.
    """
    if h < 1 or w < 1 or tile < 1 or overlap < 0 or align < 1:
        raise ValueError(f"bad tile plan arguments: h={h} w={w} tile={tile} overlap={overlap} align={align}")
    rows = [(c, _window(*c, h, overlap, align)) for c in _cores(h, tile)]
    cols = [(c, _window(*c, w, overlap, align)) for c in _cores(w, tile)]
    return [Tile((*cy, *cx), (*wy, *wx)) for cy, wy in rows for cx, wx in cols]


def _ramp(length: int, core: tuple[int, int], window: tuple[int, int], n: int, feather: int, s: int) -> torch.Tensor:
    """1-D blend weight over a window's output (HR px): 1 inside the core, linear over `feather` across seams."""
    u = torch.arange(window[0] * s, window[0] * s + length, dtype=torch.float32) + 0.5
    f = feather * s
    weight = torch.ones(length)
    if core[0] > 0:
        weight = weight * ((u - core[0] * s) / f + 0.5).clamp(0, 1)
    if core[1] < n:
        weight = weight * ((core[1] * s - u) / f + 0.5).clamp(0, 1)
    return weight


def enhance_tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tile: int,
    overlap: int,
    scale: int = SCALE,
    feather: int = 0,
) -> torch.Tensor:
    """Run `fn` ((B,3,h,w) -> (B,3,scale*h,scale*w)) over `x` (B,3,H,W) tile by tile; returns (B,3,scale*H,scale*W).

    `tile`: LR core side; `overlap`: LR context on each side (use >= GFN_REACH for output equal to the untiled
    one within 1/255); `feather`: LR width of a linear cross-fade across each seam (0 = crop, exact; at most
    2 * overlap). The output has fn's dtype and device.
    """
    if x.dim() != 4:
        raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    if not 0 <= feather <= 2 * overlap:
        raise ValueError(f"feather must be in [0, 2 * overlap], got {feather} with overlap {overlap}")
    b, _, h, w = x.shape
    s = scale
    plan = tile_plan(h, w, tile, overlap)
    if len(plan) == 1:  # the frame fits in one tile: no copy of the output
        return fn(x)
    out = weights = None
    for t in plan:
        (cy0, cy1, cx0, cx1), (wy0, wy1, wx0, wx1) = t.core, t.window
        y = fn(x[..., wy0:wy1, wx0:wx1])  # (B, 3, s*(wy1-wy0), s*(wx1-wx0))
        if y.dim() != 4 or y.shape[0] != b or y.shape[-2:] != (s * (wy1 - wy0), s * (wx1 - wx0)):
            raise ValueError(f"fn returned {tuple(y.shape)} for a {wy1 - wy0}x{wx1 - wx0} tile (scale {s})")
        if out is None:
            dtype = y.dtype
            if feather:  # weighted sums in fp32, whatever fn returns
                out = torch.zeros(b, y.shape[1], s * h, s * w, device=y.device)
                weights = torch.zeros(s * h, s * w, device=y.device)
            else:  # the cores partition the frame: every output pixel is written exactly once
                out = y.new_empty(b, y.shape[1], s * h, s * w)
        if not feather:
            out[..., s * cy0 : s * cy1, s * cx0 : s * cx1] = y[
                ..., s * (cy0 - wy0) : s * (cy1 - wy0), s * (cx0 - wx0) : s * (cx1 - wx0)
            ]
            continue
        wy = _ramp(y.shape[-2], (cy0, cy1), (wy0, wy1), h, feather, s)
        wx = _ramp(y.shape[-1], (cx0, cx1), (wx0, wx1), w, feather, s)
        weight = (wy[:, None] * wx[None, :]).to(y.device)
        out[..., s * wy0 : s * wy1, s * wx0 : s * wx1] += y.float() * weight
        weights[s * wy0 : s * wy1, s * wx0 : s * wx1] += weight
    if feather:
        out = (out / weights).to(dtype)
    return out


def pixel_budget(device: torch.device | str, precision: str = "fp32", safety: float = SAFETY) -> int:
    """The most LR pixels (B * H * W) one GFN forward should get on `device`, from its free memory now.

    CUDA: `torch.cuda.mem_get_info` plus what torch's caching allocator holds but does not use. CPU:
    MemAvailable from /proc/meminfo (4 GiB if unreadable). Divided by the measured peak bytes per LR pixel.
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    else:
        free = mem_available() or 4 << 30  # no /proc/meminfo: assume 4 GiB
    per_px = BYTES_PER_LR_PIXEL.get(precision, BYTES_PER_LR_PIXEL["fp32"])
    return max(0, int(free * safety / per_px))


Forward = Callable[[torch.Tensor], torch.Tensor]


def tiled(call: Forward, tile: int, overlap: int) -> Forward:
    """`call` (float NCHW in [0, 1] -> its 4x) run tile by tile (channels_last tiles, float32 out): a forward pass
    of the same shape for frames over the budget (models/enhancer.py passes it where it would pass the network)."""

    def fn(t: torch.Tensor) -> torch.Tensor:
        return call(t.contiguous(memory_format=torch.channels_last)).float()

    return lambda x: enhance_tiled(fn, x, tile=tile, overlap=overlap, scale=SCALE)


def auto_tile_side(
    h: int,
    w: int,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    overlap: int | None = None,
    *,
    budget: int | None = None,
) -> int:
    """0 when an h x w frame fits the budget whole; else the largest core side whose window fits (>= MIN_TILE).
    `budget` (LR pixels) is measured on `device` when not given."""
    if budget is None:
        budget = pixel_budget(device, precision)
    if h * w <= budget:
        return 0
    overlap = DEFAULT_OVERLAP if overlap is None else overlap
    # a window is at most core + 2 * overlap + 2 * (align - 1) px a side
    side = math.isqrt(budget) - 2 * overlap - 2 * (PAD_MULTIPLE - 1)
    return max(MIN_TILE, side // PAD_MULTIPLE * PAD_MULTIPLE)


def default_overlap() -> int:
    return DEFAULT_OVERLAP
