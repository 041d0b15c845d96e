"""Pick the device and apply the fastest safe precision for GFN inference on it.

CUDA: fp16 weights + channels_last (cudnn benchmark on). CPU: bf16 autocast + channels_last where the CPU
has native bf16 (AVX512-BF16 / AMX; ~2.9x fp32 on the Zen 5 dev machine), else fp32 + channels_last.
`int8` is OpenVINO only (models/backend_int8.py: NNCF post-training INT8 of the ONNX export, the rest at the bf16
hint where the CPU has it); `auto` never picks it.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None / 'auto' → CUDA where available, else the CPU; explicit choices are checked."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} requested but CUDA is not available")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r} (use cpu, cuda or cuda:N)")
    return dev


@lru_cache(maxsize=None)
def cpu_has_bf16() -> bool:
    """True when the CPU executes bf16 natively (AVX512-BF16 or AMX-BF16)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool({"avx512_bf16", "amx_bf16"} & flags)
    except OSError:
        pass
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' → the fastest precision the device supports; explicit choices are checked."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
    if precision == "auto":
        if device.type == "cuda":
            return "fp16"
        return "bf16" if cpu_has_bf16() else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("fp16 inference needs a CUDA device (use bf16 or fp32 on CPU)")
    if precision == "int8" and device.type != "cpu":
        raise ValueError("int8 inference runs on the CPU with --backend openvino (use fp16 on CUDA)")
    return precision


def prepare_model(model: torch.nn.Module, device: torch.device, precision: str) -> torch.nn.Module:
    """Move the model to the device in the layout and dtype that `precision` runs fastest with."""
    model = model.to(device=device, memory_format=torch.channels_last)
    if precision == "fp16":
        model = model.half()
    else:
        model = model.float()  # bf16 runs under autocast with fp32 master weights
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return model.eval()


def input_dtype(precision: str) -> torch.dtype:
    return torch.float16 if precision == "fp16" else torch.float32


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
