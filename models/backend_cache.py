"""Where compiled models live on disk, and the key that ties each one to the weights it came from.

    ~/.cache/gfn-stream/        (the cache_dir setting, else $GFN_CACHE_DIR, else $XDG_CACHE_HOME/gfn-stream)
        onnx/<digest>-fp32-opset18.onnx           the export (gfn-export), shared by the runtimes
        openvino-<version>/<digest>-<B>x<H>x<W>-bf16/   OpenVINO's compiled blob for one input size
        tensorrt-<version>/<digest>-<B>x<H>x<W>-fp16-<gpu>.engine

`digest` hashes the network's config and every parameter, so the safetensors weights stay the one source:
new weights get new entries, and a stale entry is never used. Entries are written to a temporary name and
renamed, so a crash or two workers compiling at once never leave a half-written file behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

DIGEST_CHARS = 16


def default_cache_dir() -> Path:
    if os.environ.get("GFN_CACHE_DIR"):
        return Path(os.environ["GFN_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gfn-stream"


def cache_root(cache_dir: str | os.PathLike | None) -> Path:
    """The cache directory to use: the setting when given, else the user's cache folder."""
    return Path(cache_dir).expanduser() if cache_dir else default_cache_dir()


def weights_digest(net: torch.nn.Module) -> str:
    """A hash of the network's config and parameters (the same for a weights file and the net it loads into)."""
    h = hashlib.sha256()
    config = getattr(net, "config", None)
    if config is not None:
        h.update(json.dumps(config.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(net.state_dict().items()):
        t = tensor.detach().to("cpu", torch.float32).contiguous()
        h.update(f"{name}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:DIGEST_CHARS]


def shape_tag(shape: tuple[int, ...]) -> str:
    """'4x180x320' for a (4, 3, 180, 320) input."""
    b, _, h, w = shape
    return f"{b}x{h}x{w}"


def write_atomic(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
