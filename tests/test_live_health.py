"""/health and the output metrics of real live runs (the CLI against a gst-rtsp-server camera on 127.0.0.1):
/health stays "ok" well past the 10 s after which a worker that does not report is called silent, and the
segment and push counters move when those outputs are used (the STATUS events of transport/status.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import av
import pytest
from prometheus_client.parser import text_string_to_metric_families
from rtsp_server import PushReceiver, RtspServer, free_port, require_rtsp

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "gfn_stream.pipeline.cli"]
HEALTHY_FOR_S = 12.0  # past status.REPORT_INTERVAL_S x 5 = the 10 s after which /health calls a worker silent


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:  # 503: degraded
        return e.code, e.read().decode()


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _watch(proc: subprocess.Popen, port: int) -> tuple[list[tuple[float, dict]], dict]:
    """Poll /health until frames come out, then for HEALTHY_FOR_S more; every answer after the first frame
    (seconds since then, body) and the last /metrics samples."""
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    first: float | None = None
    seen: list[tuple[float, dict]] = []
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            code, text = _get(base + "/health")
        except OSError:  # not serving yet
            time.sleep(0.3)
            continue
        body = json.loads(text)
        assert (code == 503) == (body["status"] == "degraded"), (code, body)
        if first is None and body["frames_out"] > 0:
            first = time.monotonic()
        if first is not None:
            seen.append((time.monotonic() - first, body))
            if seen[-1][0] > HEALTHY_FOR_S:
                break
        time.sleep(0.5)
    return seen, _samples(_get(base + "/metrics")[1]) if proc.poll() is None else {}


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def _assert_healthy(seen: list[tuple[float, dict]], metrics: dict, err: str) -> None:
    assert seen and seen[-1][0] > HEALTHY_FOR_S, (seen[-1:], err)
    bad = [(round(t, 1), b) for t, b in seen if b["status"] != "ok"]
    assert not bad, bad[:3]
    assert seen[-1][1]["workers"]["worker 1"] < 5  # reported a moment ago, not at start-up only
    assert metrics[("gfn_worker_up", (("worker", "worker 1"),))] == 1
    assert metrics[("gfn_worker_busy_seconds_total", (("worker", "worker 1"),))] > 0
    assert metrics[("gfn_stage_fps", (("stage", "worker 1"),))] > 0
    assert ("gfn_queue_depth", (("queue", "inflight"),)) in metrics


def _start(*args: object) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *map(str, args), "--model", "bicubic", "-q"], stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))


def test_live_segments_stay_healthy_and_count_segments(tmp_path):
    require_rtsp()
    port = free_port()
    with RtspServer(width=64, height=48, fps=15, key_int=5) as cam:
        p = _start(cam.url, tmp_path / "cam-%H%M%S.mp4", "--segment", "2", "--metrics-port", port)
        try:
            seen, metrics = _watch(p, port)
        finally:
            err = _stop(p)
    _assert_healthy(seen, metrics, err)
    files = sorted(tmp_path.glob("cam-*.mp4"))
    assert metrics[("gfn_segments_total", ())] >= 4, metrics.get(("gfn_segments_total", ()))
    assert metrics[("gfn_segments_total", ())] <= len(files)  # the last one closes after the scrape
    assert metrics[("gfn_segment_errors_total", ())] == 0
    with av.open(str(files[0])) as c:
        assert c.streams.video[0].frames or sum(1 for _ in c.decode(video=0))


def test_live_push_stays_healthy_and_counts_pushed_frames(tmp_path):
    require_rtsp()
    port = free_port()
    with RtspServer(width=64, height=48, fps=15, key_int=5) as cam, PushReceiver("rtsp") as rx:
        p = _start(cam.url, rx.url, "--metrics-port", port)
        try:
            seen, metrics = _watch(p, port)
        finally:
            err = _stop(p)
        received = rx.result(timeout=20)
    _assert_healthy(seen, metrics, err)
    pushed = metrics[("gfn_output_frames_total", ())]
    assert pushed >= 10 * HEALTHY_FOR_S  # 15 fps for more than 12 s, less what the receiver's start cost
    assert metrics[("gfn_output_connected", ())] == 1
    assert metrics[("gfn_output_failures_total", ())] == 0
    assert received["frames"] >= pushed - 30, received  # what the metrics counted did arrive
