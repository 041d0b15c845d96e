"""gfn-export: the ONNX graph is GFN's forward (ONNX Runtime against torch on CPU), for any H, W and batch."""

import numpy as np
import onnx
import onnxruntime  # noqa: F401  (a dev dependency: this test must run, not skip)
import pytest
import torch

from gfn_stream.models.gfn import GFN, GFNConfig
from gfn_stream.models.onnx_export import export_onnx, main, onnx_reference_error
from gfn_stream.models.weights import load_model, save_weights

SMALL = dict(channels=8, deblur_blocks=1, sr_blocks=1, recon_blocks=1)
BF16_TOL = 2**-8  # one bf16 rounding step of a value in [0.5, 1]
SHAPES = ((1, 3, 16, 16), (2, 3, 37, 45), (1, 3, 38, 43), (3, 3, 5, 7))


def _net(**cfg):
    torch.manual_seed(0)
    net = GFN(GFNConfig(**SMALL, **cfg)).eval()
    with torch.no_grad():  # the raw init has no trained scale: keep outputs in a range like real weights'
        for p in net.parameters():
            p.mul_(0.3)
    return net


@pytest.mark.parametrize("cfg", [dict(bicubic_skip=True), dict(bicubic_skip=True, luma_residual=True),
                                 dict(bicubic_skip=False), dict(gated=False)])
def test_onnx_runtime_matches_torch_at_any_size(tmp_path, cfg):
    net = _net(**cfg)
    path = export_onnx(net, tmp_path / "gfn.onnx")
    assert onnx_reference_error(net, path, SHAPES) < 1e-4  # fp32: rounding noise only


def test_the_bicubic_skip_is_torchs_bicubic_in_the_graph(tmp_path):
    model = onnx.load(str(export_onnx(_net(bicubic_skip=True), tmp_path / "gfn.onnx")))
    (resize,) = [n for n in model.graph.node if n.op_type == "Resize"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in resize.attribute}
    assert attrs["mode"] == b"cubic" and attrs["cubic_coeff_a"] == pytest.approx(-0.75)
    assert attrs["coordinate_transformation_mode"] in (b"half_pixel", b"pytorch_half_pixel")
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1] == 3 and all(isinstance(d, str) for d in (dims[0], dims[2], dims[3]))  # dynamic B, H, W


def test_shipped_weights_export_within_bf16_tolerance(tmp_path):
    net = load_model()
    path = export_onnx(net, tmp_path / "shipped.onnx")
    err = onnx_reference_error(net, path, ((1, 3, 36, 64), (2, 3, 30, 41)))
    assert err < BF16_TOL, err


def test_half_export_keeps_fp32_io_and_runs(tmp_path):
    import openvino as ov

    net = _net(bicubic_skip=True)
    path = export_onnx(net, tmp_path / "gfn16.onnx", half=True)
    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)
    x = torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        ref = net(x).numpy()
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    got = compiled({0: x.numpy()})[0]
    assert np.abs(got - ref).max() < 1e-2  # fp16 network


def test_cli_exports_and_checks(tmp_path, capsys):
    weights = save_weights(_net(bicubic_skip=True), tmp_path / "w.safetensors")
    out = tmp_path / "cli.onnx"
    assert main(["--weights", str(weights), "--out", str(out), "--check"]) == 0
    assert out.is_file() and "max |onnxruntime - torch fp32|" in capsys.readouterr().out
    assert main(["--weights", str(tmp_path / "missing.safetensors"), "--out", str(out)]) == 2
