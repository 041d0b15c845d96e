"""Worker benchmark (JSON out): throughput of 1 and 2 local CPU workers, and the transport's cost per frame.

    python benchmarks/workers.py --out benchmarks/results/workers.json

Throughput: real worker processes (WorkerNode, process=True) on the launcher's local fast path: this process
is the dispatcher (nodes/dispatch.py over ipc://, credits and heartbeats as in a run) and the encoder's
PULL; frames are 320x180 RGB, results 1280x720. Models: plain bicubic (OpenCV) and a tiny random-weight
GFN (channels 8, one block per branch; the real network is ~200x the work), each at 1 and 2 workers,
with the model's torch threads per worker given.

Transport: an echo worker (validates each frame, answers with a prebuilt 1280x720 result, no model), so
all the time is messaging: per frame with up to 8 frames in flight, and one frame at a time (round trip);
over the local path (ipc, results PUSHed to the encoder), the remote path (tcp loopback, results back over
the DEALER and forwarded), and the remote path with CurveZMQ. Bytes on the wire are counted by a TCP relay
between the worker and the dispatcher (both directions, handshake excluded).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import socket as pysocket
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import zmq

from gfn_stream.nodes.dispatch import Dispatcher, WorkerLinks
from gfn_stream.nodes.settings import CreditSettings, LinkSettings
from gfn_stream.nodes.worker_node import WorkerNode
from gfn_stream.pipeline.config import PipelineSettings
from gfn_stream.transport import keys, protocol
from gfn_stream.transport.liveness import HEARTBEAT_S

W, H = 320, 180


def frame_parts(seq: int, image: np.ndarray) -> list:
    return protocol.pack_frame(protocol.FrameHeader(seq, seq, Fraction(1, 25), 0, 0), image)


def dispatcher(cfg: dict, max_inflight: int) -> WorkerLinks:
    """The pipeline's own dispatcher and its sockets (bound now); `cfg`: work, results, and listen, key, allow."""
    links = LinkSettings(cfg["work"], cfg["results"], HEARTBEAT_S, cfg.get("listen"), cfg.get("key"), cfg.get("allow"))
    pl = PipelineSettings()  # the pipeline's heartbeats and answer deadlines
    credits = CreditSettings(max_inflight, 4 * max_inflight, pl.heartbeat_s, pl.liveness, pl.answer_timeout_s,
                             pl.answer_factor)
    return WorkerLinks(zmq.Context.instance(), Dispatcher(credits), links)


def drive(links: WorkerLinks, frames: int, results_sock: zmq.Socket) -> dict:
    """Be the dispatcher and the encoder's PULL for `frames` frames; closes `links`."""
    disp = links.disp
    image = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    sent = got = 0
    first = last = None
    try:
        while got < frames:
            while sent < frames and disp.can_send_new(sent):
                links.send_frame(sent, frame_parts(sent, image))
                sent += 1
            links.pump(1)
            while disp.forward:  # remote results, forwarded by WorkerLinks to results_sock
                links.pump(0)
            while results_sock.poll(0):
                msg = protocol.unpack(results_sock.recv_multipart(copy=False))
                assert msg.kind == protocol.FRAME and msg.header["w"] == 4 * W
                got += 1
                last = time.perf_counter()
                first = first or last
    finally:
        links.close()
    return {"frames": frames, "fps": round((frames - 1) / (last - first), 2),
            "per_frame_us": round(1e6 * (last - first) / (frames - 1))}


def throughput(model: str, workers: int, threads: int, frames: int, weights: str | None) -> dict:
    tmp = tempfile.mkdtemp(prefix="gfn-bench-")
    cfg = {"work": f"ipc://{tmp}/work", "results": f"ipc://{tmp}/results"}
    ctx = zmq.Context.instance()
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.LINGER, 0)
    pull.setsockopt(zmq.RCVHWM, 4)
    pull.bind(cfg["results"])
    nodes = [
        WorkerNode(f"dealer+connect:{cfg['work']}", process=True, results=cfg["results"], model=model, weights=weights,
                   device="cpu", batch=1, threads=threads, name=f"worker {i + 1}")
        for i in range(workers)
    ]
    links = dispatcher(cfg, 4 * workers)
    try:
        for n in nodes:
            n.start()
        out = drive(links, frames, pull)
    finally:
        for n in nodes:
            n.stop()
        pull.close()
    return {"model": model, "workers": workers, "threads_per_worker": threads, **out}


def compute_alone(model: str, weights: str | None, frames: int = 30) -> dict:
    """The model alone in this process (one torch thread), no messaging: per frame."""
    import torch

    from gfn_stream.models.enhancer import Enhancer

    torch.set_num_threads(1)
    enhancer = Enhancer(weights, model=model, device="cpu")
    image = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    for _ in range(3):
        enhancer.enhance(image)
    t0 = time.perf_counter()
    for _ in range(frames):
        enhancer.enhance(image)
    return {"model": model, "threads": 1, "per_frame_us": round(1e6 * (time.perf_counter() - t0) / frames)}


def _echo_worker(url: str, results: str | None, key: str | None, server_key: str | None) -> None:
    """A worker without a model: validate each frame, answer with a prebuilt 4x frame."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    if key:
        keys.client_socket(sock, key, server_key)
    sock.connect(url)
    push = None
    if results:
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.SNDHWM, 4)
        push.connect(results)
    big = np.zeros((4 * H, 4 * W, 3), np.uint8)
    sock.send_multipart(protocol.pack(protocol.READY, {"credit": 8, "done": [], "hello": True}))
    while True:
        parts = sock.recv_multipart(copy=False)
        msg = protocol.unpack(parts)
        if msg.kind != protocol.FRAME:
            sock.send_multipart(protocol.pack(protocol.HEARTBEAT))
            continue
        fh, _ = protocol.unpack_frame(msg)
        out = protocol.pack_frame(protocol.FrameHeader(fh.seq, fh.pts, fh.time_base, 0, 0), big)
        (push or sock).send_multipart(out, copy=False)
        sock.send_multipart(protocol.pack(protocol.READY, {"credit": 1, "done": [fh.seq]}))


class Relay:
    """A TCP relay that counts the bytes passing in each direction."""

    def __init__(self, target_port: int):
        self.server = pysocket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.target = target_port
        self.bytes = [0, 0]  # worker -> dispatcher, dispatcher -> worker
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.server.accept()
            upstream = pysocket.create_connection(("127.0.0.1", self.target))
            for a, b, i in ((client, upstream, 0), (upstream, client, 1)):
                threading.Thread(target=self._pipe, args=(a, b, i), daemon=True).start()

    def _pipe(self, a: pysocket.socket, b: pysocket.socket, i: int) -> None:
        while data := a.recv(1 << 20):
            self.bytes[i] += len(data)
            b.sendall(data)


def transport(path: str, frames: int, keydir: Path, inflight: int, count_bytes: bool = False) -> dict:
    tmp = tempfile.mkdtemp(prefix="gfn-bench-")
    ctx = zmq.Context.instance()
    results = f"ipc://{tmp}/results"
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.LINGER, 0)
    pull.bind(results)
    cfg = {"work": f"ipc://{tmp}/work", "results": results}
    curve = path == "tcp+curve"
    relay = None
    if path == "ipc":
        url, worker_results = cfg["work"], results
    else:
        port = _free_port()
        cfg.update(listen=f"tcp://127.0.0.1:{port}")
        if curve:
            cfg.update(key=str(keydir / "server.key_secret"), allow=str(keydir / "allowed"))
        relay = Relay(port) if count_bytes else None  # the relay's copies would distort the timing
        url, worker_results = f"tcp://127.0.0.1:{relay.port if relay else port}", None
    links = dispatcher(cfg, inflight)
    spawn = mp.get_context("spawn")
    args = (url, worker_results, str(keydir / "w.key_secret") if curve else None,
            str(keydir / "server.key") if curve else None)
    proc = spawn.Process(target=_echo_worker, args=args, daemon=True)
    proc.start()
    try:
        time.sleep(0.5)
        base = list(relay.bytes) if relay else None
        out = drive(links, frames, pull)
        if relay:
            time.sleep(0.2)
            up, down = (relay.bytes[0] - base[0], relay.bytes[1] - base[1])
            return {"path": path, "frames": frames, "wire_bytes_per_frame_to_worker": round(down / frames),
                    "wire_bytes_per_frame_from_worker": round(up / frames)}
    finally:
        proc.kill()
        proc.join()
        pull.close()
    return {"path": path, "frames_in_flight": inflight, **out}


def message_bytes() -> dict:
    inp = frame_parts(123, np.zeros((H, W, 3), np.uint8))
    res = frame_parts(123, np.zeros((4 * H, 4 * W, 3), np.uint8))
    ready = protocol.pack(protocol.READY, {"credit": 1, "done": [123]})

    def zmtp(parts: list) -> int:  # bytes on the wire: each frame plus its ZMTP header (2 bytes short, 9 long)
        return sum(len(memoryview(p).cast("B")) + (2 if len(memoryview(p).cast("B")) < 256 else 9) for p in parts)

    return {
        "input_header": len(inp[0]), "input_plane": len(memoryview(inp[1]).cast("B")),
        "result_header": len(res[0]), "result_plane": len(memoryview(res[1]).cast("B")),
        "ready": len(ready[0]),
        "zmtp_to_worker": zmtp(inp), "zmtp_from_worker_remote": zmtp(res) + zmtp(ready),
    }


def _free_port() -> int:
    with pysocket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine() -> dict:
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    model = names[0] if names else platform.processor()
    return {"cpu": model, "cores": os.cpu_count(), "load_avg_at_start": os.getloadavg(),
            "python": platform.python_version(), "zmq": zmq.zmq_version(), "pyzmq": zmq.__version__}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=120, help="frames per throughput run")
    ap.add_argument("--transport-frames", type=int, default=300)
    ap.add_argument("--out", default="benchmarks/results/workers.json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gfn-bench-"))
    import torch

    from gfn_stream.models.gfn import GFN, GFNConfig
    from gfn_stream.models.weights import save_weights

    torch.manual_seed(0)
    tiny_model = GFN(GFNConfig(channels=8, deblur_blocks=1, sr_blocks=1, recon_blocks=1))
    tiny = str(save_weights(tiny_model, tmp / "tiny.safetensors"))
    keys.keygen(tmp, "server")
    keys.keygen(tmp, "w")
    (tmp / "allowed").mkdir()
    (tmp / "allowed" / "w.key").write_bytes((tmp / "w.key").read_bytes())
    report = {"machine": machine(), "frame": f"{W}x{H} -> {4 * W}x{4 * H} rgb24", "message_bytes": message_bytes()}
    report["transport"] = [transport(p, args.transport_frames, tmp, n)
                           for p in ("ipc", "tcp", "tcp+curve") for n in (8, 1)]
    report["wire_bytes"] = [transport(p, 50, tmp, 8, count_bytes=True) for p in ("tcp", "tcp+curve")]
    for t in report["transport"]:
        print(json.dumps(t), flush=True)
    report["compute_alone"] = [compute_alone(m, w) for m, w in (("bicubic", None), ("gfn", tiny))]
    runs = []
    for model, weights in (("bicubic", None), ("gfn", tiny)):
        for workers, threads in ((1, 1), (1, 2), (2, 1)):
            runs.append(throughput(model, workers, threads, args.frames, weights))
            print(json.dumps(runs[-1]), flush=True)
    report["throughput"] = runs
    report["notes"] = ("gfn = tiny random-weight GFN (channels 8, 1 block per branch); batch 1; "
                       "bf16 where the CPU has it")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
