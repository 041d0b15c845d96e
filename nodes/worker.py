"""Worker node: FRAME messages in (DEALER, credit-based), GFN on a batch of ready frames, FRAME messages
out to the encoder (PUSH), then READY back to the dispatcher with new credit and the finished seqs.

A worker asks for `2 * batch` frames up front so the next batch is queued while this one runs; it batches
what is ready (at most `batch` frames, waiting at most `batch_wait_ms` for stragglers).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import zmq

from . import exitcodes, protocol
from .node import NodeError, Reporter, StopFlag, node_main, socket

log = logging.getLogger("gfn_stream.worker")


def serve(ctx: zmq.Context, reporter: Reporter, stop: StopFlag, cfg: dict) -> int:
    from ..models.enhancer import Enhancer
    from ..models.weights import WeightsError

    try:
        enhancer = Enhancer(
            cfg.get("weights"),
            model=cfg.get("model", "gfn"),
            device=cfg.get("device", "auto"),
            precision=cfg.get("precision", "auto"),
            tile=cfg.get("tile"),
            tile_overlap=cfg.get("tile_overlap"),
        )
    except (WeightsError, ValueError, RuntimeError) as exc:
        raise NodeError(f"worker: cannot load the model: {exc}", exitcodes.USAGE) from None
    batch = max(1, int(cfg.get("batch", 1)))
    wait_s = cfg.get("batch_wait_ms", 5) / 1000
    crash_after = _fault_injection()

    inbox = socket(ctx, zmq.DEALER, linger=0)
    inbox.connect(cfg["work"])
    outbox = socket(ctx, zmq.PUSH, hwm=cfg.get("result_hwm", 4))
    outbox.connect(cfg["results"])
    reporter.status("ready", device=str(enhancer.device), precision=enhancer.precision, model=enhancer.kind)
    inbox.send_multipart(protocol.pack(protocol.READY, {"credit": 2 * batch, "done": []}))
    queue: list[tuple[protocol.FrameHeader, Any]] = []
    processed = bad = 0
    try:
        while not stop.set:
            if not queue and not inbox.poll(100):
                continue
            deadline = time.monotonic() + wait_s
            while len(queue) < batch:
                timeout = 0 if not queue else max(0.0, deadline - time.monotonic())
                if not inbox.poll(int(timeout * 1000)):
                    break
                parts = inbox.recv_multipart(copy=False)
                try:
                    msg = protocol.unpack(parts)
                    if msg.kind != protocol.FRAME:
                        raise protocol.ProtocolError(f"worker expects frames, got {msg.kind}")
                    queue.append(protocol.unpack_frame(msg))
                except protocol.ProtocolError as exc:
                    bad += 1
                    log.warning("dropped bad message (%d so far): %s", bad, exc)
            if not queue:
                continue
            # one forward pass per frame size; take the leading run of equal-size frames
            size = queue[0][1].shape
            take = [q for q in queue[:batch] if q[1].shape == size]
            queue = [q for q in queue if not any(q is t for t in take)]
            results = enhancer.enhance_batch([img for _, img in take])
            for (fh, _), out in zip(take, results):
                header = protocol.FrameHeader(fh.seq, fh.pts, fh.time_base, 0, 0)
                outbox.send_multipart(protocol.pack_frame(header, out), copy=False)
            processed += len(take)
            inbox.send_multipart(
                protocol.pack(protocol.READY, {"credit": len(take), "done": [fh.seq for fh, _ in take]})
            )
            if crash_after is not None and processed >= crash_after:
                os._exit(70)  # test hook: simulate a worker dying mid-run
        inbox.send_multipart(protocol.pack(protocol.BYE, {}))
        return exitcodes.OK
    finally:
        reporter.status("stopped", frames=processed, bad_messages=bad)
        inbox.close()
        outbox.close()


def _fault_injection() -> int | None:
    """GFN_STREAM_TEST_WORKER_EXIT_AFTER=N makes a worker exit abruptly after N frames (tests only)."""
    value = os.environ.get("GFN_STREAM_TEST_WORKER_EXIT_AFTER")
    return int(value) if value else None


def main(cfg: dict) -> None:
    node_main("worker", lambda ctx, rep, stop: serve(ctx, rep, stop, cfg), cfg)
