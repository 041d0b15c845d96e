"""gfn-stream: deblur and 4x-upscale video with GFN (Gated Fusion Network, BMVC 2018)."""

__version__ = "0.1.0"
