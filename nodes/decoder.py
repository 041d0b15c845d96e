"""Decode node: source (PyAV) → FRAME messages to workers over ROUTER with credits; side packets,
stream info and end of stream to the encoder.

Flow control: a worker's READY message grants credits (how many frames it can take) and acknowledges the
frames it has finished (`done`). The decoder only decodes when some worker has credit, never has more
than `max_inflight` frames unacknowledged, and never runs more than `window` sequence numbers ahead of
the oldest unfinished frame, so the encoder's reorder buffer is bounded too. It keeps each frame until
it is acknowledged, so the frames of a worker that leaves (BYE) are sent again to another worker.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from typing import Any

import zmq

from . import exitcodes, protocol
from .node import NodeError, Reporter, StopFlag, node_main, socket
from .source import Frame, Packet, SourceError, open_source

log = logging.getLogger("gfn_stream.decoder")


class Dispatcher:
    """Credits per worker, frames in flight per worker, and re-dispatch of a departed worker's frames."""

    def __init__(self, max_inflight: int, window: int):
        self.max_inflight = max_inflight
        self.window = window
        self.credits: "OrderedDict[bytes, int]" = OrderedDict()
        self.inflight: dict[int, tuple[bytes, list[Any]]] = {}  # seq -> (worker, message parts)
        self.retry: deque[int] = deque()  # seqs to send again
        self.bad_messages = 0

    def has_credit(self) -> bool:
        return any(c > 0 for c in self.credits.values())

    def can_send_new(self, next_seq: int) -> bool:
        """A new frame may go out: some worker has credit, and both the in-flight and seq windows allow it."""
        if not self.has_credit() or len(self.inflight) >= self.max_inflight:
            return False
        oldest = min(self.inflight) if self.inflight else next_seq
        return next_seq < oldest + self.window

    def pick_worker(self) -> bytes:
        worker = max(self.credits, key=lambda k: self.credits[k])
        self.credits[worker] -= 1
        self.credits.move_to_end(worker)  # ties go round-robin
        return worker

    def on_message(self, worker: bytes, parts: list[Any]) -> None:
        try:
            msg = protocol.unpack(parts)
        except protocol.ProtocolError as exc:
            self.bad_messages += 1
            log.warning("bad message from worker %s: %s", worker.hex(), exc)
            return
        if msg.kind == protocol.READY:
            self.credits[worker] = self.credits.get(worker, 0) + msg.header["credit"]
            for seq in msg.header.get("done") or []:
                held = self.inflight.get(seq)
                if held is not None and held[0] == worker:
                    del self.inflight[seq]
        elif msg.kind == protocol.BYE:
            self.drop_worker(worker)
        elif msg.kind == protocol.HEARTBEAT:
            self.credits.setdefault(worker, 0)
        else:
            self.bad_messages += 1
            log.warning("unexpected %s message from worker %s", msg.kind, worker.hex())

    def drop_worker(self, worker: bytes) -> None:
        self.credits.pop(worker, None)
        lost = sorted(s for s, (w, _) in self.inflight.items() if w == worker)
        self.retry.extend(lost)
        if lost:
            log.warning("worker %s left holding %d frame(s); sending them again", worker.hex(), len(lost))


def decode(ctx: zmq.Context, reporter: Reporter, stop: StopFlag, cfg: dict) -> int:
    router = socket(ctx, zmq.ROUTER, linger=0)
    router.setsockopt(zmq.ROUTER_MANDATORY, 1)
    router.bind(cfg["work"])
    to_encoder = socket(ctx, zmq.PUSH, hwm=cfg.get("side_hwm", 256))
    to_encoder.connect(cfg["results"])
    poller = zmq.Poller()
    poller.register(router, zmq.POLLIN)
    disp = Dispatcher(cfg.get("max_inflight", 8), cfg.get("window", 32))
    seq = 0
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
            while not stop.set:
                sendable = (not exhausted and disp.can_send_new(seq)) or (bool(disp.retry) and disp.has_credit())
                events = dict(poller.poll(0 if sendable else 100))
                while router in events:
                    worker, *parts = router.recv_multipart(copy=False)
                    disp.on_message(worker.bytes, parts)
                    events = dict(poller.poll(0))
                while disp.retry and disp.has_credit():
                    old = disp.retry.popleft()
                    if old in disp.inflight:
                        _send(router, disp, old, disp.inflight[old][1])
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
                    _send(router, disp, seq, _frame_message(seq, item))
                    seq += 1
                if exhausted and not disp.inflight:
                    break
            warnings = list(getattr(src, "warnings", []))
        finally:
            src_cm.__exit__(None, None, None)
        interrupted = stop.set
        log.debug("sending end of stream after %d frames", seq)
        to_encoder.send_multipart(
            protocol.pack(protocol.EOS, {"frames": seq, "interrupted": interrupted, "warnings": warnings})
        )
        reporter.status("decoded", frames=seq, warnings=warnings, bad_messages=disp.bad_messages)
        # Stay until the launcher stops us: ZeroMQ drops messages still queued towards a peer when the
        # sending process exits, even with infinite LINGER, so exiting here could lose the end of stream.
        while not stop.set:
            if router.poll(200):
                router.recv_multipart()  # late READY / BYE from workers: nothing more to send
        return exitcodes.OK
    finally:
        router.close()
        to_encoder.close()


def _send(router: zmq.Socket, disp: Dispatcher, seq: int, parts: list[Any]) -> None:
    """Send frame `seq` to the worker with most credit; a worker that vanished gets its frames re-queued."""
    worker = disp.pick_worker()
    disp.inflight[seq] = (worker, parts)
    try:
        router.send_multipart([worker, *parts], copy=False)
    except zmq.ZMQError as exc:
        if exc.errno != zmq.EHOSTUNREACH:
            raise
        disp.drop_worker(worker)


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
