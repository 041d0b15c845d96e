"""GFN: Gated Fusion Network for joint image deblurring and 4x super-resolution.

Zhang, Lai, Ma, Wang, Yang, Zhang. "Gated Fusion Network for Joint Image Deblurring and
Super-Resolution", BMVC 2018. This is the authors' "v2" network (`networks/GFN_4x.py`,
released as GFN_epoch_55), layer for layer, written anew with the paper's module names:

    x (LR, blurry) ──► deblur ───────► deblur_feature ─┐        ┌─► lr_deblur (aux. output)
                  └──► sr_features ─► sr_feature ──────┼─► gate ─► fusion ─► reconstruct ─► HR (4x)

fusion = sr_feature + gate(deblur_feature, x, sr_feature) ⊙ deblur_feature  (no sigmoid).
With the gate switched off (training steps 1-2), fusion = sr_feature + deblur_feature.
With `bicubic_skip` (gfn-stream's shipped weights, not the paper) HR = bicubic(x) + reconstruct(fusion), and with
`luma_residual` the residual goes to luma only (the colours are bicubic's).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .gfn_config import GFNConfig  # the network's width, depth and options (what a weights file stores)

SCALE = 4  # output is 4x the input in each dimension
PAD_MULTIPLE = 4  # the deblur encoder downsamples twice by 2


def _conv(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=True)


class ResBlock(nn.Module):
    """conv3x3 → activation → conv3x3, plus identity. No scaling, nothing after the add."""

    def __init__(self, channels: int, act: nn.Module):
        super().__init__()
        self.conv1 = _conv(channels, channels, 3)
        self.act = act
        self.conv2 = _conv(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


def _blocks(n: int, channels: int, slope: float | None) -> nn.Sequential:
    """n residual blocks; slope None = ReLU blocks (deblur/reconstruct), else LeakyReLU(slope) (SR)."""
    return nn.Sequential(
        *(ResBlock(channels, nn.ReLU() if slope is None else nn.LeakyReLU(slope)) for _ in range(n))
    )


class DeblurModule(nn.Module):
    """Asymmetric residual encoder-decoder on the LR grid (reference `_DeblurringMoudle`)."""

    def __init__(self, cfg: GFNConfig):
        super().__init__()
        c = cfg.channels
        self.head = _conv(3, c, 7)
        self.head_act = nn.LeakyReLU(0.2)
        self.scale1 = _blocks(cfg.deblur_blocks, c, None)
        self.down1 = _conv(c, 2 * c, 3, stride=2)
        self.scale2 = _blocks(cfg.deblur_blocks, 2 * c, None)
        self.down2 = _conv(2 * c, 4 * c, 3, stride=2)
        self.scale3 = _blocks(cfg.deblur_blocks, 4 * c, None)
        self.up1 = nn.ConvTranspose2d(4 * c, 2 * c, 4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1)
        self.feature = _conv(c, c, 7)
        self.out1 = _conv(c, c, 3)
        self.out2 = _conv(c, 3, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (deblur_feature, lr_deblur). H and W must be multiples of 4."""
        head = self.head_act(self.head(x))
        s1 = self.scale1(head) + head
        d2 = F.relu(self.down1(s1))  # H/2
        s2 = self.scale2(d2) + d2
        d3 = F.relu(self.down2(s2))  # H/4
        s3 = self.scale3(d3) + d3
        u1 = F.relu(self.up1(s3))  # H/2
        u2 = F.relu(self.up2(u1))  # H
        feature = self.feature(u2)
        lr_deblur = self.out2(F.relu(self.out1(feature + head)))
        return feature, lr_deblur


class SRFeatures(nn.Module):
    """SR feature branch: 7x7 head, LeakyReLU residual blocks, 3x3 conv, long skip (`_SRMoudle`)."""

    def __init__(self, cfg: GFNConfig):
        super().__init__()
        c = cfg.channels
        self.head = _conv(3, c, 7)
        self.head_act = nn.LeakyReLU(0.2)
        self.blocks = _blocks(cfg.sr_blocks, c, 0.2)
        self.tail = _conv(c, c, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.head_act(self.head(x))
        return self.tail(self.blocks(head)) + head


class Gate(nn.Module):
    """Gate map from (deblur_feature, LR input, sr_feature): 3x3 conv, LeakyReLU 0.2, 1x1 conv (`_GateMoudle`)."""

    def __init__(self, cfg: GFNConfig):
        super().__init__()
        c = cfg.channels
        self.conv1 = _conv(2 * c + 3, c, 3)
        self.act = nn.LeakyReLU(0.2)
        self.conv2 = _conv(c, c, 1)

    def forward(self, deblur_feature: torch.Tensor, x: torch.Tensor, sr_feature: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(torch.cat((deblur_feature, x, sr_feature), dim=1))))


class Reconstruct(nn.Module):
    """Residual blocks (no long skip), two conv + pixel-shuffle x2 steps, two convs (`_ReconstructMoudle`)."""

    def __init__(self, cfg: GFNConfig):
        super().__init__()
        c = cfg.channels
        self.blocks = _blocks(cfg.recon_blocks, c, None)
        self.up1 = _conv(c, 4 * c, 3)
        self.shuffle1 = nn.PixelShuffle(2)
        self.act1 = nn.LeakyReLU(0.1)
        self.up2 = _conv(c, 4 * c, 3)
        self.shuffle2 = nn.PixelShuffle(2)
        self.act2 = nn.LeakyReLU(0.2)
        self.conv3 = _conv(c, c, 3)
        self.act3 = nn.LeakyReLU(0.2)
        self.conv4 = _conv(c, 3, 3)

    def forward(self, fusion: torch.Tensor) -> torch.Tensor:
        y = self.blocks(fusion)
        y = self.act1(self.shuffle1(self.up1(y)))
        y = self.act2(self.shuffle2(self.up2(y)))
        return self.conv4(self.act3(self.conv3(y)))


class GFN(nn.Module):
    """The full network. `forward` maps (B,3,H,W) in [0,1] to (B,3,4H,4W) for any H, W >= 1."""

    def __init__(self, config: GFNConfig | None = None):
        super().__init__()
        self.config = config or GFNConfig()
        self.gated = self.config.gated  # a module setting; flip it between training steps
        self.deblur = DeblurModule(self.config)
        self.sr_features = SRFeatures(self.config)
        self.gate = Gate(self.config)
        self.reconstruct = Reconstruct(self.config)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The reference init: Conv2d weight ~ N(0, sqrt(2 / (k*k*C_out))), bias 0; ConvTranspose2d keeps torch's."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                k_h, k_w = m.kernel_size
                m.weight.data.normal_(0.0, math.sqrt(2.0 / (k_h * k_w * m.out_channels)))
                m.bias.data.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_train(x)[0]

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (hr, lr_deblur): the 4x output and the LR deblurred image (for the auxiliary loss).

        The network runs in its parameters' dtype (an fp32 input to an fp16 network is cast, as the ONNX export's
        `--half` graph does); the bicubic skip is taken from `x` as given, in fp32. This is the only forward pass:
        models/onnx_export.py traces it with symbolic H and W."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"GFN expects a (B, 3, H, W) tensor, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        padded = pad_to_multiple(x.to(self.deblur.head.weight.dtype), PAD_MULTIPLE)
        deblur_feature, lr_deblur = self.deblur(padded)
        sr_feature = self.sr_features(padded)
        if self.gated:
            fusion = sr_feature + self.gate(deblur_feature, padded, sr_feature) * deblur_feature
        else:
            fusion = sr_feature + deblur_feature
        hr = self.reconstruct(fusion)[..., : SCALE * h, : SCALE * w]
        return add_skip(self.config, hr, x), lr_deblur[..., :h, :w]


LUMA = (0.299, 0.587, 0.114)


def add_skip(config: GFNConfig, hr: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The network's output as configured: as is, or bicubic(x) + the residual (RGB, or luma on all channels)."""
    if not config.bicubic_skip:
        return hr
    r = hr.float()
    if config.luma_residual:
        r = (r * r.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True).expand(-1, 3, -1, -1)
    return r + bicubic_upscale(x)


def bicubic_upscale(x: torch.Tensor) -> torch.Tensor:
    """4x bicubic (a = -0.75, pixel centres aligned, edges replicated: cv2.INTER_CUBIC's kernel) in fp32."""
    with torch.autocast(x.device.type, enabled=False):
        return F.interpolate(x.float(), scale_factor=SCALE, mode="bicubic", align_corners=False)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the bottom/right edges to a multiple (reflect; replicate where the image is too small to reflect).

    No branch on whether padding is needed (a zero pad is a copy): with symbolic sizes torch.export settles the
    mode once from the sizes' bounds (reflect for every H, W >= `multiple`) instead of freezing the example's."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    mode = "reflect" if (ph < h and pw < w) else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
