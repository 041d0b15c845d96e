"""10-bit and HDR through the whole pipeline (real encoded files, the real CLI): a 10-bit HDR10 clip comes out
10-bit with its colour tags, mastering display and content light level, and a 10-bit gradient keeps more than
256 distinct levels (8 bits anywhere on the way would leave at most 220 in tv range)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from gfn_stream.media import hdr as hdr_meta

STREAM = [sys.executable, "-m", "gfn_stream.pipeline.cli"]
W, H, N = 256, 16, 4
MASTER = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"


def make_hdr10_clip(path: Path, transfer: int = 16) -> Path:
    """A 10-bit BT.2020 / PQ clip (HEVC) whose luma is a horizontal ramp over every 10-bit tv level, with
    mastering display and content light level metadata (transfer=18: HLG)."""
    ramp = np.rint(np.linspace(64, 940, W)).astype(np.uint16)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx265", rate=25)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p10le"
        vs.options = {"crf": "4", "preset": "ultrafast",
                      "x265-params": f"log-level=error:hdr10=1:repeat-headers=1:master-display={MASTER}"
                                     ":max-cll=1000,400"}
        cc = vs.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 9, transfer, 9, 1
        for i in range(N):
            frame = av.VideoFrame(W, H, "yuv420p10le")
            for k, plane in enumerate(frame.planes):
                rows = np.frombuffer(plane, np.uint16).reshape(plane.height, plane.line_size // 2)
                if k == 0:
                    rows[:, :W] = ramp
                else:
                    rows[:] = 512
            frame.pts = i
            frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range = 9, transfer, 9, 1
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return path


def run(*args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([*STREAM, *args, "-y", "-q"], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    return r


def levels(path: Path) -> tuple[av.VideoFrame, int]:
    """The first frame and the number of distinct luma levels in its middle rows."""
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
    plane = frame.planes[0]
    dtype = np.uint16 if frame.format.name.endswith("10le") else np.uint8
    y = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // np.dtype(dtype).itemsize)
    return frame, len(np.unique(y[plane.height // 2 - 4: plane.height // 2 + 4, 16: plane.width - 16]))


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """The smallest GFN, seed-0 random weights: the float path through a real network, quickly."""
    import torch

    from gfn_stream.models.gfn import GFN, GFNConfig
    from gfn_stream.models.weights import save_weights

    torch.manual_seed(0)
    tiny = GFNConfig(channels=4, deblur_blocks=1, sr_blocks=1, recon_blocks=1, bicubic_skip=True)
    return save_weights(GFN(tiny), tmp_path_factory.mktemp("w") / "tiny.safetensors")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_hdr10_clip(tmp_path_factory.mktemp("hdr") / "hdr10.mkv")


@pytest.mark.parametrize("model", ["bicubic", "gfn"])
def test_a_10_bit_hdr10_clip_comes_out_10_bit_with_its_tags_and_levels(clip, tmp_path, model, weights):
    out = tmp_path / "out.mkv"
    extra = ["--weights", str(weights)] if model == "gfn" else []
    run(str(clip), str(out), "--model", model, "--preset", "ultrafast", *extra)
    frame, count = levels(out)
    assert frame.format.name == "yuv420p10le" and (frame.width, frame.height) == (4 * W, 4 * H)
    assert (frame.color_primaries, frame.color_trc, frame.colorspace) == (9, 16, 9)  # BT.2020, PQ, BT.2020 NCL
    meta = hdr_meta.read(frame)
    assert meta and meta["master_display"] == MASTER and meta["max_cll"] == "1000,400"
    assert count > 256, f"{count} distinct levels"


def test_8_bit_output_when_asked_still_carries_the_tags(clip, tmp_path):
    out = tmp_path / "out8.mp4"
    run(str(clip), str(out), "--model", "bicubic", "--preset", "ultrafast", "--pix-fmt", "yuv420p")
    frame, count = levels(out)
    assert frame.format.name == "yuv420p" and count <= 256
    assert (frame.color_primaries, frame.color_trc, frame.colorspace) == (9, 16, 9)


def test_hlg_tags_are_carried(tmp_path):
    clip = make_hdr10_clip(tmp_path / "hlg.mkv", transfer=18)
    out = tmp_path / "hlg_out.mp4"
    run(str(clip), str(out), "--model", "bicubic", "--preset", "ultrafast")
    frame, count = levels(out)
    assert frame.format.name == "yuv420p10le" and count > 256
    assert (frame.color_primaries, frame.color_trc, frame.colorspace) == (9, 18, 9)  # BT.2020, HLG
