"""Start, signal and place the node processes: spawn (never fork: CUDA and ZeroMQ do not survive it), SIGINT
ignored in children so a Ctrl-C reaches only the launcher, and CUDA devices spread over the workers."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal

from ..nodes import worker
from ..nodes.settings import NodeSettings
from ..nodes.worker_settings import WorkerSettings

logger = logging.getLogger(__name__)


def cuda_device_count() -> int:
    """CUDA GPUs visible here; torch is only imported where an NVIDIA driver is present (start-up, memory)."""
    if not (os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia")):
        return 0
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:
        return 0


def default_workers() -> int:
    return max(1, cuda_device_count())


def worker_devices(device: str, n: int) -> list[str]:
    """Spread workers over CUDA GPUs when the device is 'auto' or 'cuda' and there are several."""
    if device in ("auto", "cuda"):
        count = cuda_device_count()
        if count > 1:
            return [f"cuda:{i % count}" for i in range(n)]
    return [device] * n


def worker_process(node: NodeSettings, settings: WorkerSettings) -> mp.process.BaseProcess:
    """A local worker's process (not started); its settings travel to it as they are (spawn pickles them)."""
    number = node.name.split()[-1]
    return mp.get_context("spawn").Process(target=worker.main, args=(node, settings), name=f"gfn-worker-{number}",
                                           daemon=True)


def start(procs: dict[str, mp.process.BaseProcess]) -> None:
    # Children start with SIGINT ignored (kept across exec), so a Ctrl-C in the terminal reaches only the
    # launcher, which then stops the nodes in order; restored for the launcher itself right after.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for name, p in procs.items():
            p.start()
            logger.info("started %s (pid %d)", name, p.pid)
    finally:
        signal.signal(signal.SIGINT, previous)


def send_signal(p: mp.process.BaseProcess, sig: int) -> None:
    try:
        os.kill(p.pid, sig)
    except (ProcessLookupError, TypeError):
        pass
