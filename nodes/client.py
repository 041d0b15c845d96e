"""Send frames to a standalone worker (`gfn-worker router+bind:URL`) and get them back 4x larger.

    from gfn_stream.nodes.client import WorkerClient
    with WorkerClient("tcp://127.0.0.1:5556") as client:
        big = client.enhance(frame)                       # H x W x 3 uint8 -> 4H x 4W x 3 uint8
        for big in client.stream(frames, depth=4):        # up to 4 frames in flight, results in order
            ...

The client is a DEALER; each request is a `frame` message with a seq of the client's own, each answer a
`frame` with the same seq (or an `error` naming it). See docs/protocol.md, "Serving clients".
"""

from __future__ import annotations

import time
from collections import deque
from fractions import Fraction
from typing import Any, Iterable, Iterator

import numpy as np
import zmq

from ..transport import keys, protocol
from ..transport.endpoints import parse


class WorkerError(RuntimeError):
    """The worker refused a frame (its `error` message)."""


class WorkerClient:
    """A connection to one worker in router+bind mode.

    :param endpoint: ``tcp://HOST:PORT`` or ``dealer+connect:tcp://HOST:PORT`` (ipc:// works too)
    :param key: this client's CurveZMQ secret certificate (needed off loopback)
    :param server_key: the worker's public certificate
    :param timeout: seconds to wait for each answer before raising TimeoutError
    """

    def __init__(
        self,
        endpoint: str,
        *,
        key: str | None = None,
        server_key: str | None = None,
        timeout: float = 30.0,
        context: zmq.Context | None = None,
    ):
        ep = parse(endpoint, kind="dealer", mode="connect", allowed=("dealer+connect",))
        keys.require_keys(ep, key, server_key, "server_key")
        self.timeout = timeout
        self._ctx = context or zmq.Context.instance()
        self.sock = self._ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if key:
            keys.client_socket(self.sock, key, server_key)
        self.sock.connect(ep.url)
        self._next_seq = 0

    def enhance(self, frame: np.ndarray, *, copy: bool = True) -> np.ndarray:
        """One frame, H x W x 3 uint8 RGB → 4H x 4W x 3 uint8."""
        return next(iter(self.stream([frame], depth=1, copy=copy)))

    def stream(self, frames: Iterable[np.ndarray], *, depth: int = 4, copy: bool = True) -> Iterator[np.ndarray]:
        """Enhance a sequence of frames, keeping up to `depth` in flight; yields the results in order.

        With copy=False each result is a read-only view on the received message (no copy)."""
        waiting: deque[int] = deque()  # seqs sent, in order
        ready: dict[int, np.ndarray] = {}
        source = iter(frames)
        exhausted = False
        while True:
            while not exhausted and len(waiting) < max(1, depth):
                try:
                    frame = next(source)
                except StopIteration:
                    exhausted = True
                    break
                waiting.append(self._send(frame))
            if not waiting:
                return
            while waiting[0] not in ready:
                seq, image = self._receive()
                if seq in waiting:
                    ready[seq] = image
            image = ready.pop(waiting.popleft())
            yield np.array(image) if copy else image

    def ping(self, timeout: float = 5.0) -> bool:
        """True when the worker answers a heartbeat within `timeout` seconds."""
        self.sock.send_multipart(protocol.pack(protocol.HEARTBEAT))
        deadline = time.monotonic() + timeout
        while self.sock.poll(max(0, int((deadline - time.monotonic()) * 1000))):
            if _kind(self.sock.recv_multipart()) == protocol.HEARTBEAT:
                return True
        return False

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "WorkerClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ internals
    def _send(self, frame: np.ndarray) -> int:
        seq = self._next_seq
        self._next_seq += 1
        header = protocol.FrameHeader(seq=seq, pts=seq, time_base=Fraction(1, 1), width=0, height=0)
        self.sock.send_multipart(protocol.pack_frame(header, frame), copy=False)
        return seq

    def _receive(self) -> tuple[int, np.ndarray | None]:
        if not self.sock.poll(int(self.timeout * 1000)):
            raise TimeoutError(f"no answer from the worker within {self.timeout:.0f} s")
        msg = protocol.unpack(self.sock.recv_multipart(copy=False))
        if msg.kind == protocol.ERROR:
            raise WorkerError(f"the worker refused frame {msg.header.get('seq')}: {msg.header['message']}")
        if msg.kind != protocol.FRAME:
            return -1, None  # a late heartbeat answer
        fh, image = protocol.unpack_frame(msg)
        return fh.seq, image


def _kind(parts: list[bytes]) -> str | None:
    try:
        return protocol.unpack(parts).kind
    except protocol.ProtocolError:
        return None
