"""How a GFN starts training: the run's network config, the scaled residual init, the identity init and the
zero-residual start for weights that gain the bicubic skip."""

from __future__ import annotations

import torch

from ..models.gfn import GFN, GFNConfig, ResBlock
from .config import TrainConfig


def model_config(cfg: TrainConfig, gated: bool) -> GFNConfig:
    m = cfg.model
    return GFNConfig(m.channels, m.deblur_blocks, m.sr_blocks, m.recon_blocks, gated=gated,
                     bicubic_skip=m.bicubic_skip, luma_residual=m.luma_residual)


@torch.no_grad()
def start_residual_at_zero(model: GFN) -> None:
    """Zero the reconstruction's last conv: with the bicubic skip the output is then exactly bicubic(x), and
    every earlier layer keeps what it learned (the first steps train the last conv on those features)."""
    model.reconstruct.conv4.weight.zero_()
    model.reconstruct.conv4.bias.zero_()


@torch.no_grad()
def identity_init(model: GFN, other_scale: float = 0.01) -> None:
    """Make feature channels 0-2 carry the RGB input through the network so the output starts as nearest 4x.

    SR head copies x into channels 0-2 (inputs are >= 0, so the LeakyReLUs pass them); every residual block,
    the SR tail and the deblur feature conv write nothing into those channels; both conv + pixel-shuffle steps
    replicate them to the 2x2 sub-pixels; conv3 copies them; conv4 reads them (its other weights are scaled by
    `other_scale` so the rest of the network still gets gradients from the start). The architecture is unchanged:
    this is only a starting point, every weight trains.
    """
    rgb = range(3)

    def center(conv: torch.nn.Conv2d) -> tuple[int, int]:
        return conv.kernel_size[0] // 2, conv.kernel_size[1] // 2

    def silence(conv: torch.nn.Conv2d) -> None:  # output channels 0-2 get nothing from this conv
        conv.weight[:3] = 0
        conv.bias[:3] = 0

    sr, rec = model.sr_features, model.reconstruct
    cy, cx = center(sr.head)
    silence(sr.head)
    for c in rgb:
        sr.head.weight[c, c, cy, cx] = 1.0
    for block in list(sr.blocks) + list(rec.blocks):
        silence(block.conv2)
    silence(sr.tail)
    silence(model.deblur.feature)
    for up in (rec.up1, rec.up2):  # PixelShuffle(2): out channel k, sub-pixel s <- conv channel 4k + s
        cy, cx = center(up)
        for c in rgb:
            up.weight[4 * c : 4 * c + 4] = 0
            up.bias[4 * c : 4 * c + 4] = 0
            up.weight[4 * c : 4 * c + 4, c, cy, cx] = 1.0
    cy, cx = center(rec.conv3)
    silence(rec.conv3)
    for c in rgb:
        rec.conv3.weight[c, c, cy, cx] = 1.0
    rec.conv4.weight.mul_(other_scale)
    rec.conv4.weight[:, :3] = 0
    rec.conv4.bias.zero_()
    cy, cx = center(rec.conv4)
    for c in rgb:
        rec.conv4.weight[c, c, cy, cx] = 1.0


def scale_residual_init(model: GFN, scale: float) -> None:
    """Multiply the second conv of every residual block by `scale` (after the reference init)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, ResBlock):
                m.conv2.weight.mul_(scale)

