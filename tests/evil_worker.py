"""A remote worker that misbehaves, for the tests of the dispatcher's distrust (tests/test_untrusted_workers.py).

    python tests/evil_worker.py tcp://127.0.0.1:PORT MODE SECONDS

It joins like gfn-worker (hello with credit, heartbeats), then for each frame it gets:
    wrongsize  answers a result one row too tall, and reports the frame done
    wrongseq   answers a result carrying another seq, and reports the frame done
    wrongpts   answers a result of the right size with another pts, and reports the frame done
    doneonly   reports the frame done without any result
    withhold   never answers (keeps heartbeating)
    junk       sends garbage, results for frames it never got, and a done list for frames it never had
It prints "evil worker MODE received N frame(s)" on stdout when it stops (after SECONDS, or on SIGTERM).
"""

from __future__ import annotations

import json
import signal
import sys
import time

import zmq


def main() -> None:
    url, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(url)
    sock.send_multipart([json.dumps({"v": 2, "kind": "ready", "credit": 64, "done": [], "hello": True}).encode()])
    t0 = last_beat = time.monotonic()
    got = 0
    while not stop and time.monotonic() - t0 < seconds:
        if time.monotonic() - last_beat > 0.3:
            sock.send_multipart([b'{"v":2,"kind":"heartbeat"}'])
            last_beat = time.monotonic()
            if mode == "junk":
                _junk(sock)
        if not sock.poll(50):
            continue
        parts = sock.recv_multipart()
        h = json.loads(parts[0])
        if h.get("kind") != "frame":
            continue
        got += 1
        if mode in ("withhold", "junk"):
            continue
        if mode != "doneonly":
            r = dict(h, w=4 * h["w"], h=4 * h["h"])
            if mode == "wrongsize":
                r["h"] += 1
            elif mode == "wrongseq":
                r["seq"] = h["seq"] + 1000
            elif mode == "wrongpts":
                r["pts"] = (h["pts"] or 0) + 1
            sock.send_multipart([json.dumps(r).encode(), *_planes(r)])
        sock.send_multipart([json.dumps({"v": 2, "kind": "ready", "credit": 1, "done": [h["seq"]]}).encode()])
    print(f"evil worker {mode} received {got} frame(s)", flush=True)
    sock.close()
    ctx.term()


def _planes(r: dict) -> list[bytes]:
    """Zeroed, tightly packed planes of the result's format (sets its strides; a YUV answer keeps the colour
    asked for)."""
    if r["fmt"] in ("yuv420p", "yuv420p10le"):
        bps = 1 if r["fmt"] == "yuv420p" else 2
        cw, ch = (r["w"] + 1) // 2, (r["h"] + 1) // 2
        r["strides"] = [bps * r["w"], bps * cw, bps * cw]
        r.update(r.pop("ocol", None) or {})
        return [bytes(bps * r["w"] * r["h"]), bytes(bps * cw * ch), bytes(bps * cw * ch)]
    bps = 3 if r["fmt"] == "rgb24" else 6
    r["strides"] = [bps * r["w"]]
    return [bytes(bps * r["w"] * r["h"])]


def _junk(sock: zmq.Socket) -> None:
    frame = {"v": 2, "kind": "frame", "seq": 2, "pts": 2, "tb": [1, 25], "w": 128, "h": 96, "fmt": "rgb24",
             "strides": [384]}
    for parts in ([b"garbage"], [b"[]"], [b'{"v":2,"kind":"eos","frames":0}'],
                  [json.dumps(frame).encode(), bytes(384 * 96)],
                  [b'{"v":2,"kind":"ready","credit":0,"done":[0,1,2,3,4,5,6,7]}']):
        sock.send_multipart(parts)


if __name__ == "__main__":
    main()
