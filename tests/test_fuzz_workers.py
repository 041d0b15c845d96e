"""Fuzz: at least 10,000 malformed messages to a worker (serving clients, and serving a dispatcher) and to the
pipeline's --listen endpoint; each keeps serving valid frames afterwards, and nothing is lost."""

from __future__ import annotations

import json
import time
from fractions import Fraction
from typing import Iterator

import cv2
import numpy as np
import pytest
import zmq
from workers_kit import STREAM, FakeDispatcher, Proc, assert_same_frames, free_port, png_frames, reference_bicubic

from gfn_stream.nodes.faults import WorkerFaults
from gfn_stream.nodes.worker_node import WorkerNode
from gfn_stream.transport import protocol
from media import make_clip

N = 10_000
GOOD = {"v": 1, "kind": "frame", "seq": 0, "pts": 0, "tb": [1, 25], "w": 8, "h": 6, "fmt": "rgb24", "strides": [24]}
PLANE = bytes(8 * 6 * 3)


def _hdr(**changes) -> bytes:
    h = {**GOOD, **changes}
    return json.dumps({k: v for k, v in h.items() if v is not _DROP}).encode()


_DROP = object()


def malformed(seed: int, n: int) -> Iterator[list[bytes]]:
    """n messages that every gfn-stream receiver must drop: garbage, truncated or invalid JSON, wrong versions
    and kinds, wrong types, huge dims, planes that disagree with the header, extra parts."""
    rng = np.random.default_rng(seed)
    good = _hdr()
    cases = [
        lambda: [rng.bytes(int(rng.integers(0, 300)))],
        lambda: [rng.bytes(int(rng.integers(1, 64))) for _ in range(int(rng.integers(2, 5)))],
        lambda: [good[: int(rng.integers(0, len(good)))], PLANE],  # truncated JSON
        lambda: [_hdr(v=[0, 3, 99, "1", None, 1.5, True][int(rng.integers(7))]), PLANE],
        # version 2 YUV planes: no colour, a bad range or matrix, a wrong plane count or size, yuv in version 1
        lambda: [_hdr(v=2, fmt="yuv420p", strides=[8, 4, 4]), bytes(48), bytes(12), bytes(12)],
        lambda: [_hdr(v=2, fmt="yuv420p", strides=[8, 4, 4], mx=1, rng=[0, 3, True, "1"][int(rng.integers(4))]),
                 bytes(48), bytes(12), bytes(12)],
        lambda: [_hdr(v=2, fmt="yuv420p", strides=[8, 4, 4], mx=[-1, 256, 1.0][int(rng.integers(3))], rng=1),
                 bytes(48), bytes(12), bytes(12)],
        lambda: [_hdr(v=2, fmt="yuv420p", strides=[8, 4, 4], mx=1, rng=1), bytes(48), bytes(12)],
        lambda: [_hdr(v=2, fmt="yuv420p10le", strides=[16, 8, 8], mx=1, rng=1), bytes(96), bytes(24), bytes(23)],
        lambda: [_hdr(v=2, fmt="yuv420p10le", strides=[17, 8, 8], mx=1, rng=1), bytes(101), bytes(24), bytes(24)],
        lambda: [_hdr(v=2, fmt="yuv420p", strides=[8, 4, 4], mx=1, rng=1, ocol={"mx": 1}),
                 bytes(48), bytes(12), bytes(12)],
        lambda: [_hdr(fmt="yuv420p", strides=[8, 4, 4], mx=1, rng=1), bytes(48), bytes(12), bytes(12)],
        lambda: [_hdr(kind=["", "frames", "FRAME", None, 7, "explode"][int(rng.integers(6))]), PLANE],
        lambda: [_hdr(v=_DROP), PLANE],
        lambda: [_hdr(kind=_DROP), PLANE],
        lambda: [json.dumps({"v": 1, "kind": "eos", "frames": 3}).encode()],  # valid, but never for them
        lambda: [json.dumps({"v": 1, "kind": "status", "node": "x", "event": "y"}).encode()],
        lambda: [json.dumps({"v": 1, "kind": "error", "message": "boo"}).encode()],
        lambda: [json.dumps({"v": 1, "kind": "stream_info", "info": {}}).encode(), b"x"],
        lambda: [json.dumps({"v": 1, "kind": "packet", "stream": 0, "pts": 0, "dts": 0, "tb": [1, 25],
                             "key": True}).encode(), b"p"],
        lambda: [good, PLANE[: int(rng.integers(0, len(PLANE) - 1))]],  # plane too short
        lambda: [good, PLANE + bytes(int(rng.integers(1, 100)))],  # plane too long
        lambda: [good],  # no plane
        lambda: [good, PLANE, PLANE],  # an extra part
        lambda: [_hdr(w=[0, -1, 16385, 10**9, 2**70][int(rng.integers(5))]), PLANE],
        lambda: [_hdr(w=16384, h=16384, strides=[49152]), PLANE],  # huge dims, tiny plane
        lambda: [_hdr(seq=["1", True, -1, 1.5, None, [1]][int(rng.integers(6))]), PLANE],
        lambda: [_hdr(pts=[1.5, "0", 2**63, [0]][int(rng.integers(4))]), PLANE],
        lambda: [_hdr(tb=[[1, 0], [1], [0, 25], ["1", 25], None, [1, 25, 1]][int(rng.integers(6))]), PLANE],
        lambda: [_hdr(strides=[[23], [24, 24], ["x"], 24, [10**6], []][int(rng.integers(6))]), PLANE],
        lambda: [_hdr(fmt=["yuv420p", "", None, "RGB24"][int(rng.integers(4))]), PLANE],
        lambda: [json.dumps({"v": 1, "kind": "heartbeat"}).encode(), b"extra"],
        lambda: [json.dumps({"v": 1, "kind": "bye"}).encode(), b"extra"],
        lambda: [json.dumps({"v": 1, "kind": "ready",
                             "credit": [-1, 10**6, "3", None, 1.0][int(rng.integers(5))]}).encode()],
        lambda: [json.dumps({"v": 1, "kind": "ready", "credit": 1, "done": ["x", -1]}).encode()],
        lambda: [json.dumps({"v": 1, "kind": "ready", "credit": 1}).encode(), b"extra"],
        lambda: [b"[" * 20000],  # nesting too deep for the JSON parser
        lambda: [b'{"v":1,"kind":"ready","credit":' + b"9" * 5000 + b"}"],  # an over-long integer
        lambda: [b'{"v":1,"kind":"frame","seq":NaN}', PLANE],
        lambda: [b" " * (protocol.MAX_HEADER_BYTES + 1)],
        lambda: [b"\xff\xfe{}"],
        lambda: [b'"frame"'],
        lambda: [b""],
    ]
    for i in range(n):
        yield cases[i % len(cases)]()


def test_the_fuzz_messages_are_all_invalid_or_unwanted():
    kinds = set()
    for parts in malformed(1, 700):
        try:
            kinds.add(protocol.unpack(parts).kind)
        except protocol.ProtocolError:
            pass
    assert kinds <= {"eos", "status", "error", "stream_info", "packet"}  # valid, but no worker or dispatcher takes them


def _frame(seq: int) -> tuple[np.ndarray, list]:
    img = np.random.default_rng(seq).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return img, protocol.pack_frame(protocol.FrameHeader(seq, seq, Fraction(1, 25), 0, 0), img)


def _bicubic(img: np.ndarray) -> np.ndarray:
    return cv2.resize(img, (4 * img.shape[1], 4 * img.shape[0]), interpolation=cv2.INTER_CUBIC)


def _flood_socket(ctx: zmq.Context, url: str) -> zmq.Socket:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, 0)  # no limit: send in a tight loop
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.connect(url)
    return sock


def test_fuzz_a_worker_serving_clients():
    ctx = zmq.Context()
    with WorkerNode("router+bind:tcp://127.0.0.1:*", model="bicubic") as node:
        sock = _flood_socket(ctx, node.endpoint)
        t0 = time.monotonic()
        for parts in malformed(2, N):
            sock.send_multipart(parts)
        img, parts = _frame(123)
        sock.send_multipart(parts)
        errors = 0
        while True:  # answers: one error per malformed message (some may be dropped), then our frame
            assert sock.poll(30_000), f"no answer after {errors} errors"
            msg = protocol.unpack(sock.recv_multipart())
            if msg.kind == protocol.ERROR:
                errors += 1
                continue
            assert msg.kind == protocol.FRAME and msg.header["seq"] == 123
            np.testing.assert_array_equal(protocol.unpack_frame(msg)[1], _bicubic(img))
            break
        assert time.monotonic() - t0 < 60
        assert node.stats.bad_messages == N and errors > 0
        sock.close()
    ctx.term()


def test_fuzz_a_worker_serving_a_dispatcher():
    disp = FakeDispatcher()
    with WorkerNode(f"dealer+connect:{disp.url}", model="bicubic") as node:
        ident, hello = disp.recv()
        assert hello.header.get("hello") is True
        for parts in malformed(3, N):
            disp.send(ident, parts)
        img, parts = _frame(7)
        disp.send(ident, parts)
        credit = 0
        while True:  # each dropped message gives its credit back; then the result of the real frame
            _, msg = disp.recv(timeout=30)
            if msg.kind == protocol.READY:
                credit += msg.header["credit"]
                continue
            assert msg.kind == protocol.FRAME and msg.header["seq"] == 7
            np.testing.assert_array_equal(protocol.unpack_frame(msg)[1], _bicubic(img))
            break
        heartbeats = sum(1 for parts in malformed(3, N) if parts[0] == b'{"v": 1, "kind": "heartbeat"}')
        assert node.stats.bad_messages == N and credit == N - heartbeats  # a bad heartbeat took no credit
    disp.close()


@pytest.mark.slow
def test_fuzz_the_pipeline_listen_endpoint(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=30).path
    out = tmp_path / "out"
    out.mkdir()
    url = f"tcp://127.0.0.1:{free_port()}"
    p = Proc(STREAM, clip, out / "f_%04d.png", "--model", "bicubic", "--workers", 0, "--listen", url,
             "--worker-wait", 60, "-q", "--test-fault", "delay_ms=20")
    ctx = zmq.Context()
    sock = _flood_socket(ctx, url)
    node = None
    try:
        for parts in malformed(4, N):
            sock.send_multipart(parts)
        p.wait_for(f"{N} so far", timeout=60)  # the dispatcher has seen (and dropped) every one
        node = WorkerNode(f"dealer+connect:{url}", model="bicubic", batch=1,
                          faults=WorkerFaults(delay_ms=20)).start()
        for parts in malformed(5, 2000):  # and more while it serves
            sock.send_multipart(parts)
        assert p.wait() == 0, p.stderr
    finally:
        if node is not None:
            node.stop()
        p.stop()
        sock.close()
        ctx.term()
    assert_same_frames(png_frames(out), reference_bicubic(clip))
    assert node.stats.frames == 30
