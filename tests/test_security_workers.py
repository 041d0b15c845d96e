"""CurveZMQ for workers: key files, refusal of non-loopback endpoints without keys, allow-lists that refuse
unknown peers (a standalone worker's clients, and the pipeline's --listen endpoint)."""

from __future__ import annotations

import shutil
import stat

import numpy as np
import pytest
import zmq
from workers_kit import KEYGEN, STREAM, WORKER, Proc, assert_same_frames, free_port, png_frames, reference_bicubic, run

from gfn_stream.nodes.client import WorkerClient
from gfn_stream.nodes.worker_node import WorkerNode
from gfn_stream.transport.keys import SecurityError
from media import make_clip

pytestmark = pytest.mark.skipif(not zmq.has("curve"), reason="libzmq without CurveZMQ")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    r = run(KEYGEN, d, "--name", "server", "--name", "good", "--name", "bad", timeout=60)
    assert r.returncode == 0, r.stderr
    (d / "allowed").mkdir()
    shutil.copy(d / "good.key", d / "allowed")
    return d


def test_keygen_writes_pairs_and_keeps_secrets_private(keys):
    for name in ("server", "good", "bad"):
        assert stat.S_IMODE((keys / f"{name}.key_secret").stat().st_mode) == 0o600
        assert "secret-key" in (keys / f"{name}.key_secret").read_text()
        assert "secret-key" not in (keys / f"{name}.key").read_text()
    r = run(KEYGEN, keys, "--name", "good", timeout=60)
    assert r.returncode == 2 and "refusing to overwrite" in r.stderr


def test_endpoints_off_loopback_need_keys(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=2).path
    r = run(STREAM, src, tmp_path / "o.mp4", "--listen", f"tcp://0.0.0.0:{free_port()}", timeout=60)
    assert r.returncode == 2 and "not a loopback address" in r.stderr and "gfn-keygen" in r.stderr, r.stderr
    r = run(WORKER, "dealer+connect:tcp://192.0.2.1:5555", "--model", "bicubic", timeout=60)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "not a loopback address" in lines[0], r.stderr
    with pytest.raises(SecurityError):
        WorkerNode("router+bind:tcp://0.0.0.0:5556", model="bicubic")
    with pytest.raises(SecurityError):
        WorkerClient("tcp://worker.example:5556")


def test_worker_serves_only_clients_in_its_allow_list(keys, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    shutil.copy(keys / "good.key", allowed)
    frame = np.zeros((6, 8, 3), np.uint8)
    with WorkerNode("router+bind:tcp://127.0.0.1:*", model="bicubic", key=str(keys / "server.key_secret"),
                    allow=str(allowed)) as node:
        with WorkerClient(node.endpoint, key=str(keys / "good.key_secret"), server_key=str(keys / "server.key")) as c:
            assert c.enhance(frame).shape == (24, 32, 3)
        with WorkerClient(node.endpoint, key=str(keys / "bad.key_secret"), server_key=str(keys / "server.key")) as c:
            assert not c.ping(timeout=1.0)
        with WorkerClient(node.endpoint) as c:  # plain, no CurveZMQ at all
            assert not c.ping(timeout=1.0)
        shutil.copy(keys / "bad.key", allowed)  # allowed from now on: the list is re-read when it changes
        with WorkerClient(node.endpoint, key=str(keys / "bad.key_secret"), server_key=str(keys / "server.key")) as c:
            assert c.ping(timeout=5.0)
        assert node.stats.frames == 1


@pytest.mark.slow
def test_pipeline_listen_gives_frames_only_to_allowed_workers(keys, tmp_path):
    clip = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=20).path
    out = tmp_path / "out"
    out.mkdir()
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    run_ = Proc(STREAM, clip, out / "f_%04d.png", "--model", "bicubic", "--workers", 0, "--listen", url,
                "--key", keys / "server.key_secret", "--allow", keys / "allowed", "--worker-wait", 60, "-q")
    intruder = Proc(WORKER, f"dealer+connect:{url}", "--model", "bicubic", "--key", keys / "bad.key_secret",
                    "--server-key", keys / "server.key")
    node = None
    try:
        intruder.wait_for("refused the connection")
        node = WorkerNode(f"dealer+connect:{url}", model="bicubic", key=str(keys / "good.key_secret"),
                          server_key=str(keys / "server.key")).start()
        assert run_.wait() == 0, run_.stderr
    finally:
        if node is not None:
            node.stop()
        intruder.stop()
        run_.stop()
    assert_same_frames(png_frames(out), reference_bicubic(clip))
    assert node.stats.frames == 20
    assert "served 0 frame(s)" in intruder.stderr
    assert "not in the allow-list" in run_.stderr
