"""What a training run keeps: checkpoints (model, optimizer, schedule position, RNG states) and weights files."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from ..models.gfn import GFN, GFNConfig
from ..models.weights import load_state_strict, read_weights, save_weights
from .config import TrainConfig

CKPT_FORMAT = "gfn-stream/train-checkpoint/1"


def rng_state() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])



def save_checkpoint(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written last.pt


def load_checkpoint(path: str | Path) -> dict:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt.get("format") != CKPT_FORMAT:
        raise ValueError(f"{path}: not a gfn-train checkpoint")
    return ckpt



def export(model: GFN, path: Path, dtype: str, extra: dict) -> Path:
    """Write the weights file (config in its metadata, with the gate setting the model runs with now)."""
    shipped = GFN(GFNConfig(**{**model.config.to_dict(), "gated": bool(model.gated)}))
    load_state_strict(shipped, {k: v.detach().cpu().float() for k, v in model.state_dict().items()})
    return save_weights(shipped, path, dtype=torch.float16 if dtype == "fp16" else torch.float32, extra=extra)



def export_run(cfg: TrainConfig, model: GFN, best: float) -> Path:
    """The run's weights file: the best-validation weights when there are any (export_best), else the model."""
    out = Path(cfg.run.out)
    target = Path(cfg.run.export) if cfg.run.export else out / "gfn.safetensors"
    src, extra = model, {"source": "last", "train_config": cfg.to_dict()}
    best_file = out / "best.safetensors"
    if cfg.run.export_best and best_file.is_file():
        conf, state, meta = read_weights(best_file)
        src = GFN(conf)
        load_state_strict(src, state)
        extra = {"source": "best", "val_psnr": best, **meta, "train_config": cfg.to_dict()}
    return export(src, target, cfg.run.export_dtype, extra)
