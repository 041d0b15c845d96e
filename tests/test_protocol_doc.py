"""docs/protocol.md is enough to talk to a worker: messages built byte by byte from its worked example (the
JSON text and the hex plane, taken from the document itself), sent with plain pyzmq, never protocol.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import zmq
from workers_kit import FakeDispatcher

from gfn_stream.nodes.worker_node import WorkerNode

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


def example(name: str) -> str:
    """The fenced block right after `<!-- example:NAME -->` in the document."""
    m = re.search(rf"<!-- example:{name} -->\s*```\n(.*?)\n```", DOC.read_text(), re.S)
    assert m, f"example {name} missing from {DOC}"
    return m.group(1)


def frame_from_doc() -> list[bytes]:
    header = example("frame-header").encode("utf-8")
    plane = bytes.fromhex(example("frame-plane").replace("\n", " "))
    assert header == b'{"v":2,"kind":"frame","seq":0,"pts":0,"tb":[1,25],"w":2,"h":2,"fmt":"rgb24","strides":[6]}'
    assert len(plane) == 12
    return [header, plane]


def check_answer(parts: list[bytes], version: int = 2) -> None:
    assert len(parts) == 2
    header = json.loads(parts[0].decode("utf-8"))
    assert header["v"] == version and header["kind"] == "frame"
    assert (header["seq"], header["pts"], header["tb"]) == (0, 0, [1, 25])
    assert (header["w"], header["h"], header["fmt"]) == (8, 8, "rgb24")
    stride = header["strides"][0]
    assert stride == 24 and len(parts[1]) == stride * 8
    pixel = lambda x, y: tuple(parts[1][y * stride + 3 * x: y * stride + 3 * x + 3])  # noqa: E731
    r, g, b = pixel(0, 0)  # top-left stays red, bottom-right white (bicubic keeps corners close)
    assert r > 200 and g < 60 and b < 60
    assert min(pixel(7, 7)) > 200


def test_a_client_built_from_the_document_gets_an_answer():
    ctx = zmq.Context()
    with WorkerNode("router+bind:tcp://127.0.0.1:*", model="bicubic") as node:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(node.endpoint)
        sock.send_multipart(frame_from_doc())
        assert sock.poll(20_000)
        check_answer(sock.recv_multipart())
        sock.send_multipart([b'{"v":1,"kind":"heartbeat"}'])  # heartbeat in, heartbeat out
        assert sock.poll(5_000) and json.loads(sock.recv_multipart()[0]) == {"v": 1, "kind": "heartbeat"}
        old = json.loads(example("frame-header"))
        old["v"] = 1  # a version-1 client: served, in version 1
        sock.send_multipart([json.dumps(old).encode(), frame_from_doc()[1]])
        assert sock.poll(20_000)
        check_answer(sock.recv_multipart(), version=1)
        header = json.loads(example("frame-header"))
        header["v"] = 3  # another version: refused with an error naming the seq
        sock.send_multipart([json.dumps(header).encode(), frame_from_doc()[1]])
        assert sock.poll(5_000)
        error = json.loads(sock.recv_multipart()[0])
        assert error["kind"] == "error" and error["seq"] == 0 and "version" in error["message"]
        sock.close()
    ctx.term()


def test_a_dispatcher_built_from_the_document_gets_hello_result_and_credit():
    disp = FakeDispatcher()  # a bare ROUTER; messages below are read as JSON text, not with protocol.py
    with WorkerNode(f"dealer+connect:{disp.url}", model="bicubic", batch=4):
        ident, raw = _next(disp)
        assert json.loads(raw[0]) == json.loads(example("hello"))
        disp.sock.send_multipart([ident, *frame_from_doc()])
        ident2, answer = _next(disp)
        assert ident2 == ident
        check_answer(answer)
        _, ready = _next(disp)
        assert json.loads(ready[0]) == {"v": 2, "kind": "ready", "credit": 1, "done": [0]}
    disp.close()


def _next(disp: FakeDispatcher) -> tuple[bytes, list[bytes]]:
    """The next message that is not a heartbeat, as raw parts."""
    while True:
        assert disp.sock.poll(20_000)
        ident, *parts = disp.sock.recv_multipart()
        if json.loads(parts[0]).get("kind") != "heartbeat":
            return ident, parts


def test_a_yuv_frame_from_the_document_gets_planes_in_the_colour_it_asks_for():
    header = example("yuv-header").encode("utf-8")
    planes = [bytes.fromhex(line) for line in example("yuv-planes").splitlines()]
    planes = [planes[0] + planes[1], planes[2], planes[3]]  # Y is two rows
    ctx = zmq.Context()
    with WorkerNode("router+bind:tcp://127.0.0.1:*", model="bicubic") as node:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(node.endpoint)
        sock.send_multipart([header, *planes])
        assert sock.poll(20_000)
        parts = sock.recv_multipart()
        answer = json.loads(parts[0])
        assert (answer["v"], answer["fmt"], answer["w"], answer["h"]) == (2, "yuv420p", 8, 8)
        assert (answer["strides"], answer["mx"], answer["rng"]) == ([8, 4, 4], 1, 1)
        assert [len(p) for p in parts[1:]] == [64, 16, 16]
        sock.close()
    ctx.term()
