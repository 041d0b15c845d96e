import pytest
import torch

from gfn_stream.models.gfn import GFN, GFNConfig, count_parameters
from gfn_stream.models.precision import autocast, cpu_has_bf16, prepare_model, resolve_precision


def test_paper_network_has_exactly_the_reference_parameter_count():
    net = GFN()
    assert count_parameters(net) == 12_210_438
    assert len(list(net.parameters())) == 168
    per_module = {name: count_parameters(m) for name, m in net.named_children()}
    assert per_module == {"deblur": 10_568_579, "sr_features": 637_248, "gate": 79_680, "reconstruct": 924_931}


def test_reference_layer_details():
    net = GFN()
    assert net.deblur.head.kernel_size == (7, 7) and net.deblur.feature.kernel_size == (7, 7)
    assert net.deblur.down1.stride == (2, 2) and net.deblur.down2.stride == (2, 2)
    assert net.deblur.up1.kernel_size == (4, 4) and net.deblur.up1.stride == (2, 2)
    assert net.deblur.head_act.negative_slope == 0.2
    assert isinstance(net.deblur.scale1[0].act, torch.nn.ReLU)
    assert isinstance(net.sr_features.blocks[0].act, torch.nn.LeakyReLU)
    assert net.sr_features.blocks[0].act.negative_slope == 0.2
    assert net.gate.conv1.in_channels == 131 and net.gate.conv2.kernel_size == (1, 1)
    assert net.reconstruct.act1.negative_slope == 0.1 and net.reconstruct.act2.negative_slope == 0.2
    assert isinstance(net.reconstruct.blocks[0].act, torch.nn.ReLU)
    # init: conv weights ~ N(0, sqrt(2/(k*k*Cout))), bias 0
    w = net.deblur.scale3[0].conv1.weight
    assert abs(w.std().item() - (2 / (9 * 256)) ** 0.5) < 0.002
    assert net.deblur.scale3[0].conv1.bias.abs().max().item() == 0


@pytest.mark.parametrize("h,w", [(37, 53), (1, 1), (2, 3), (4, 4), (17, 33)])
def test_any_input_size_gives_exactly_4x(h, w, tiny_config):
    net = GFN(tiny_config).eval()
    with torch.no_grad():
        hr, lr = net.forward_train(torch.rand(2, 3, h, w))
    assert hr.shape == (2, 3, 4 * h, 4 * w)
    assert lr.shape == (2, 3, h, w)


def test_gate_switch_changes_fusion_not_the_signature(tiny_config):
    torch.manual_seed(0)
    net = GFN(tiny_config).eval()
    x = torch.rand(1, 3, 16, 12)
    with torch.no_grad():
        gated = net(x)
        net.gated = False
        ungated = net(x)
        # gate off = fusion with a gate map of ones: check it by hand
        f, _ = net.deblur(x)
        ref = net.reconstruct(net.sr_features(x) + f)
    assert not torch.allclose(gated, ungated)
    torch.testing.assert_close(ungated, ref)


def test_gate_is_a_config_setting():
    assert GFN(GFNConfig(gated=False)).gated is False


def test_config_rejects_unknown_or_bad_keys():
    with pytest.raises(ValueError, match="unknown"):
        GFNConfig.from_dict({"chanels": 8})
    with pytest.raises(ValueError, match="must be int"):
        GFNConfig.from_dict({"channels": "8"})


def test_rejects_bad_input_shape(tiny_config):
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        GFN(tiny_config)(torch.rand(1, 4, 8, 8))


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bf16")
def test_bf16_channels_last_cpu_close_to_fp32(tiny_config):
    torch.manual_seed(0)
    net = GFN(tiny_config).eval()
    x = torch.rand(1, 3, 24, 20)
    with torch.no_grad():
        ref = net(x)
        dev = torch.device("cpu")
        fast = prepare_model(net, dev, "bf16")
        with autocast(dev, "bf16"):
            out = fast(x.contiguous(memory_format=torch.channels_last)).float()
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() < 0.05 * ref.abs().max().item() + 0.02


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fp16_cuda_close_to_fp32(tiny_config):
    torch.manual_seed(0)
    net = GFN(tiny_config).eval()
    x = torch.rand(1, 3, 24, 20)
    with torch.no_grad():
        ref = net(x)
        dev = torch.device("cuda")
        fast = prepare_model(net, dev, "fp16")
        out = fast(x.to(dev).half().contiguous(memory_format=torch.channels_last)).float().cpu()
    assert (out - ref).abs().max().item() < 0.02


def test_precision_resolution():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) in ("bf16", "fp32")
    assert resolve_precision("fp32", cpu) == "fp32"
    with pytest.raises(ValueError):
        resolve_precision("fp16", cpu)
    assert resolve_precision("int8", cpu) == "int8"  # the OpenVINO INT8 model (the backend is checked apart)
    with pytest.raises(ValueError):
        resolve_precision("int8", torch.device("cuda"))
    with pytest.raises(ValueError):
        resolve_precision("int4", cpu)


SMALL = dict(channels=8, deblur_blocks=1, sr_blocks=1, recon_blocks=1)


def test_bicubic_skip_starts_exactly_at_bicubic_and_survives_the_weights_file(tmp_path):
    import cv2
    import numpy as np

    from gfn_stream.models.enhancer import Enhancer
    from gfn_stream.models.weights import read_weights, save_weights
    from gfn_stream.train.model_init import start_residual_at_zero

    torch.manual_seed(0)
    net = GFN(GFNConfig(**SMALL, bicubic_skip=True))
    start_residual_at_zero(net)
    path = save_weights(net, tmp_path / "w.safetensors")
    assert read_weights(path)[0].bicubic_skip is True
    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (23, 37, 3), dtype=np.uint8), (0, 0), 1.5)
    for precision in ("fp32", "bf16") if cpu_has_bf16() else ("fp32",):
        out = Enhancer(str(path), device="cpu", precision=precision).enhance(frame)
        ref = cv2.resize(frame, (4 * 37, 4 * 23), interpolation=cv2.INTER_CUBIC)
        assert out.shape == ref.shape
        assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1, precision
    # the skip is part of the network: the same weights without it give a black picture
    plain = GFN(GFNConfig(**SMALL))
    plain.load_state_dict(net.state_dict())
    assert float(plain(torch.rand(1, 3, 8, 8)).detach().abs().max()) == 0.0


def test_bicubic_skip_keeps_a_flat_colour_exact_under_autocast():
    torch.manual_seed(0)
    net = GFN(GFNConfig(**SMALL, bicubic_skip=True)).eval()
    with torch.no_grad():
        net.reconstruct.conv4.weight.zero_()
        net.reconstruct.conv4.bias.fill_(0.25 / 255)  # a residual of a quarter level everywhere
        x = torch.full((1, 3, 16, 16), 201 / 255.0)  # bf16 cannot hold 201/255 + 0.25/255 (its step is ~0.5 level)
        with autocast(torch.device("cpu"), "bf16" if cpu_has_bf16() else "fp32"):
            y = net(x)
    assert y.dtype == torch.float32
    assert float((y * 255 - 201.25).abs().max()) < 0.02


def test_config_bicubic_skip_must_be_bool():
    with pytest.raises(ValueError):
        GFNConfig.from_dict({"bicubic_skip": 1})


def test_luma_residual_keeps_bicubic_colours_and_needs_the_skip():
    from gfn_stream.models.gfn import bicubic_upscale

    torch.manual_seed(0)
    net = GFN(GFNConfig(**SMALL, bicubic_skip=True, luma_residual=True)).eval()
    with torch.no_grad():
        net.reconstruct.conv4.weight.mul_(1e-3)
        x = torch.rand(1, 3, 12, 20) * 0.5 + 0.25  # mid-range: nothing clips
        y, base = net(x), bicubic_upscale(x)
    diff = y - base
    assert float(diff.abs().max()) > 1e-4  # the network does add detail
    # the same value on R, G and B: Cb and Cr (any matrix: their rows sum to zero) are bicubic's
    assert torch.allclose(diff[:, 0], diff[:, 1], atol=1e-6) and torch.allclose(diff[:, 0], diff[:, 2], atol=1e-6)
    with pytest.raises(ValueError, match="luma_residual needs bicubic_skip"):
        GFNConfig(luma_residual=True)
