"""GFN weights files: safetensors with the model config in the file's metadata, so the file alone rebuilds the net."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .gfn import GFN, GFNConfig

FORMAT = "gfn-stream/weights/1"
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "gfn_default.safetensors"


class WeightsError(ValueError):
    """A weights file is missing, unreadable or does not match the network it describes."""


def save_weights(model: GFN, path: str | Path, dtype: torch.dtype | None = None, extra: dict | None = None) -> Path:
    """Write the model's parameters (optionally cast, e.g. to fp16) and its config to a safetensors file."""
    path = Path(path)
    state = {k: v.detach().to("cpu", dtype=dtype or v.dtype).contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": FORMAT, "gfn_config": json.dumps(model.config.to_dict())}
    if extra:
        metadata["extra"] = json.dumps(extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=metadata)
    return path


def read_weights(path: str | Path) -> tuple[GFNConfig, dict[str, torch.Tensor], dict]:
    """(config, state dict, extra metadata) from a weights file; raises WeightsError with a clear message."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises several types for a bad header
        raise WeightsError(f"{path}: not a safetensors weights file ({exc})") from None
    if meta.get("format") != FORMAT or "gfn_config" not in meta:
        raise WeightsError(f"{path}: safetensors file without gfn-stream metadata (convert it with gfn-convert)")
    try:
        config = GFNConfig.from_dict(json.loads(meta["gfn_config"]))
    except (ValueError, TypeError) as exc:
        raise WeightsError(f"{path}: bad model config in metadata: {exc}") from None
    extra = json.loads(meta["extra"]) if "extra" in meta else {}
    return config, state, extra


def load_state_strict(model: GFN, state: dict[str, torch.Tensor], source: str = "weights") -> None:
    """Copy `state` into `model`; any missing, unexpected or wrongly shaped key is an error that names it."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    problems = []
    if missing:
        problems.append(f"missing keys: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    if unexpected:
        problems.append(f"unexpected keys: {', '.join(unexpected[:8])}{' ...' if len(unexpected) > 8 else ''}")
    if wrong:
        problems.append(
            "shape mismatch: "
            + ", ".join(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in wrong[:8])
        )
    if problems:
        raise WeightsError(f"{source} do not fit the network: " + "; ".join(problems))
    with torch.no_grad():
        for k, v in own.items():
            v.copy_(state[k].to(v.dtype))


def load_model(
    path: str | Path | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> GFN:
    """A ready eval-mode GFN from a weights file (None = the shipped default weights)."""
    if path is None:
        path = DEFAULT_WEIGHTS
        if not path.is_file():
            raise WeightsError(
                "no default weights are shipped in this install; pass a weights file (train one with gfn-train)"
            )
    config, state, _ = read_weights(path)
    model = GFN(config)
    load_state_strict(model, state, source=str(path))
    return model.to(device=device, dtype=dtype).eval()
