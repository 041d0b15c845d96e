"""gfn-train on a tiny network and a tiny patch set made here: loss goes down, resume is exact, configs parse."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gfn_stream.models.weights import load_model, read_weights
from gfn_stream.train.config import Stage, TrainConfig, config_from_dict, load_config, reference_stages
from gfn_stream.train.dataset import ShardWriter, write_rgb
from gfn_stream.train.imresize import imresize, to_uint8
from gfn_stream.train.state import load_checkpoint
from gfn_stream.train.train import main, pixel_loss, stage_lr, train

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _tiny_set(root: Path, n: int = 12, hr: int = 32) -> None:
    rng = np.random.default_rng(0)
    w = ShardWriter(root, hr_size=hr, shard_size=5)
    for _ in range(n):
        small = rng.random((hr // 4, hr // 4, 3))
        sharp = np.clip(imresize(small, 4.0), 0, 1)
        blurry = (sharp + np.roll(sharp, 2, axis=1)) / 2
        w.add(to_uint8(imresize(blurry, 0.25)), to_uint8(imresize(sharp, 0.25)), to_uint8(sharp))
    w.close()
    for i in range(2):
        img = to_uint8(np.clip(imresize(rng.random((6, 6, 3)), 4.0), 0, 1))  # 24x24 HR
        write_rgb(root.parent / "val" / "HR" / f"{i}.png", img)
        write_rgb(root.parent / "val" / "LR_Blur" / f"{i}.png", to_uint8(imresize(img, 0.25)))


def _config(tmp_path: Path, out: str, steps=(6, 6), **run) -> TrainConfig:
    return config_from_dict({
        "model": {"channels": 8, "deblur_blocks": 1, "sr_blocks": 1, "recon_blocks": 1},
        "data": {"train": str(tmp_path / "set"), "val": str(tmp_path / "val"), "patch_size": 16, "batch_size": 4},
        "run": {"out": str(tmp_path / out), "precision": "fp32", "threads": 1, "log_every": 2, "val_every": 4,
                "ckpt_every": 1000, **run},
        "stage": [
            {"name": "off", "gated": False, "lambda_db": 0.5, "steps": steps[0], "lr": 1e-3, "lr_decay": 0.5,
             "decay_every": 4},
            {"name": "on", "gated": True, "lambda_db": 0.0, "steps": steps[1], "lr": 5e-4},
        ],
    })


@pytest.fixture()
def tiny(tmp_path):
    _tiny_set(tmp_path / "set")
    return tmp_path


def _losses(out: Path) -> list[float]:
    import json

    return [r["loss"] for r in map(json.loads, (out / "log.jsonl").read_text().splitlines()) if "loss" in r]


def test_loss_goes_down_and_exports(tiny):
    cfg = _config(tiny, "run", steps=(20, 4), export_best=False)
    summary = train(cfg, quiet=True)
    assert summary["step"] == 24
    losses = _losses(tiny / "run")
    assert losses[-1] < 0.5 * losses[0]
    model = load_model(summary["export"])  # fp16 weights file with the config in its metadata
    assert model.config.channels == 8 and model.gated
    conf, state, extra = read_weights(summary["export"])
    assert next(iter(state.values())).dtype == torch.float16 and "train_config" in extra


def test_resume_is_exact(tiny):
    straight = _config(tiny, "straight")
    train(straight, quiet=True)
    # the same run stopped after 5 steps (inside the first stage), then continued from its checkpoint
    first = _config(tiny, "split", steps=(6, 6))
    first.stage[1].steps = 0  # a config with fewer steps: stop early ...
    first.stage = first.stage[:1]
    first.stage[0].steps = 5
    train(first, quiet=True)
    ckpt = load_checkpoint(tiny / "split" / "last.pt")
    assert ckpt["step"] == 5 and "optimizer" in ckpt and ckpt["rng"]["numpy"][0] == "MT19937"
    train(_config(tiny, "split"), resume=tiny / "split" / "last.pt", quiet=True)  # ... then the full schedule
    a = load_checkpoint(tiny / "straight" / "last.pt")
    b = load_checkpoint(tiny / "split" / "last.pt")
    assert a["step"] == b["step"] == 12
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for k in a["optimizer"]["state"]:
        assert torch.equal(a["optimizer"]["state"][k]["exp_avg"], b["optimizer"]["state"][k]["exp_avg"])
    assert torch.equal(a["data_order"]["perm"], b["data_order"]["perm"])


def test_cli_resume_and_export_only(tiny, capsys):
    cfg_path = tiny / "cfg.toml"
    cfg_path.write_text(f"""
[model]
channels = 8
deblur_blocks = 1
sr_blocks = 1
recon_blocks = 1
[data]
train = "{tiny / 'set'}"
patch_size = 16
batch_size = 4
[run]
out = "{tiny / 'cli'}"
precision = "fp32"
threads = 1
export = "{tiny / 'cli' / 'w.safetensors'}"
[[stage]]
steps = 3
""")
    main(["--config", str(cfg_path), "--resume", "--quiet"])  # no checkpoint yet: starts fresh
    assert (tiny / "cli" / "w.safetensors").is_file()
    main(["--config", str(cfg_path), "--resume", "--quiet"])  # finished: resumes at the end, exports again
    (tiny / "cli" / "w.safetensors").unlink()
    main(["--resume", str(tiny / "cli" / "last.pt"), "--export-only"])
    assert (tiny / "cli" / "w.safetensors").is_file()


def test_config_errors_and_defaults(tmp_path):
    with pytest.raises(ValueError, match="unknown key"):
        config_from_dict({"data": {"bach_size": 4}})
    with pytest.raises(ValueError, match="unknown config section"):
        config_from_dict({"trainer": {}})
    with pytest.raises(ValueError, match="must be int"):
        config_from_dict({"data": {"batch_size": "16"}})
    with pytest.raises(ValueError, match="exactly one of epochs or steps"):
        config_from_dict({"stage": [{"epochs": 2, "steps": 3}]})
    assert config_from_dict({}).stage == reference_stages()


def test_shipped_configs_parse():
    gopro = load_config(CONFIGS / "train_gopro.toml")
    assert gopro.stage == reference_stages()  # the reference 3-step schedule
    assert (gopro.data.batch_size, gopro.data.patch_size, gopro.model.channels) == (16, 256, 64)
    synth = load_config(CONFIGS / "train_synthetic.toml")
    assert all(s.steps > 0 for s in synth.stage)
    finetune = load_config(CONFIGS / "train_synthetic_finetune.toml")
    assert finetune.optim.loss == "mse" and finetune.stage[0].schedule == "cosine"
    assert finetune.model.channels == synth.model.channels


def test_reference_lr_schedule():
    s1, s2, s3 = reference_stages()
    # per epoch (unit = 1 step here): step 1 halves every 7 epochs, step 3 divides by 10 every 25
    assert [stage_lr(s1, e, 1) for e in (0, 6, 7, 14, 21, 24)] == [1e-4, 1e-4, 5e-5, 2.5e-5, 1.25e-5, 1.25e-5]
    assert math.isclose(stage_lr(s2, 30, 1), 1e-5)
    assert math.isclose(stage_lr(s3, 54, 1), 5e-7)


def test_cosine_schedule():
    s = Stage("c", steps=100, lr=2e-4, schedule="cosine", lr_min=1e-6)
    assert stage_lr(s, 0, 1, 100) == pytest.approx(2e-4)
    assert stage_lr(s, 50, 1, 100) == pytest.approx((2e-4 + 1e-6) / 2)
    assert stage_lr(s, 100, 1, 100) == pytest.approx(1e-6)
    lrs = [stage_lr(s, i, 1, 100) for i in range(101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))  # monotone decay
    with pytest.raises(ValueError, match="schedule must be step or cosine"):
        config_from_dict({"stage": [{"steps": 3, "schedule": "linear"}]})


def test_pixel_losses():
    out, target = torch.tensor([0.5, 0.0, 1.0]), torch.tensor([0.0, 0.0, 0.75])
    assert pixel_loss("mse", out, target).item() == pytest.approx((0.25 + 0 + 0.0625) / 3)
    assert pixel_loss("l1", out, target).item() == pytest.approx(0.75 / 3)
    # charbonnier: ~L1 for large differences, eps (not 0) at zero difference
    assert pixel_loss("charbonnier", out, target).item() == pytest.approx((0.5 + 1e-3 + 0.25) / 3, abs=1e-5)
    with pytest.raises(ValueError, match="loss must be one of"):
        config_from_dict({"optim": {"loss": "huber"}})


@pytest.mark.parametrize("loss", ["l1", "charbonnier"])
def test_l1_losses_train(tiny, loss):
    cfg = _config(tiny, f"run_{loss}", steps=(12, 1))
    cfg.stage = cfg.stage[:1]
    cfg.optim.loss = loss
    cfg.stage[0].schedule, cfg.stage[0].lr_min = "cosine", 1e-5
    train(cfg, quiet=True)
    losses = _losses(tiny / f"run_{loss}")
    assert losses[-1] < losses[0]


def test_init_from_weights(tiny):
    first = _config(tiny, "first", steps=(3, 1))
    first.stage = first.stage[:1]
    train(first, quiet=True)
    second = _config(tiny, "second", steps=(1, 1))
    second.stage = second.stage[:1]
    second.stage[0].lr = 0.0  # no update: the model must equal its init
    second.model.init_from = str(tiny / "first" / "last.pt")
    train(second, quiet=True)
    a = load_checkpoint(tiny / "first" / "last.pt")["model"]
    b = load_checkpoint(tiny / "second" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_init_from_weights_without_the_bicubic_skip_starts_at_bicubic(tiny):
    first = _config(tiny, "plain", steps=(3, 1))
    first.stage = first.stage[:1]
    train(first, quiet=True)
    second = _config(tiny, "skip", steps=(1, 1))
    second.stage = second.stage[:1]
    second.stage[0].lr = 0.0
    second.model.bicubic_skip = True
    second.model.init_from = str(tiny / "plain" / "last.pt")
    train(second, quiet=True)
    a = load_checkpoint(tiny / "plain" / "last.pt")["model"]
    b = load_checkpoint(tiny / "skip" / "last.pt")["model"]
    last = "reconstruct.conv4"
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith(last))  # every feature kept
    assert not b[f"{last}.weight"].any() and not b[f"{last}.bias"].any()  # the residual starts at zero


def test_lowpass_weight_trains_and_is_checked(tiny):
    cfg = _config(tiny, "lowpass", steps=(8, 1))
    cfg.stage = cfg.stage[:1]
    cfg.optim.lowpass_weight = 3.0
    train(cfg, quiet=True)
    losses = _losses(tiny / "lowpass")
    assert losses[-1] < losses[0]
    with pytest.raises(ValueError, match="lowpass_weight"):
        config_from_dict({"optim": {"lowpass_weight": -1.0}})
