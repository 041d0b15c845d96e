"""Decode node: source (PyAV) → FRAME messages to workers over ROUTER with credits; side packets,
stream info and end of stream to the encoder.

Flow control: a worker's READY message grants credits (how many frames it can take) and acknowledges the
frames it has finished (`done`). The decoder only decodes when some worker has credit, never has more
than `max_inflight` frames unacknowledged, and never runs more than `window` sequence numbers ahead of
the oldest unfinished frame, so the encoder's reorder buffer is bounded too. It keeps each frame until
it is acknowledged, so the frames of a worker that leaves (BYE), goes silent (heartbeats) or disconnects are
sent again to another worker. Workers, local and remote (--listen), and their sockets: nodes/dispatch.py.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import zmq

from . import exitcodes, protocol
from .dispatch import Dispatcher, WorkerLinks
from .liveness import HEARTBEAT_S, LIVENESS
from .node import NodeError, Reporter, StopFlag, node_main, socket
from .source import Frame, Packet, SourceError, open_source

log = logging.getLogger("gfn_stream.decoder")


def decode(ctx: zmq.Context, reporter: Reporter, stop: StopFlag, cfg: dict) -> int:
    to_encoder = socket(ctx, zmq.PUSH, hwm=cfg.get("side_hwm", 256))
    to_encoder.connect(cfg["results"])
    disp = Dispatcher(
        cfg.get("max_inflight", 8),
        cfg.get("window", 32),
        heartbeat_s=cfg.get("heartbeat_s", HEARTBEAT_S),
        liveness=cfg.get("liveness", LIVENESS),
        retain=cfg.get("retain", 16),
    )
    try:
        links = WorkerLinks(ctx, disp, cfg)
    except BaseException:
        to_encoder.close()
        raise
    waiting = _NoWorkerClock(cfg)
    seq = 0
    eos_sent = False
    try:
        try:
            src_cm = open_source(cfg["input"], threads=cfg.get("threads", 0))
            src = src_cm.__enter__()
        except SourceError as exc:
            raise NodeError(str(exc), exitcodes.INPUT) from None
        try:
            reporter.status("info", info=src.info)
            to_encoder.send_multipart(protocol.pack(protocol.STREAM_INFO, {"info": src.info}, src.side_buffers))
            items = src.items()
            exhausted = False
            # Runs until the launcher stops us, also after end of stream: frames a worker loses late are re-sent,
            # and ZeroMQ drops messages still queued towards a peer when the sending process exits.
            while not stop.set:
                sendable = (not exhausted and disp.can_send_new(seq)) or (bool(disp.retry) and disp.has_credit())
                links.pump(0 if sendable else 100)
                while disp.has_credit():
                    old = disp.next_retry()
                    if old is None:
                        break
                    links.send_frame(old, disp.inflight[old][1])
                while not exhausted and disp.can_send_new(seq) and not stop.set:
                    try:
                        item = next(items)
                    except StopIteration:
                        exhausted = True
                        break
                    except SourceError as exc:
                        raise NodeError(str(exc), exitcodes.INPUT) from None
                    if isinstance(item, Packet):
                        to_encoder.send_multipart(_packet_message(item), copy=False)
                        continue
                    links.send_frame(seq, _frame_message(seq, item))
                    seq += 1
                if exhausted and not eos_sent and not disp.busy():
                    eos_sent = True
                    _end_of_stream(to_encoder, reporter, disp, seq, False, list(getattr(src, "warnings", [])))
                waiting.check(disp, busy=not exhausted or disp.busy(), frames=seq)
            warnings = list(getattr(src, "warnings", []))
        finally:
            src_cm.__exit__(None, None, None)
        if not eos_sent:  # stopped before the end of the input
            _end_of_stream(to_encoder, reporter, disp, seq, True, warnings)
        return exitcodes.OK
    finally:
        links.close()
        to_encoder.close()


def _end_of_stream(
    to_encoder: zmq.Socket, reporter: Reporter, disp: Dispatcher, frames: int, interrupted: bool, warnings: list[str]
) -> None:
    log.debug("sending end of stream after %d frames", frames)
    to_encoder.send_multipart(
        protocol.pack(protocol.EOS, {"frames": frames, "interrupted": interrupted, "warnings": warnings})
    )
    reporter.status("decoded", frames=frames, warnings=warnings, bad_messages=disp.bad_messages)


class _NoWorkerClock:
    """Fails the job when frames are waiting and no worker has been there for `worker_wait_s` (longer at the
    start, while local workers load their model)."""

    def __init__(self, cfg: dict):
        self.wait_s = cfg.get("worker_wait_s", 30.0)
        local = cfg.get("local_workers", 1)
        self.start_s = max(self.wait_s, cfg.get("startup_wait_s", 300.0)) if local else self.wait_s
        self.listen = cfg.get("listen")
        self.since: float | None = None
        self.ever = False

    def check(self, disp: Dispatcher, busy: bool, frames: int) -> None:
        if disp.credits or not busy:
            self.ever = self.ever or bool(disp.credits)
            self.since = None
            return
        now = time.monotonic()
        if self.since is None:
            self.since = now
        allowed = self.wait_s if self.ever else self.start_s
        if now - self.since > allowed:
            where = f" (workers join with: gfn-worker dealer+connect:{self.listen})" if self.listen else ""
            raise NodeError(
                f"no worker for {allowed:g} s with frames waiting: {len(disp.inflight)} frame(s) of the "
                f"{frames} decoded so far not processed{where}",
                exitcodes.WORKER,
            )


def _frame_message(seq: int, frame: Frame) -> list[Any]:
    tb = frame.time_base
    header = protocol.FrameHeader(seq=seq, pts=frame.pts, time_base=tb, width=0, height=0)
    return protocol.pack_frame(header, frame.rgb)


def _packet_message(pkt: Packet) -> list[Any]:
    fields = {
        "stream": pkt.stream,
        "pts": pkt.pts,
        "dts": pkt.dts,
        "duration": pkt.duration,
        "tb": [pkt.time_base.numerator, pkt.time_base.denominator],
        "key": bool(pkt.is_keyframe),
    }
    return protocol.pack(protocol.PACKET, fields, [pkt.data])


def main(cfg: dict) -> None:
    """Process entry (spawned by the launcher)."""
    node_main("decoder", lambda ctx, rep, stop: decode(ctx, rep, stop, cfg), cfg)
