"""gfn-convert: a fake official v2 checkpoint (reference class names, attribute tree and full shapes, pickled with
torch.save(model) as the authors did) converts onto the right parameters; hostile pickles are refused unexecuted."""

import os
import pickle
import subprocess
import sys
import types
import warnings
import zipfile

import pytest
import torch
from torch import nn

from gfn_stream.models import convert as cv
from gfn_stream.models.gfn import GFN
from gfn_stream.models.weights import load_model, read_weights


# ---- stand-ins for jacquelinelala/GFN networks/GFN_4x.py: same class names, attribute names, shapes, forward
def _conv(c_in, c_out, k, stride=1):
    return nn.Conv2d(c_in, c_out, k, stride, k // 2)


class _ResBLockDB(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.Sequential(_conv(c, c, 3), nn.ReLU(inplace=True), _conv(c, c, 3))

    def forward(self, x):
        return x + self.layers(x)


class _ResBlockSR(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.Sequential(_conv(c, c, 3), nn.LeakyReLU(0.2, inplace=True), _conv(c, c, 3))

    def forward(self, x):
        return x + self.layers(x)


class _DeblurringMoudle(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = _conv(3, 64, 7)
        self.relu = nn.LeakyReLU(0.2, inplace=True)
        self.resBlock1 = nn.Sequential(*[_ResBLockDB(64) for _ in range(6)])
        self.conv2 = nn.Sequential(_conv(64, 128, 3, 2), nn.ReLU(inplace=True))
        self.resBlock2 = nn.Sequential(*[_ResBLockDB(128) for _ in range(6)])
        self.conv3 = nn.Sequential(_conv(128, 256, 3, 2), nn.ReLU(inplace=True))
        self.resBlock3 = nn.Sequential(*[_ResBLockDB(256) for _ in range(6)])
        self.deconv1 = nn.Sequential(nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.ReLU(inplace=True))
        self.deconv2 = nn.Sequential(nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(inplace=True), _conv(64, 64, 7))
        self.convout = nn.Sequential(_conv(64, 64, 3), nn.ReLU(inplace=True), _conv(64, 3, 3))

    def forward(self, x):
        c1 = self.relu(self.conv1(x))
        c2 = self.conv2(self.resBlock1(c1) + c1)
        c3 = self.conv3(self.resBlock2(c2) + c2)
        feature = self.deconv2(self.deconv1(self.resBlock3(c3) + c3))
        return feature, self.convout(feature + c1)


class _SRMoudle(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = _conv(3, 64, 7)
        self.relu = nn.LeakyReLU(0.2, inplace=True)
        self.resBlock = nn.Sequential(*[_ResBlockSR(64) for _ in range(8)])
        self.conv2 = _conv(64, 64, 3)

    def forward(self, x):
        c1 = self.relu(self.conv1(x))
        return self.conv2(self.resBlock(c1)) + c1


class _GateMoudle(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = _conv(131, 64, 3)
        self.relu = nn.LeakyReLU(0.2, inplace=True)
        self.conv2 = _conv(64, 64, 1)

    def forward(self, x):
        return self.conv2(self.relu(self.conv1(x)))


class _ReconstructMoudle(nn.Module):
    def __init__(self):
        super().__init__()
        self.resBlock = nn.Sequential(*[_ResBLockDB(64) for _ in range(8)])
        self.conv1 = _conv(64, 256, 3)
        self.pixelShuffle1 = nn.PixelShuffle(2)
        self.relu1 = nn.LeakyReLU(0.1, inplace=True)
        self.conv2 = _conv(64, 256, 3)
        self.pixelShuffle2 = nn.PixelShuffle(2)
        self.relu2 = nn.LeakyReLU(0.2, inplace=True)
        self.conv3 = _conv(64, 64, 3)
        self.relu3 = nn.LeakyReLU(0.2, inplace=True)
        self.conv4 = _conv(64, 3, 3)

    def forward(self, x):
        y = self.relu1(self.pixelShuffle1(self.conv1(self.resBlock(x))))
        y = self.relu2(self.pixelShuffle2(self.conv2(y)))
        return self.conv4(self.relu3(self.conv3(y)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.deblurMoudle = nn.Sequential(_DeblurringMoudle())
        self.srMoudle = nn.Sequential(_SRMoudle())
        self.geteMoudle = nn.Sequential(_GateMoudle())
        self.reconstructMoudle = nn.Sequential(_ReconstructMoudle())

    def forward(self, x):  # gated=True, isTest=False, H and W multiples of 4
        feature, deblur_out = self.deblurMoudle(x)
        sr = self.srMoudle(x)
        scoremap = self.geteMoudle(torch.cat((feature, x, sr), 1))
        return deblur_out, self.reconstructMoudle(sr + scoremap * feature)


V2_CLASSES = (Net, _DeblurringMoudle, _SRMoudle, _GateMoudle, _ReconstructMoudle, _ResBLockDB, _ResBlockSR)


class V1Net(nn.Module):  # just enough of networks/GFN_x4.py's Net to be recognised
    def __init__(self):
        super().__init__()
        self.conv_input = nn.Conv2d(3, 64, 9, 1, 4)


def _save_as_reference(obj, path, module_name, classes, renames=None, **kwargs):
    """torch.save(obj) with the classes living in `module_name`, which is gone from sys.modules afterwards."""
    pkg, mod = types.ModuleType("networks"), types.ModuleType(module_name)
    saved = {c: (c.__module__, c.__name__, c.__qualname__) for c in classes}
    for c in classes:
        name = (renames or {}).get(c, c.__name__)
        c.__module__, c.__name__, c.__qualname__ = module_name, name, name
        setattr(mod, name, c)
    sys.modules["networks"], sys.modules[module_name] = pkg, mod
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # legacy format: "couldn't retrieve source code for container"
            torch.save(obj, path, **kwargs)
    finally:
        del sys.modules["networks"], sys.modules[module_name]
        for c, (m, n, q) in saved.items():
            c.__module__, c.__name__, c.__qualname__ = m, n, q
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():
        for p in net.parameters():  # distinct random values everywhere, biases included
            p.normal_(0.0, 0.03)
    d = tmp_path_factory.mktemp("official")
    zip_pkl = _save_as_reference(net, d / "GFN_epoch_55.pkl", "networks.GFN_4x", V2_CLASSES)
    legacy = d / "legacy" / "GFN_epoch_55.pkl"
    legacy.parent.mkdir()
    _save_as_reference(net, legacy, "networks.GFN_4x", V2_CLASSES, _use_new_zipfile_serialization=False)
    return net, zip_pkl, legacy


def _assert_same_network(net, path):
    model = load_model(path)
    ref = {k: v for k, v in net.state_dict().items()}
    ours = model.state_dict()
    assert len(ref) == len(ours) == 168
    # every one of our tensors equals exactly one reference tensor, and each reference tensor is used once
    used = set()
    for name, t in ours.items():
        hits = [k for k, v in ref.items() if v.shape == t.shape and torch.equal(v, t)]
        assert len(hits) == 1, (name, hits)
        used.add(hits[0])
    assert used == set(ref)
    # spot checks of the renaming, written out independently of convert.V2_KEYS
    for r, o in [
        ("deblurMoudle.0.conv1.weight", "deblur.head.weight"),
        ("deblurMoudle.0.resBlock3.5.layers.2.bias", "deblur.scale3.5.conv2.bias"),
        ("deblurMoudle.0.deconv1.0.weight", "deblur.up1.weight"),
        ("deblurMoudle.0.deconv2.2.weight", "deblur.feature.weight"),
        ("deblurMoudle.0.convout.2.bias", "deblur.out2.bias"),
        ("srMoudle.0.resBlock.7.layers.0.weight", "sr_features.blocks.7.conv1.weight"),
        ("srMoudle.0.conv2.weight", "sr_features.tail.weight"),
        ("geteMoudle.0.conv1.weight", "gate.conv1.weight"),
        ("reconstructMoudle.0.conv1.weight", "reconstruct.up1.weight"),
        ("reconstructMoudle.0.conv4.bias", "reconstruct.conv4.bias"),
    ]:
        assert torch.equal(ref[r], ours[o]), (r, o)
    # and the converted network computes what the reference computes
    x = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref_lr, ref_hr = net(x)
        hr, lr = model.forward_train(x)
    torch.testing.assert_close(hr, ref_hr, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(lr, ref_lr, rtol=1e-4, atol=1e-5)
    assert model.gated and model.config == GFN().config


def test_zip_format_checkpoint_converts_onto_the_right_parameters(reference, tmp_path, capsys):
    net, pkl, _ = reference
    assert "networks.GFN_4x" not in sys.modules
    assert cv.main([str(pkl), str(tmp_path / "w.safetensors")]) == 0
    assert "12,210,438 parameters; 45 activation slopes match" in capsys.readouterr().out
    _assert_same_network(net, tmp_path / "w.safetensors")
    assert read_weights(tmp_path / "w.safetensors")[2]["converted_from"] == "GFN_epoch_55.pkl"


def test_legacy_format_checkpoint_converts_via_the_console_script(reference, tmp_path):
    net, _, legacy = reference
    assert open(legacy, "rb").read(2) == b"\x80\x02"  # the torch <= 1.5 magic-number format, not a zip
    out = tmp_path / "w.safetensors"
    run = subprocess.run(
        [sys.executable, "-m", "gfn_stream.models.convert", str(legacy), str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    _assert_same_network(net, out)


def test_zip_download_wrapper_and_bare_state_dict(reference, tmp_path):
    net, _, legacy = reference
    wrapper = tmp_path / "GFN_epoch_55.pkl.zip"
    with zipfile.ZipFile(wrapper, "w") as z:
        z.write(legacy, "GFN_epoch_55.pkl")
    model, info = cv.load_official(wrapper)
    assert info["slopes_checked"] == 45
    sd = tmp_path / "state.pth"
    torch.save(net.state_dict(), sd)
    model2, info2 = cv.load_official(sd)
    assert info2["slopes_checked"] == 0
    for a, b in zip(model.state_dict().values(), model2.state_dict().values()):
        assert torch.equal(a, b)


def test_wrong_slope_or_missing_tensor_is_named(reference, tmp_path):
    net, _, _ = reference
    rec = net.reconstructMoudle[0]
    rec.relu1.negative_slope = 0.2
    try:
        bad = _save_as_reference(net, tmp_path / "slope.pkl", "networks.GFN_4x", V2_CLASSES)
    finally:
        rec.relu1.negative_slope = 0.1
    with pytest.raises(cv.ConvertError, match=r"reconstructMoudle\.0\.relu1.*slope 0\.2.*reconstruct\.act1"):
        cv.load_official(bad)
    sd = dict(net.state_dict())
    del sd["geteMoudle.0.conv2.bias"]
    sd["extra.weight"] = torch.zeros(1)
    torch.save(sd, tmp_path / "sd.pth")
    named = r"unknown reference keys: extra\.weight.*missing reference keys: geteMoudle\.0\.conv2\.bias"
    with pytest.raises(cv.ConvertError, match=named):
        cv.load_official(tmp_path / "sd.pth")


def test_v1_checkpoint_is_refused_naming_the_differences(tmp_path):
    path = _save_as_reference(
        {"epoch": 1, "model": V1Net()}, tmp_path / "GFN_4x.pth", "networks.GFN_x4", (V1Net,), {V1Net: "Net"}
    )
    with pytest.raises(cv.ConvertError) as err:
        cv.load_official(path)
    msg = str(err.value)
    assert "v1" in msg and "conv_input.weight is [64, 3, 9, 9]" in msg and "residual2" in msg and "upscale4x" in msg


class _Evil:
    def __init__(self, call, arg):
        self.call, self.arg = call, arg

    def __reduce__(self):
        return self.call, (self.arg,)


def _payloads(marker):
    shell = _Evil(os.system, f"touch {marker}")
    code = _Evil(eval, f"open({str(marker)!r}, 'w').close()")
    return {
        "raw pickle, os.system": lambda p: p.write_bytes(pickle.dumps(shell, protocol=2)),
        "torch zip, os.system": lambda p: torch.save({"model": shell}, p),
        "torch legacy, builtins.eval": lambda p: torch.save(code, p, _use_new_zipfile_serialization=False),
        "state dict, subprocess": lambda p: torch.save(
            {"a": torch.zeros(1), "b": _Evil(subprocess.call, ["touch", str(marker)])}, p
        ),
    }


def test_malicious_pickles_are_refused_before_anything_runs(tmp_path, capsys):
    marker = tmp_path / "pwned"
    for i, (what, write) in enumerate(_payloads(marker).items()):
        path = tmp_path / f"evil{i}.pkl"
        write(path)
        with pytest.raises(cv.UnsafePickleError, match=r"refused to unpickle \S+\.(system|eval|call):"):
            cv.read_checkpoint(path)
        assert cv.main([str(path), str(tmp_path / f"out{i}.safetensors")]) == 1, what
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "refused to unpickle" in err and "Traceback" not in err, what
        assert not marker.exists(), what
        assert not (tmp_path / f"out{i}.safetensors").exists()


def test_torchscript_archive_is_refused(tmp_path):
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated
        torch.jit.save(torch.jit.script(nn.ReLU()), str(path))
    with pytest.raises(cv.ConvertError, match="TorchScript"):
        cv.read_checkpoint(path)


def test_cli_errors_are_one_line(reference, tmp_path, capsys):
    _, pkl, _ = reference
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"GIF89a not a checkpoint")
    truncated = tmp_path / "cut.pkl"
    truncated.write_bytes(pkl.read_bytes()[:5000])
    exists = tmp_path / "exists.safetensors"
    exists.write_bytes(b"keep me")
    cases = [
        ([str(tmp_path / "missing.pkl"), str(tmp_path / "o1")], "input not found"),
        ([str(junk), str(tmp_path / "o2")], "not a PyTorch checkpoint"),
        ([str(truncated), str(tmp_path / "o3")], "cannot read|damaged"),
        ([str(pkl), str(exists)], "output exists"),
    ]
    for argv, message in cases:
        assert cv.main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("gfn-convert: error:") and err.count("\n") == 1, err
        assert any(m in err for m in message.split("|")), err
    assert exists.read_bytes() == b"keep me"
    assert cv.main([str(pkl), str(exists), "-y"]) == 0
    assert load_model(exists).config.channels == 64
