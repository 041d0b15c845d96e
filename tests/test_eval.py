"""Metrics on known cases, gfn-eval on a tiny folder, and the shipped weights on one held-out crop."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gfn_stream.models.gfn import GFN
from gfn_stream.models.weights import DEFAULT_WEIGHTS, save_weights
from gfn_stream.train.dataset import read_rgb, write_rgb
from gfn_stream.train.evaluate import bicubic_up, evaluate, main, montage
from gfn_stream.train.metrics import psnr, ssim

DATA = Path(__file__).resolve().parent / "data" / "heldout"


def test_psnr_of_a_known_constant_error():
    ref = np.full((32, 32, 3), 100, np.uint8)
    out = ref + np.uint8(1)  # error 1/255 everywhere: PSNR = 20 log10(255) = 48.1308 dB
    assert psnr(out, ref) == pytest.approx(20 * np.log10(255.0), abs=1e-9)
    assert psnr(ref, ref) == float("inf")
    # the 6 px border does not count: errors there are ignored
    out2 = ref.copy()
    out2[:6] = 0
    out2[:, -6:] = 255
    assert psnr(out2, ref) == float("inf")
    # float input is quantised first (round half up): 100.4/255 -> 100, 100.6/255 -> 101
    assert psnr(np.full((32, 32, 3), 100.4 / 255), ref) == float("inf")
    assert psnr(np.full((32, 32, 3), 100.6 / 255), ref) == pytest.approx(48.1308036, abs=1e-6)


def test_ssim_known_cases():
    rng = np.random.default_rng(0)
    img = (rng.random((40, 40, 3)) * 255).astype(np.uint8)
    assert ssim(img, img) == pytest.approx(1.0)
    # a constant offset leaves structure and contrast terms at 1; luminance term = (2 mu mu' + C1) / (mu^2 + mu'^2 + C1)
    flat = np.full((40, 40, 3), 128, np.uint8)
    lum = (2 * (128 / 255) * (138 / 255) + 1e-4) / ((128 / 255) ** 2 + (138 / 255) ** 2 + 1e-4)
    assert ssim(flat + np.uint8(10), flat) == pytest.approx(lum, abs=1e-9)
    noisy = np.clip(img.astype(int) + rng.integers(-40, 40, img.shape), 0, 255).astype(np.uint8)
    assert 0.0 < ssim(noisy, img) < 0.99


def test_gfn_eval_on_a_tiny_folder(tmp_path, capsys, tiny_weights):
    rng = np.random.default_rng(1)
    for i in range(2):
        hr = (rng.random((48, 40, 3)) * 255).astype(np.uint8)
        write_rgb(tmp_path / "set" / "HR" / f"{i}.png", hr)
        write_rgb(tmp_path / "set" / "LR_Blur" / f"{i}.png", hr[::4, ::4])
    weights = tiny_weights
    result = evaluate(tmp_path / "set", weights, precision="fp32", montage_dir=tmp_path / "m", threads=1)
    assert result["images"] == 2 and set(result["mean"]) == {"gfn", "bicubic", "bicubic_matlab"}
    lr = read_rgb(tmp_path / "set" / "LR_Blur" / "0.png")
    hr = read_rgb(tmp_path / "set" / "HR" / "0.png")
    assert result["per_image"][0]["bicubic"]["psnr"] == pytest.approx(psnr(bicubic_up(lr), hr))
    assert read_rgb(tmp_path / "m" / "0_montage.png").shape == (48, 4 * 40, 3)
    lr = np.zeros((12, 10, 3), np.uint8)
    big = np.zeros((48, 40, 3), np.uint8)
    assert montage(lr, big, big, big, max_width=24, max_height=32).shape == (32, 4 * 24, 3)
    assert montage(lr, big, big, big, max_width=100).shape == (48, 4 * 40, 3)
    main(["--data", str(tmp_path / "set"), "--weights", str(weights), "--precision", "fp32",
          "--json", str(tmp_path / "r.json"), "--montage", str(tmp_path / "m2"), "--montage-width", "24",
          "--montage-height", "32", "--threads", "1"])
    assert read_rgb(tmp_path / "m2" / "0_montage.png").shape == (32, 4 * 24, 3)
    assert json.loads((tmp_path / "r.json").read_text())["images"] == 2


def test_gfn_eval_runs_the_workers_inference_path(tmp_path, tiny_config):
    """gfn-eval's numbers are the Enhancer's outputs: the same bytes gfn-stream's workers produce."""
    from gfn_stream.models.enhancer import Enhancer

    rng = np.random.default_rng(3)
    hr = (rng.random((48, 40, 3)) * 255).astype(np.uint8)
    write_rgb(tmp_path / "set" / "HR" / "0.png", hr)
    write_rgb(tmp_path / "set" / "LR_Blur" / "0.png", hr[::4, ::4])
    torch.manual_seed(1)
    weights = save_weights(GFN(tiny_config), tmp_path / "w.safetensors")
    result = evaluate(tmp_path / "set", weights, precision="fp32")
    out = Enhancer(str(weights), precision="fp32").enhance(hr[::4, ::4])
    assert result["per_image"][0]["gfn"]["psnr"] == pytest.approx(psnr(out, hr), abs=1e-9)


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="no shipped weights in models/weights/ yet")
def test_shipped_weights_beat_bicubic_on_a_heldout_crop():
    lr, hr = read_rgb(DATA / "lr_blur.png"), read_rgb(DATA / "hr.png")
    from gfn_stream.models.enhancer import Enhancer

    out = Enhancer().enhance(lr)
    assert out.shape == hr.shape
    gain = psnr(out, hr) - psnr(bicubic_up(lr), hr)
    assert gain > 1.0, f"shipped weights gain only {gain:.2f} dB over bicubic on the held-out crop"


def _tiny_suite(root: Path) -> Path:
    """A two-condition suite in gfn-eval --build-suite's format, 16x20 LR frames."""
    from gfn_stream.train.suite import SUITE_FORMAT

    rng = np.random.default_rng(4)
    for cond in ("sharp", "video_h264"):
        for i in range(3):
            hr = (rng.random((64, 80, 3)) * 255).astype(np.uint8)
            write_rgb(root / cond / "HR" / f"{i:04d}.png", hr)
            write_rgb(root / cond / "LR" / f"{i:04d}.png", hr[::4, ::4])
    meta = {"format": SUITE_FORMAT, "conditions": {"sharp": {"kind": "photos"}, "video_h264": {"kind": "video"}}}
    (root / "suite.json").write_text(json.dumps(meta))
    return root


def test_gfn_eval_backend_is_the_workers_backend(tmp_path, tiny_weights):
    """gfn-eval --backend openvino scores the Enhancer gfn-stream's workers build with --backend openvino."""
    pytest.importorskip("openvino")  # a dependency of the package: skips only where it cannot be installed
    from gfn_stream.models.enhancer import Enhancer
    from gfn_stream.train.suite import load_suite, score

    suite = _tiny_suite(tmp_path / "suite")
    cache = tmp_path / "cache"
    main(["--suite", str(suite), "--weights", str(tiny_weights), "--precision", "fp32", "--backend", "openvino",
          "--cache-dir", str(cache), "--json", str(tmp_path / "ov.json"), "--threads", "1"])
    got = json.loads((tmp_path / "ov.json").read_text())
    assert got["backend"] == "openvino" and got["precision"] == "fp32"
    assert any((cache / "onnx").glob("*.onnx"))  # the export the workers' OpenVINO backend compiles
    enh = Enhancer(str(tiny_weights), precision="fp32", backend="openvino", cache_dir=str(cache))
    want = score(load_suite(suite), enh, sharpen=False)
    for cond in ("sharp", "video_h264"):
        assert got[cond]["gfn"]["psnr"] == pytest.approx(want[cond]["gfn"]["psnr"], abs=1e-9)
    main(["--suite", str(suite), "--weights", str(tiny_weights), "--precision", "fp32",
          "--json", str(tmp_path / "torch.json")])
    assert json.loads((tmp_path / "torch.json").read_text())["backend"] == "torch"  # the default, as gfn-stream
    data = tmp_path / "set"
    for name, lr, hr in load_suite(suite)["sharp"]:
        write_rgb(data / "LR_Blur" / f"{name}.png", lr)
        write_rgb(data / "HR" / f"{name}.png", hr)
    result = evaluate(data, tiny_weights, precision="fp32", backend="openvino", cache_dir=str(cache))
    assert result["backend"] == "openvino"
    assert result["mean"]["gfn"]["psnr"] == pytest.approx(want["sharp"]["gfn"]["psnr"], abs=1e-9)
    if not torch.cuda.is_available():  # a backend this machine cannot run: exit 2 with a one-line error
        with pytest.raises(SystemExit) as exc:
            main(["--suite", str(suite), "--weights", str(tiny_weights), "--backend", "tensorrt"])
        assert exc.value.code == 2
