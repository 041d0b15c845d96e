import json

import pytest
import torch
from safetensors.torch import save_file

from gfn_stream.models import weights
from gfn_stream.models.gfn import GFN, GFNConfig
from gfn_stream.models.weights import WeightsError, load_model, read_weights, save_weights

TINY = GFNConfig(channels=8, deblur_blocks=1, sr_blocks=2, recon_blocks=1, gated=False)


def test_save_load_is_bit_exact_and_rebuilds_config(tmp_path):
    torch.manual_seed(1)
    net = GFN(TINY)
    path = save_weights(net, tmp_path / "w.safetensors", extra={"note": "test"})
    loaded = load_model(path)
    assert loaded.config == TINY and loaded.gated is False and not loaded.training
    for (k, a), (k2, b) in zip(net.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    assert read_weights(path)[2] == {"note": "test"}


def test_fp16_file_loads_into_fp32_model(tmp_path):
    net = GFN(TINY)
    path = save_weights(net, tmp_path / "w16.safetensors", dtype=torch.float16)
    loaded = load_model(path)
    p = next(loaded.parameters())
    assert p.dtype == torch.float32
    torch.testing.assert_close(p, next(net.parameters()).half().float())


def test_mismatched_keys_are_named(tmp_path):
    net = GFN(TINY)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state["bogus.weight"] = torch.zeros(1)
    del state["gate.conv1.bias"]
    state["reconstruct.conv4.weight"] = torch.zeros(3, 8, 5, 5)
    meta = {"format": weights.FORMAT, "gfn_config": json.dumps(TINY.to_dict())}
    save_file(state, str(tmp_path / "bad.safetensors"), metadata=meta)
    with pytest.raises(WeightsError) as err:
        load_model(tmp_path / "bad.safetensors")
    msg = str(err.value)
    assert "bogus.weight" in msg and "gate.conv1.bias" in msg and "reconstruct.conv4.weight" in msg


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_model(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file at all")
    with pytest.raises(WeightsError, match="not a safetensors"):
        load_model(junk)
    plain = tmp_path / "plain.safetensors"
    save_file({"a": torch.zeros(1)}, str(plain))
    with pytest.raises(WeightsError, match="gfn-stream metadata"):
        load_model(plain)


def test_missing_default_weights_error(monkeypatch, tmp_path):
    monkeypatch.setattr(weights, "DEFAULT_WEIGHTS", tmp_path / "none.safetensors")
    with pytest.raises(WeightsError, match="no default weights"):
        weights.load_model()
