"""What a worker does to the pictures of a batch, around the model: the colour conversions and resampling that
used to be the decoder's and the encoder's, done once, here (docs/protocol.md, "Pixel formats").

    work = PictureWork(enhancer)               # None: plain bicubic; else a models.enhancer.Enhancer
    answers = work.run(jobs)                   # [(answer header, picture)] in the order of the jobs

- rgb24 / rgb48le frames: RGB in, RGB out (rgb48le through the model as float32, never 8 bits).
- yuv420p / yuv420p10le without --outscale / --compare, with --model bicubic: the planes are resampled directly by
  swscale (what ffmpeg's scale filter does); on a GPU: the model's output becomes planes there (Enhancer.enhance_yuv);
  either way in the colour the frame asks for (`ocol`).
- otherwise the planes become RGB at the small size (8-bit: swscale, as the source reads video; 10-bit: float32),
  go through the model (and media.compose.finish for --outscale / --compare), and become planes again in the
  colour asked for (8-bit: swscale; 10-bit: float32 rounded once to 10 bits).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..media import planes as yuv
from ..media.frames import Planes
from ..media.plane_resample import resample
from ..transport import protocol

logger = logging.getLogger(__name__)
SCALE = 4


class PictureWork:
    """The worker's per-batch work around its model (loaded by nodes/worker.py): `enhancer` is a
    models.enhancer.Enhancer, or None for plain bicubic (no torch in the process)."""

    def __init__(self, enhancer: Any | None):
        self.enhancer = enhancer
        self.kind = "bicubic" if enhancer is None else getattr(enhancer, "kind", "gfn")

    def enhance_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """4x RGB (uint8, or float32 in [0, 1]) of RGB frames of one size."""
        if self.enhancer is None:
            from ..media.compose import bicubic  # the planes path (bicubic on YUV) never loads OpenCV

            return [bicubic(i, (SCALE * i.shape[1], SCALE * i.shape[0])) for i in images]
        return self.enhancer.enhance_batch(images)

    def run(self, jobs: list[Any]) -> list[tuple[protocol.FrameHeader, Any]]:
        """The answers to a batch of engine Jobs (header, picture), in order."""
        answers: list[Any] = [None] * len(jobs)
        as_planes: dict[tuple, list[int]] = {}  # YUV frames answered without RGB on the host, by colour asked for
        through_rgb = []
        for i, job in enumerate(jobs):
            fh = job.header
            if fh.pix_fmt in protocol.YUV_FORMATS and not _reshaped(fh) and (self.enhancer is None or self.on_gpu()):
                as_planes.setdefault((fh.pix_fmt, *_colour_out(fh)), []).append(i)
            else:
                through_rgb.append(i)
        for (fmt, mx, rng), idx in as_planes.items():
            for i, data in zip(idx, self._planes_out([jobs[i] for i in idx], fmt, mx, rng)):
                answers[i] = (_answer_header(jobs[i].header, mx, rng), data)
        if through_rgb:
            small = [_rgb_in(jobs[i]) for i in through_rgb]
            for i, lr, sr in zip(through_rgb, small, self.enhance_batch(small)):
                fh = jobs[i].header
                if _reshaped(fh):  # --outscale / --size / --compare: resampled or beside bicubic's
                    from ..media.compose import finish

                    sr = finish(lr, sr, fh.extra.get("out"), compare=bool(fh.extra.get("cmp")), model=self.kind)
                answers[i] = _rgb_out(fh, sr)
        return answers

    def on_gpu(self) -> bool:
        return self.enhancer is not None and getattr(getattr(self.enhancer, "device", None), "type", "") == "cuda"

    def _planes_out(self, jobs: list[Any], fmt: str, mx: int, rng: int) -> list[Any]:
        """The 4x planes of YUV frames in one colour: bicubic resampled by swscale, or the model's output converted
        on the GPU (Enhancer.enhance_yuv)."""
        if self.enhancer is None:
            return [resample(_planes(j), SCALE * j.header.width, SCALE * j.header.height, matrix=mx,
                                 color_range=rng).data for j in jobs]
        return self.enhancer.enhance_yuv([_rgb_in(j) for j in jobs], fmt, mx, rng)


def _reshaped(fh: protocol.FrameHeader) -> bool:
    """--outscale / --size / --compare: the 4x picture is finished in RGB (media/compose.py)."""
    return "out" in fh.extra or bool(fh.extra.get("cmp"))


def _colour_out(fh: protocol.FrameHeader) -> tuple[int, int]:
    want = fh.color_out or {"mx": fh.matrix, "rng": fh.color_range}
    return want["mx"], want["rng"]


def _planes(job: Any) -> Planes:
    fh = job.header
    return Planes(fh.pix_fmt, list(job.image), fh.matrix, fh.color_range)


def _rgb_in(job: Any) -> np.ndarray:
    """The model's input: uint8 RGB for 8-bit frames, float32 in [0, 1] for deeper ones."""
    fh = job.header
    if fh.pix_fmt in protocol.YUV_FORMATS:
        return yuv.to_rgb(_planes(job))
    if fh.pix_fmt == "rgb48le":
        return job.image.astype(np.float32) / 65535.0
    return job.image


def _rgb_out(fh: protocol.FrameHeader, rgb: np.ndarray) -> tuple[protocol.FrameHeader, Any]:
    """The answer in the frame's own format (YUV: the colour it asks for)."""
    if fh.pix_fmt in protocol.YUV_FORMATS:
        mx, rng = _colour_out(fh)
        if rgb.dtype != np.uint8 or fh.pix_fmt != "yuv420p" or rng != 1:
            rgb = rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else rgb
            out = yuv.from_float(np.clip(rgb, 0, 1), fh.pix_fmt, mx, rng)
        else:
            out = yuv.from_rgb(rgb, fh.pix_fmt, mx)
        return _answer_header(fh, mx, rng), out.data
    if fh.pix_fmt == "rgb48le":
        rgb = np.clip(np.rint(rgb * 65535.0), 0, 65535).astype(np.uint16)
    return _answer_header(fh, None, None), rgb


def _answer_header(fh: protocol.FrameHeader, mx: int | None, rng: int | None) -> protocol.FrameHeader:
    return protocol.FrameHeader(fh.seq, fh.pts, fh.time_base, 0, 0, pix_fmt=fh.pix_fmt, extra=fh.extra,
                                matrix=mx, color_range=rng, version=fh.version)
