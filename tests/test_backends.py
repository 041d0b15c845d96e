"""--backend: OpenVINO on CPU (runs in CI, not skipped), TensorRT on CUDA (skips without it), the cache."""

import numpy as np
import openvino  # noqa: F401  (a dependency: these tests must run, not skip)
import pytest
import torch

from gfn_stream.models.backend_cache import weights_digest
from gfn_stream.models.backends import resolve_backend
from gfn_stream.models.enhancer import Enhancer
from gfn_stream.models.gfn import GFN, GFNConfig
from gfn_stream.models.precision import cpu_has_bf16
from gfn_stream.models.weights import load_model, save_weights

SMALL = dict(channels=8, deblur_blocks=1, sr_blocks=1, recon_blocks=1)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    net = GFN(GFNConfig(**SMALL, bicubic_skip=True))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0.3)
    return save_weights(net, tmp_path_factory.mktemp("w") / "tiny.safetensors")


def frames(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in shapes]


def levels(a, b):
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def test_backend_rule_and_one_line_errors():
    assert resolve_backend("auto", CPU) == "openvino"  # installed with the package
    assert resolve_backend("torch", CPU) == "torch"
    with pytest.raises(ValueError, match="CUDA"):
        resolve_backend("tensorrt", CPU)
    with pytest.raises(ValueError, match="unknown backend"):
        resolve_backend("onnx", CPU)
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="CPU"):
            resolve_backend("openvino", torch.device("cuda"))


def test_openvino_fp32_is_torch_fp32(weights, tmp_path):
    imgs = frames((36, 44), (37, 45), (36, 44))
    ref = Enhancer(str(weights), device="cpu", precision="fp32").enhance_batch(imgs)
    enh = Enhancer(str(weights), device="cpu", precision="fp32", backend="openvino", cache_dir=str(tmp_path))
    assert enh.backend == "openvino" and enh.net is None
    for a, b in zip(enh.enhance_batch(imgs), ref):
        assert a.shape == b.shape and levels(a, b) <= 1


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bf16")
def test_openvino_bf16_within_bf16_rounding_of_torch(weights, tmp_path):
    (img,) = frames((40, 52))
    ref = Enhancer(str(weights), device="cpu", precision="fp32").enhance(img)
    enh = Enhancer(str(weights), device="cpu", precision="bf16", backend="openvino", cache_dir=str(tmp_path))
    torch_bf16 = Enhancer(str(weights), device="cpu", precision="bf16").enhance(img)
    err = levels(enh.enhance(img), ref)
    assert err <= max(3, levels(torch_bf16, ref) + 1)


def test_openvino_tiled_frame_matches_whole_frame(weights, tmp_path):
    (img,) = frames((70, 90))
    kw = dict(device="cpu", precision="fp32", backend="openvino", cache_dir=str(tmp_path))
    whole = Enhancer(str(weights), tile=0, **kw).enhance(img)
    tiled = Enhancer(str(weights), tile=40, tile_overlap=24, **kw).enhance(img)
    assert levels(whole, tiled) <= 1


def test_cache_is_keyed_by_weights_backend_version_and_size(weights, tmp_path):
    kw = dict(device="cpu", precision="fp32", backend="openvino", cache_dir=str(tmp_path))
    Enhancer(str(weights), **kw).enhance_batch(frames((20, 24), (20, 24)))
    digest = weights_digest(load_model(weights))
    (onnx_file,) = (tmp_path / "onnx").glob("*.onnx")
    assert onnx_file.name.startswith(digest)
    (ov_dir,) = tmp_path.glob("openvino-*")
    assert [p.name for p in ov_dir.iterdir()] == [f"{digest}-2x20x24-f32"]
    assert any(ov_dir.joinpath(f"{digest}-2x20x24-f32").iterdir())  # OpenVINO's compiled blob
    stamp = onnx_file.stat().st_mtime_ns
    Enhancer(str(weights), **kw).enhance(frames((20, 24))[0])  # the same weights: the export is reused
    assert onnx_file.stat().st_mtime_ns == stamp
    assert {p.name for p in ov_dir.iterdir()} == {f"{digest}-2x20x24-f32", f"{digest}-1x20x24-f32"}


def test_digest_is_the_weights(weights):
    a, b = load_model(weights), load_model(weights)
    assert weights_digest(a) == weights_digest(b)
    with torch.no_grad():
        b.reconstruct.conv4.bias.add_(1e-3)
    assert weights_digest(a) != weights_digest(b)


def test_tensorrt_without_cuda_is_a_clear_error(weights):
    if torch.cuda.is_available():
        pytest.skip("CUDA is here: the GPU test below covers tensorrt")
    with pytest.raises(ValueError, match="CUDA"):
        Enhancer(str(weights), device="cpu", backend="tensorrt")


@pytest.mark.gpu
def test_tensorrt_fp16_matches_torch(weights, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    pytest.importorskip("tensorrt")
    imgs = frames((36, 64), (36, 64))
    ref = Enhancer(str(weights), device="cuda", precision="fp32").enhance_batch(imgs)
    enh = Enhancer(str(weights), device="cuda", backend="tensorrt", cache_dir=str(tmp_path))
    for a, b in zip(enh.enhance_batch(imgs), ref):
        assert levels(a, b) <= 3
