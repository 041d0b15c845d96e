import numpy as np
import pytest
import torch

from gfn_stream.models.enhancer import Enhancer
from gfn_stream.models.gfn import GFN


def frames(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in shapes]


def test_batch_equals_one_by_one_and_keeps_order(tiny_weights):
    enh = Enhancer(str(tiny_weights), device="cpu", precision="fp32")
    imgs = frames((12, 16), (9, 7), (12, 16), (12, 16))
    together = enh.enhance_batch(imgs)
    alone = [enh.enhance(f) for f in imgs]
    for a, b, f in zip(together, alone, imgs):
        assert a.shape == (4 * f.shape[0], 4 * f.shape[1], 3) and a.dtype == np.uint8
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_fp32_output_matches_the_network(tiny_weights, tiny_config):
    enh = Enhancer(str(tiny_weights), device="cpu", precision="fp32")
    (img,) = frames((10, 14))
    out = enh.enhance(img)
    net = GFN(tiny_config)
    net.load_state_dict(enh.net.state_dict())
    with torch.no_grad():
        ref = net(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255)[0]
    ref = (ref.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1


def test_bicubic_model_needs_no_weights():
    enh = Enhancer(model="bicubic")
    (img,) = frames((5, 6))
    assert enh.enhance(img).shape == (20, 24, 3)


def test_bad_frames_and_settings_are_refused(tiny_weights):
    enh = Enhancer(model="bicubic")
    with pytest.raises(ValueError, match="uint8"):
        enh.enhance(np.zeros((4, 4, 3), np.float64))
    with pytest.raises(ValueError, match="unknown model"):
        Enhancer(model="esrgan")
    with pytest.raises(ValueError):
        Enhancer(str(tiny_weights), device="cpu", precision="fp16")


def test_float_frames_keep_more_than_8_bits(tiny_weights):
    """Deep video (10 bits) goes through the model as float32 in [0, 1] and comes back unrounded."""
    enh = Enhancer(str(tiny_weights), device="cpu", precision="fp32")
    ramp = np.linspace(0.2, 0.3, 16 * 16 * 3, dtype=np.float32).reshape(16, 16, 3)
    out = enh.enhance(ramp)
    assert out.dtype == np.float32 and out.shape == (64, 64, 3)
    assert 0 <= out.min() and out.max() <= 1
    assert len(np.unique(np.rint(out * 1023))) > len(np.unique(np.rint(out * 255)))  # finer than 8-bit steps
    as_uint8 = enh.enhance(np.rint(ramp * 255).astype(np.uint8)).astype(np.float32) / 255
    assert np.abs(out - as_uint8).mean() < 2 / 255


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_pinned_path_matches_cpu(tiny_weights):
    gpu = Enhancer(str(tiny_weights), device="cuda", precision="fp16")
    cpu = Enhancer(str(tiny_weights), device="cpu", precision="fp32")
    imgs = frames((12, 16), (12, 16))
    for a, b in zip(gpu.enhance_batch(imgs), cpu.enhance_batch(imgs)):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2
    assert gpu._cuda.pinned.inp is not None and gpu._cuda.pinned.inp.is_pinned()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_float_frames_come_back_one_per_frame(tiny_weights):
    """Deep frames on CUDA skip the uint8 pinned buffers (models/cuda_batches.py) and still give one 4x frame each."""
    gpu = Enhancer(str(tiny_weights), device="cuda", precision="fp32")
    imgs = [f.astype(np.float32) / 255 for f in frames((12, 16), (12, 16), (12, 16))]
    outs = gpu.enhance_batch(imgs)
    assert len(outs) == 3 and all(o.shape == (48, 64, 3) and o.dtype == np.float32 for o in outs)
