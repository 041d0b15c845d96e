"""Worker node: FRAME messages in, GFN on batches of them, FRAME messages (4x) out. Two ways to serve:

    dealer+connect:ENDPOINT   join a dispatcher (the pipeline's decoder, locally over ipc:// or remotely over
                              its --listen endpoint): say hello with credit, get at most that many frames,
                              return credit and the finished seqs in `ready` messages; heartbeats both ways
    router+bind:ENDPOINT      serve clients directly (nodes/client.py): answer each FRAME with a FRAME (or an
                              ERROR) to its sender

Results go to `results` (a PUSH to the encoder: the launcher's local ipc fast path) when it is set, otherwise
back over the same socket they came in on (remote workers; the dispatcher forwards them to the encoder).

Threads: the I/O loop (this module's main thread) owns every socket, so heartbeats keep flowing while the
inference thread (nodes/engine.py) runs a long batch. The engine wakes the loop over an inproc PAIR when it is done.
On stop (SIGTERM) a worker takes no new frames, finishes the ones it holds, sends BYE, and leaves.
See docs/protocol.md.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import zmq

from ..transport.status import Ready, Stopped
from . import exitcodes
from .engine import Engine
from .node import NodeError, Reporter, StopFlag, node_main
from .pictures import PictureWork
from .router_loop import RouterLoop
from .settings import NodeSettings
from .worker_loops import DealerLoop
from .worker_settings import WorkerSettings, WorkerStats

logger = logging.getLogger(__name__)


def serve(
    ctx: zmq.Context,
    stop: StopFlag,
    settings: WorkerSettings,
    reporter: Reporter | None = None,
    on_ready: Callable[[str], None] | None = None,
    stats: WorkerStats | None = None,
) -> WorkerStats:
    """Load the model once and serve frames until `stop` is set. `on_ready(url)` runs once the socket is up
    (the bound address for router+bind, e.g. with a `*` port resolved); `stats` is kept up to date."""
    try:
        ep = settings.check()
    except ValueError as exc:
        raise NodeError(f"{settings.name}: {exc}", exitcodes.USAGE) from None
    if settings.threads and settings.model != "bicubic":  # plain bicubic never imports torch (startup time)
        import torch

        torch.set_num_threads(settings.threads)
    try:
        work = PictureWork(load_model(settings))
    except (ValueError, RuntimeError, OSError) as exc:  # models.weights.WeightsError is a ValueError
        raise NodeError(f"{settings.name}: cannot load the model: {exc}", exitcodes.USAGE) from None
    device, precision = ("cpu", "fp32") if work.enhancer is None else (str(work.enhancer.device),
                                                                       work.enhancer.precision)
    if reporter is not None:
        reporter.status(Ready(device=device, precision=precision, model=work.kind))
    logger.info("%s: %s on %s (%s), serving %s", settings.name, work.kind, device, precision, ep)
    engine = Engine(ctx, settings.faults.around(work), max(1, settings.batch), settings.batch_wait_ms / 1000)
    stats = stats if stats is not None else WorkerStats()
    try:
        loop = DealerLoop if ep.kind == "dealer" else RouterLoop
        loop(ctx, stop, settings, ep, engine, stats, reporter).run(on_ready or (lambda url: None))
    finally:
        engine.close()
        if reporter is not None:
            reporter.status(Stopped(frames=stats.frames, bad_messages=stats.bad_messages, reconnects=stats.reconnects))
    return stats


def load_model(settings: WorkerSettings) -> Any | None:
    """The settings' model, loaded once: a models.enhancer.Enhancer, or None for plain bicubic (which never
    imports torch: startup time)."""
    if settings.model == "bicubic":
        return None
    from ..models.enhancer import Enhancer

    return Enhancer(settings.weights, model=settings.model, device=settings.device, precision=settings.precision,
                    tile=settings.tile, tile_overlap=settings.tile_overlap, backend=settings.backend,
                    cache_dir=settings.cache_dir)


def main(node: NodeSettings, settings: WorkerSettings) -> None:
    """Process entry of a launcher-spawned worker (ipc:// endpoints, results PUSHed to the encoder)."""

    def body(ctx: zmq.Context, reporter: Reporter, stop: StopFlag) -> int:
        serve(ctx, stop, settings, reporter)
        return exitcodes.OK

    node_main("worker", body, node)
