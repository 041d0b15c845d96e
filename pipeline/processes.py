"""Start, signal and place the node processes: forkserver or spawn (never a fork of the launcher: CUDA and ZeroMQ
do not survive it), SIGINT ignored in children so a Ctrl-C reaches only the launcher, and CUDA devices spread
over the workers."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import sys
from typing import Iterator

from ..nodes import worker
from ..nodes.settings import NodeSettings
from ..nodes.worker_settings import WorkerSettings
from . import fork_guard

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
    return node_context().Process(target=worker.main, args=(node, settings), name=f"gfn-worker-{number}",
                                           daemon=True)


# What the fork server imports once, for every node it forks: not torch (a GFN worker imports it itself, after
# the fork), no ZeroMQ context, no thread of ours
PRELOAD = ["gfn_stream.pipeline.fork_guard", "numpy", "av", "zmq", "gfn_stream.nodes.decoder",
           "gfn_stream.nodes.encoder", "gfn_stream.nodes.worker"]


def node_context() -> mp.context.BaseContext:
    """How nodes are started: forkserver where there is one, a fresh process (spawned, so no CUDA and no ZeroMQ
    state to inherit) that imports PRELOAD once and forks each node from there: three nodes are up in ~0.4 s
    instead of ~1.5 s of each one importing NumPy, PyAV and pyzmq on two shared cores. Else spawn."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    fork_guard.mark_launcher()  # the server dies with this process (pipeline/fork_guard.py)
    return ctx


def warm_up() -> None:
    """Start the fork server now, before the launcher's own checks: it imports PRELOAD (~0.25 s here) while the
    launcher works, instead of after it, on the way to the first frame. Its fork-server process ends with the
    launcher, so a run that fails its checks leaves nothing behind."""
    if node_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        with _light_main():
            forkserver.ensure_running()


def start(procs: dict[str, mp.process.BaseProcess]) -> None:
    # Children start with SIGINT ignored (kept across exec), so a Ctrl-C in the terminal reaches only the
    # launcher, which then stops the nodes in order; restored for the launcher itself right after.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _light_main():
            for name, p in procs.items():
                p.start()
                logger.info("started %s (pid %d)", name, p.pid)
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _light_main() -> Iterator[None]:
    """Spawned children import the launcher's __main__ again (the whole CLI: ~0.5 s each, on the way to the
    first frame) unless it names neither a module nor a file; their targets live in gfn_stream.nodes anyway."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__spec__", "__file__") if main is not None and k in main.__dict__}
    try:
        if main is not None:
            main.__spec__ = None
            main.__dict__.pop("__file__", None)
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)


def send_signal(p: mp.process.BaseProcess, sig: int) -> None:
    try:
        os.kill(p.pid, sig)
    except (ProcessLookupError, TypeError):
        pass
