"""Helpers for the worker, fuzz, security and protocol-document tests: the real CLIs in subprocesses, a fake
dispatcher, reference outputs computed in this process (the pipeline's own decoder + bicubic)."""

from __future__ import annotations

import os
import re
import socket as pysocket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import zmq

from gfn_stream.nodes.dispatch import Dispatcher
from gfn_stream.nodes.settings import CreditSettings
from gfn_stream.pipeline.config import PipelineSettings
from gfn_stream.transport import protocol

STREAM = [sys.executable, "-m", "gfn_stream.pipeline.cli"]
WORKER = [sys.executable, "-m", "gfn_stream.nodes.worker_node"]
KEYGEN = [sys.executable, "-m", "gfn_stream.transport.keys"]
QUICK_ENV = {"OMP_NUM_THREADS": "1"}  # 2 shared cores: one torch thread per process


def ledger(max_inflight: int, window: int, **settings) -> Dispatcher:
    """A credit ledger (nodes/dispatch.py) with the pipeline's default heartbeats and deadlines unless told."""
    pl = PipelineSettings()  # the defaults, stated once in pipeline/config.py
    defaults = {"heartbeat_s": pl.heartbeat_s, "liveness": pl.liveness, "answer_s": pl.answer_timeout_s,
                "answer_factor": pl.answer_factor}
    return Dispatcher(CreditSettings(max_inflight, window, **{**defaults, **settings}))


def free_port() -> int:
    with pysocket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], *args, timeout: float = 90, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **QUICK_ENV, **(env or {})})


class Proc:
    """A subprocess whose stderr is collected line by line in a thread (wait_for() a line)."""

    def __init__(self, cmd: list[str], *args, env: dict | None = None, start_new_session: bool = False):
        self.p = subprocess.Popen([*cmd, *map(str, args)], stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, **QUICK_ENV, **(env or {})}, start_new_session=start_new_session)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.p.stderr:
            self.lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return m
            if self.p.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not seen in:\n{self.stderr}")

    def wait(self, timeout: float = 90) -> int:
        rc = self.p.wait(timeout)
        self._reader.join(5)
        return rc

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self._reader.join(5)


def reference_bicubic(clip: Path) -> list[np.ndarray]:
    """What the pipeline must write for `clip` with --model bicubic: its own decoder, then 4x bicubic."""
    from gfn_stream.media.frames import Frame
    from gfn_stream.media.source import open_source
    from gfn_stream.models.enhancer import Enhancer

    enhancer = Enhancer(model="bicubic")
    with open_source(str(clip)) as src:
        return [enhancer.enhance(item.rgb) for item in src.items() if isinstance(item, Frame)]


def png_frames(folder: Path) -> list[np.ndarray]:
    return [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in sorted(folder.glob("*.png"))]


def assert_same_frames(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want), f"{len(got)} frames written, {len(want)} expected"
    bad = [i for i, (a, b) in enumerate(zip(got, want)) if a.shape != b.shape or not np.array_equal(a, b)]
    assert not bad, f"frames {bad} differ"


class FakeDispatcher:
    """A ROUTER on a loopback port playing the pipeline's dispatcher, for one worker at a time."""

    def __init__(self, ctx: zmq.Context | None = None):
        self.ctx = ctx or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, 0)  # a ROUTER drops at its high-water mark: none here
        self.sock.setsockopt(zmq.RCVHWM, 0)
        self.sock.bind("tcp://127.0.0.1:*")
        self.url = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)

    def recv(self, timeout: float = 10, skip_heartbeats: bool = True) -> tuple[bytes, protocol.Message]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000)):
                raise TimeoutError("nothing from the worker")
            ident, *parts = self.sock.recv_multipart()
            msg = protocol.unpack(parts)
            if not (skip_heartbeats and msg.kind == protocol.HEARTBEAT):
                return ident, msg

    def send(self, ident: bytes, parts: list) -> None:
        self.sock.send_multipart([ident, *parts])

    def close(self) -> None:
        self.sock.close()
