"""GFNConfig: a GFN's width, depth and the options of gfn-stream's networks (the bicubic skip, the luma residual),
as a weights file stores it, checked when it is read (models/gfn.py builds the network from it)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from .. import fromdict

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GFNConfig:
    """Width and depth of a GFN. The defaults are the paper's network (12,210,438 parameters)."""

    channels: int = 64  # feature width; the deblur encoder uses 1x, 2x, 4x of it
    deblur_blocks: int = 6  # residual blocks at each of the deblur module's 3 scales
    sr_blocks: int = 8  # residual blocks in the SR feature branch
    recon_blocks: int = 8  # residual blocks in the reconstruction module
    gated: bool = True  # False: fusion = sr + deblur (training steps 1-2)
    # True: the output is bicubic(x) + reconstruct(fusion), the network predicts only what bicubic misses (not in
    # the paper; the authors' weights are False). The skip is computed and added in fp32 outside autocast, so a
    # flat or smooth input comes out exact and bf16/fp16 rounding touches only the small residual.
    bicubic_skip: bool = False
    # True (with bicubic_skip): the network adds detail to luma only, HR = bicubic(x) + Y(r) on all three channels,
    # Y(r) = 0.299 r_R + 0.587 r_G + 0.114 r_B. Adding the same value to R, G and B leaves Cb and Cr of every YUV
    # matrix unchanged, so the colours are bicubic's: no chroma halos or colour shifts on clean input.
    luma_residual: bool = False

    def __post_init__(self) -> None:
        if self.luma_residual and not self.bicubic_skip:
            raise ValueError("GFN config: luma_residual needs bicubic_skip")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "GFNConfig":
        """The config stored in a weights file, through the shared loader (fromdict.py); every size >= 1."""
        config = fromdict.build(cls, values, "GFN config")
        for key, value in asdict(config).items():
            if not isinstance(value, bool) and value < 1:
                raise ValueError(f"GFN config key {key!r} must be >= 1, got {value}")
        return config
