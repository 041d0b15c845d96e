"""--precision int8 (OpenVINO + NNCF post-training INT8): close to fp32 on real frames, the recipe's float bicubic
skip, the quantized model cached by weights, runtime versions and precision, one-line errors."""

import json
import sys

import nncf  # noqa: F401  (a dev dependency: these tests must run, not skip)
import numpy as np
import openvino as ov
import pytest
import torch

from gfn_stream.models import backend_int8
from gfn_stream.models.backend_cache import weights_digest
from gfn_stream.models.enhancer import Enhancer
from gfn_stream.models.gfn import GFN, GFNConfig
from gfn_stream.models.precision import resolve_precision
from gfn_stream.models.weights import load_model, save_weights
from gfn_stream.train.metrics import psnr

SMALL = dict(channels=8, deblur_blocks=1, sr_blocks=1, recon_blocks=1, bicubic_skip=True, luma_residual=True)


def _weights(path, seed=0):
    torch.manual_seed(seed)
    net = GFN(GFNConfig(**SMALL))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0.3)
    return save_weights(net, path)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return _weights(tmp_path_factory.mktemp("w") / "tiny.safetensors")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def _demo_crops():
    frames = backend_int8.demo_frames()
    return [frames[5][40:100, 60:140], frames[30][100:160, 200:280]]


def test_int8_is_close_to_bf16_and_cached_by_weights_and_precision(weights, cache):
    kw = dict(device="cpu", backend="openvino", cache_dir=str(cache), tile=0)
    frames = _demo_crops()
    ref = Enhancer(str(weights), precision="fp32", **kw).enhance_batch(frames)
    enh = Enhancer(str(weights), precision="int8", **kw)
    assert enh.precision == "int8" and enh.backend == "openvino" and enh.net is None
    out = enh.enhance_batch(frames)
    for a, b in zip(out, ref):
        assert a.shape == b.shape and a.dtype == np.uint8
        assert psnr(a, b) > 40.0  # within a level or two of fp32 almost everywhere
    version = ov.__version__.split("-")[0]
    digest = weights_digest(load_model(weights))
    (xml,) = (cache / f"openvino-{version}" / "int8").glob("*.xml")
    assert xml.name.endswith(f"-nncf{nncf.__version__}-{backend_int8.RECIPE}.xml") and xml.with_suffix(".bin").is_file()
    info = json.loads(xml.with_suffix(".json").read_text())
    assert info["preset"] == "performance" and info["keep_float"] == ["skip"] and info["fake_quantize_ops"] > 0
    blobs = sorted(p.name for p in (cache / f"openvino-{version}").iterdir() if p.name.endswith("-int8"))
    assert blobs and all("x60x80-" in b for b in blobs)  # one compiled blob per input size, keyed by precision
    assert xml.name.startswith(digest)


def test_int8_model_is_reused_and_new_weights_get_their_own(weights, cache, tmp_path, monkeypatch):
    frames = _demo_crops()[:1]
    kw = dict(device="cpu", precision="int8", backend="openvino", cache_dir=str(cache), tile=0)
    first = Enhancer(str(weights), **kw).enhance_batch(frames)[0]
    version = ov.__version__.split("-")[0]
    before = sorted((cache / f"openvino-{version}" / "int8").glob("*.xml"))

    def no_quantize(*a, **k):
        raise AssertionError("quantized again")

    monkeypatch.setattr(backend_int8, "quantize", no_quantize)
    again = Enhancer(str(weights), **kw).enhance_batch(frames)[0]
    assert np.array_equal(first, again)
    monkeypatch.undo()
    other = _weights(tmp_path / "other.safetensors", seed=1)
    Enhancer(str(other), **kw).enhance_batch(frames)
    after = sorted((cache / f"openvino-{version}" / "int8").glob("*.xml"))
    assert len(after) == len(before) + 1


def test_the_recipe_keeps_the_bicubic_skip_in_float(weights, cache, tmp_path):
    from gfn_stream.models.backend_cache import cached_onnx

    net = load_model(weights)
    onnx_path = cached_onnx(net, weights_digest(net), cache)
    model = ov.Core().read_model(str(onnx_path))
    groups = backend_int8.op_groups(model)
    types = {op.get_friendly_name(): op.get_type_name() for op in model.get_ops()}
    assert sorted(types[n] for n in groups["skip"]) == ["Add", "Interpolate"]
    assert {types[n] for n in groups["tail"]} >= {"Interpolate", "Add", "ReduceSum", "Multiply"}
    assert len(groups["ends"]) == 3 and len(groups["gate"]) == 2  # two 7x7 heads + the RGB conv; the gate's two
    patches = backend_int8.calibration_inputs(8, side=16, seed=3)
    assert all(p.shape == (1, 3, 16, 16) and p.dtype == np.float32 and 0 <= p.min() <= p.max() <= 1 for p in patches)
    assert np.array_equal(patches[1], backend_int8.calibration_inputs(8, side=16, seed=3)[1])  # seeded
    info = backend_int8.quantize(onnx_path, tmp_path / "q.xml", calib=patches)
    q = ov.Core().read_model(str(tmp_path / "q.xml"))
    interp = next(op for op in q.get_ops() if op.get_type_name() == "Interpolate")
    after = [t.get_node().get_type_name() for t in interp.output(0).get_target_inputs()]
    assert after == ["Add"] and interp.input_value(0).get_node().get_type_name() == "Parameter"  # all float
    convs = [op for op in q.get_ops() if op.get_type_name() == "Convolution"]
    # every conv INT8: its weights int8 constants scaled back (Multiply), its input quantized (FakeQuantize, also
    # before the heads' Pad and the gate's Concat)
    assert all(c.input_value(1).get_node().get_type_name() == "Multiply" for c in convs)
    assert {c.input_value(0).get_node().get_type_name() for c in convs} <= {"FakeQuantize", "Pad", "Concat"}
    assert info["fake_quantize_ops"] > len(convs) and info["float_ops"] == sorted(groups["skip"])


def test_int8_one_line_errors(weights, monkeypatch):
    with pytest.raises(ValueError, match="--backend openvino"):
        Enhancer(str(weights), device="cpu", precision="int8", backend="torch")
    with pytest.raises(ValueError, match="CPU"):
        resolve_precision("int8", torch.device("cuda"))
    assert resolve_precision("auto", torch.device("cpu")) != "int8"  # never picked on its own
    monkeypatch.setitem(sys.modules, "nncf", None)
    with pytest.raises(RuntimeError, match="pip install"):
        backend_int8.require_nncf()


def test_gfn_eval_scores_int8(weights, cache, tmp_path):
    """gfn-eval --precision int8 --backend openvino: the suite's numbers of the workers' INT8 path."""
    from gfn_stream.train.dataset import write_rgb
    from gfn_stream.train.evaluate import main
    from gfn_stream.train.suite import SUITE_FORMAT

    for i, lr in enumerate(_demo_crops()):
        write_rgb(tmp_path / "suite" / "sharp" / "LR" / f"{i}.png", lr)
        write_rgb(tmp_path / "suite" / "sharp" / "HR" / f"{i}.png", np.repeat(np.repeat(lr, 4, 0), 4, 1))
    (tmp_path / "suite" / "suite.json").write_text(json.dumps({"format": SUITE_FORMAT,
                                                               "conditions": {"sharp": {"kind": "photos"}}}))
    main(["--suite", str(tmp_path / "suite"), "--weights", str(weights), "--precision", "int8", "--backend",
          "openvino", "--cache-dir", str(cache), "--json", str(tmp_path / "q.json")])
    got = json.loads((tmp_path / "q.json").read_text())
    assert got["precision"] == "int8" and got["backend"] == "openvino" and got["sharp"]["items"] == 2
    with pytest.raises(SystemExit) as exc:  # int8 on the torch backend: exit 2, one line
        main(["--suite", str(tmp_path / "suite"), "--weights", str(weights), "--precision", "int8"])
    assert exc.value.code == 2
