"""--backend reaches the model: gfn-stream and gfn-worker take it, and a file job runs through OpenVINO."""

from __future__ import annotations

import os
import subprocess
import sys

import av
import pytest
import torch

from gfn_stream.models.gfn import GFN, GFNConfig
from gfn_stream.models.weights import save_weights
from gfn_stream.nodes import worker_node
from gfn_stream.pipeline import cli
from media import make_clip

CLI = [sys.executable, "-m", "gfn_stream.pipeline.cli"]


def test_the_option_is_a_setting_of_both_commands():
    cfg = cli.config_from_args(cli.build_parser().parse_args(["in.mp4", "out.mp4", "--backend", "openvino"]))
    assert cfg.model.backend == "openvino"
    assert cli.config_from_args(cli.build_parser().parse_args(["in.mp4", "out.mp4"])).model.backend == "torch"
    args = worker_node.build_parser().parse_args(["dealer+connect:tcp://127.0.0.1:5555", "--backend", "auto",
                                                  "--cache-dir", "/tmp/c"])
    assert (args.backend, args.cache_dir) == ("auto", "/tmp/c")
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["in.mp4", "out.mp4", "--backend", "onnx"])


@pytest.mark.slow
def test_a_file_job_through_openvino(tmp_path):
    torch.manual_seed(0)
    net = GFN(GFNConfig(channels=8, deblur_blocks=1, sr_blocks=1, recon_blocks=1, bicubic_skip=True))
    weights = save_weights(net, tmp_path / "w.safetensors")
    clip = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=6)
    out = tmp_path / "out.mp4"
    env = {**os.environ, "GFN_CACHE_DIR": str(tmp_path / "cache")}
    r = subprocess.run([*CLI, str(clip.path), str(out), "--weights", str(weights), "--device", "cpu",
                        "--backend", "openvino", "-q"], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 6 and (frames[0].width, frames[0].height) == (128, 96)
    assert list((tmp_path / "cache").glob("openvino-*/*x24x32-*"))  # compiled by the worker, in the cache
