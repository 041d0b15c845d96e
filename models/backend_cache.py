"""Where compiled models live on disk, and the key that ties each one to the weights it came from.

    ~/.cache/gfn-stream/        (the cache_dir setting, else $GFN_CACHE_DIR, else $XDG_CACHE_HOME/gfn-stream)
        onnx/<digest>-fp32-opset18.onnx           the export (gfn-export), shared by the runtimes
        openvino-<version>/<digest>-<B>x<H>x<W>-bf16/   OpenVINO's compiled blob for one input size
        openvino-<version>/int8/<digest>-nncf<version>-<recipe>.xml   --precision int8: the NNCF INT8 model
        openvino-<version>/<digest>-<B>x<H>x<W>-int8/   ... and its compiled blob for one input size
        tensorrt-<version>/<digest>-<B>x<H>x<W>-fp16-<gpu>.engine

`digest` hashes the network's config and every parameter, so the safetensors weights stay the one source:
new weights get new entries, and a stale entry is never used. Entries are written to a temporary name and
renamed, so a crash or two workers compiling at once never leave a half-written file behind.

What the runtimes share lives here too: the cached export (cached_onnx), importing the runtime's package with a
one-line error (require_package), and CompiledRuntime (the export, the digest, the runtime's versioned folder, one
entry per input size, the smallest input the export takes). Each backend module keeps only its own compile/run.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
from pathlib import Path
from types import ModuleType

import torch

from .onnx_export import MIN_SIDE, OPSET, export_onnx

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


def cached_onnx(net: torch.nn.Module, digest: str, root: Path, *, half: bool = False) -> Path:
    """The network's ONNX export in the cache (<root>/onnx/<digest>-fp32|fp16-opset18.onnx), exported on first use."""
    path = root / "onnx" / f"{digest}-{'fp16' if half else 'fp32'}-opset{OPSET}.onnx"
    if not path.is_file():
        logger.info("exporting the network to %s (once for these weights)", path)
        export_onnx(net, path, half=half)
    return path


def require_package(name: str) -> ModuleType:
    """The runtime's package (openvino, tensorrt), imported when its backend is asked for; else one line."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise RuntimeError(f"--backend {name} needs the {name} package (pip install {name})") from None


def has_package(name: str) -> bool:
    try:
        require_package(name)
    except RuntimeError:
        return False
    return True


class CompiledRuntime:
    """What a runtime backend shares: the cached ONNX export it compiles, the weights' digest, its own folder
    <root>/<name>-<version>/ with one entry per input size, and the smallest input the export takes."""

    name = ""

    def __init__(self, onnx_path: Path, digest: str, root: Path, version: str):
        self.onnx_path = Path(onnx_path)
        self.digest = digest
        self.version = version
        self.root = Path(root) / f"{self.name}-{version}"

    def entry(self, shape: tuple[int, ...], tag: str) -> Path:
        """<digest>-<BxHxW>-<tag> in the runtime's folder: the compiled model for inputs of `shape`."""
        return self.root / f"{self.digest}-{shape_tag(shape)}-{tag}"

    def input_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        """x's shape, checked against the export's smallest side (one line, pointing at torch)."""
        shape = tuple(x.shape)
        if shape[-1] < MIN_SIDE or shape[-2] < MIN_SIDE:
            raise ValueError(f"--backend {self.name} needs frames of at least {MIN_SIDE}x{MIN_SIDE} px (use torch)")
        return shape
