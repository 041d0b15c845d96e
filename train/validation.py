"""Validation during training, through the inference module the workers run (models.enhancer.Enhancer).

Two kinds: a folder of LR/HR pairs (mean PSNR), or a quality suite (train/suite.py) whose score is the *worst*
gain over bicubic across its conditions, so the best checkpoint is the one that is above bicubic everywhere by
the widest margin rather than the one that is best on average.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch

from ..models.enhancer import Enhancer
from .dataset import list_pairs, read_rgb
from .metrics import psnr
from .suite import centre_crop_pair, load_suite, score

logger = logging.getLogger(__name__)


def load_val_set(cfg) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, LR uint8, HR uint8) of the validation images of a [data] section, centre-cropped to val_crop LR px."""
    if not cfg.val:
        return []
    pairs = list_pairs(cfg.val)
    if cfg.val_images > 0:
        pairs = pairs[: cfg.val_images]
    out = []
    for lr_path, hr_path in pairs:
        lr, hr = read_rgb(lr_path), read_rgb(hr_path)
        if cfg.val_crop > 0:
            lr, hr = centre_crop_pair(lr, hr, cfg.val_crop)
        out.append((lr_path.stem, lr, hr))
    return out


def _enhancer(model: torch.nn.Module, device: torch.device) -> Enhancer:
    """The shipped inference path around a copy of the model in training (the copy is put in eval mode and
    prepared, device, layout and dtype, exactly as a loaded weights file would be)."""
    return Enhancer(net=copy.deepcopy(model).float(), device=device)


class Validator:
    """Scores a model in training; `score` is what checkpoints are ranked by (higher is better)."""

    def __init__(self, data, device: torch.device):
        self.device = device
        self.val_set = load_val_set(data)
        self.suite = load_suite(data.suite, limit=data.suite_limit, crop=data.suite_crop) if data.suite else {}

    def __bool__(self) -> bool:
        return bool(self.val_set or self.suite)

    def baseline(self) -> dict:
        if self.suite:
            res = score(self.suite, None, sharpen=False)
            return {"val_bicubic": {c: round(r["bicubic"]["psnr"], 3) for c, r in res.items()},
                    "val_items": {c: len(v) for c, v in self.suite.items()}}
        bicubic = Enhancer(model="bicubic")
        return {"val_bicubic_psnr": float(np.mean([psnr(bicubic.enhance(lr), hr) for _, lr, hr in self.val_set])),
                "val_images": len(self.val_set)}

    def run(self, model: torch.nn.Module) -> tuple[float, dict]:
        """(score, what to log)."""
        enhancer = _enhancer(model, self.device)
        if self.suite:
            res = score(self.suite, enhancer, sharpen=False)
            gains = {c: round(r["gain_db"], 3) for c, r in res.items() if isinstance(r, dict)}
            flicker = {c: round(r["flicker_vs_bicubic"], 3) for c, r in res.items()
                       if isinstance(r, dict) and "flicker_vs_bicubic" in r}
            return float(res["worst_gain_db"]), {"val_gain_db": gains, "val_flicker": flicker}
        value = float(np.mean([psnr(enhancer.enhance(lr), hr) for _, lr, hr in self.val_set]))
        return value, {"val_psnr": value}
