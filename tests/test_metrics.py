"""pipeline/metrics.py: STATUS events -> Prometheus metrics, fps, health, and the HTTP endpoint."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from gfn_stream.pipeline.metrics import Metrics


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _value(m: Metrics, name: str, **labels) -> float | None:
    return m.registry.get_sample_value(name, labels or None)


def test_live_status_maps_to_counters_by_difference():
    m = Metrics()
    live = {"frames_in": 10, "frames_out": 8, "dropped": {"stale": 2}, "reconnects": 0, "disconnects": 0,
            "packets_corrupt": 1, "connected": True, "last_frame_age_s": 0.05, "queue_depth": 1,
            "queue_latency_s": 0.01}
    m.update_from_status("decoder", "live", live)
    m.update_from_status("decoder", "live", live)  # the same totals again: nothing counted twice
    m.update_from_status("decoder", "live", {**live, "frames_in": 25, "dropped": {"stale": 5, "rate": 3},
                                             "reconnects": 1, "disconnects": 1, "connected": False})
    assert _value(m, "gfn_frames_in_total") == 25
    assert _value(m, "gfn_frames_dropped_total", reason="stale") == 5
    assert _value(m, "gfn_frames_dropped_total", reason="rate") == 3
    assert _value(m, "gfn_input_reconnects_total") == 1 and _value(m, "gfn_input_disconnects_total") == 1
    assert _value(m, "gfn_packets_corrupt_total") == 1
    assert _value(m, "gfn_input_connected") == 0 and _value(m, "gfn_queue_depth", queue="input") == 1
    m.update_from_status("decoder", "live", {"frames_in": 4})  # a restarted decoder counts from its new total
    assert _value(m, "gfn_frames_in_total") == 29


def test_output_progress_latency_and_fps():
    clock = Clock()
    m = Metrics(clock=clock)
    for k in range(1, 6):
        clock.t += 1.0
        m.update_from_status("encoder", "progress", {"frames": 10 * k, "latency_s": [0.12, 0.4], "reorder": 2})
    assert _value(m, "gfn_frames_out_total") == 50
    assert _value(m, "gfn_latency_seconds_count") == 10
    assert _value(m, "gfn_latency_seconds_bucket", le="0.2") == 5
    assert _value(m, "gfn_latency_seconds_sum") == pytest.approx(2.6)
    assert _value(m, "gfn_stage_fps", stage="encode") == pytest.approx(10.0)
    assert _value(m, "gfn_queue_depth", queue="reorder") == 2
    m.update_from_status("encoder", "push", {"connected": False, "failures": 2, "reconnects": 1,
                                             "frames_dropped": 7})
    m.update_from_status("encoder", "segment", {"path": "a.mp4", "frames": 30})
    assert _value(m, "gfn_output_failures_total") == 2 and _value(m, "gfn_output_reconnects_total") == 1
    assert _value(m, "gfn_frames_dropped_total", reason="output_down") == 7
    assert _value(m, "gfn_segments_total") == 1 and _value(m, "gfn_output_connected") == 0


def test_health_ok_then_degraded():
    clock = Clock()
    m = Metrics(clock=clock, stale_after_s=5, worker_timeout_s=10)
    m.update_from_status("worker 1", "ready", {"device": "cpu"})
    m.update_from_status("encoder", "progress", {"frames": 3})
    m.update_from_status("decoder", "live", {"frames_in": 3, "connected": True})
    h = m.health()
    assert h["status"] == "ok" and h["last_frame_age_s"] == 0 and h["frames_out"] == 3 and h["input_connected"]
    clock.t += 6
    m.update_from_status("worker 1", "worker", {"frames": 3, "queue": 0})
    h = m.health()
    assert h["status"] == "degraded" and h["last_frame_age_s"] == 6 and "no frame written" in h["reasons"][0]
    clock.t += 11
    m.update_from_status("encoder", "progress", {"frames": 4})
    m.update_from_status("decoder", "live", {"frames_in": 4, "connected": False})
    h = m.health()
    assert h["reasons"] == ["live input disconnected", "worker 1 silent for 11.0 s"]
    assert _value(m, "gfn_worker_up", worker="worker 1") == 0
    m.update_from_status("encoder", "closed", {"frames": 4})
    assert m.health()["status"] == "finished"


def test_bad_reports_are_ignored_and_registries_are_private():
    a, b = Metrics(), Metrics()  # two instances in one process: no duplicate-metric error
    a.update_from_status("decoder", "live", {"frames_in": "many", "dropped": None, "connected": None})
    a.update_from_status("decoder", "live", None)
    a.update_from_status("x", "unknown-event", {"frames": 5})
    a.update_from_status("decoder", "live", {"frames_in": 2})
    assert _value(a, "gfn_frames_in_total") == 2 and _value(b, "gfn_frames_in_total") == 0
    shared = CollectorRegistry()
    assert Metrics(shared).registry is shared


def test_http_endpoint_serves_metrics_and_health():
    m = Metrics(stale_after_s=60)
    m.update_from_status("decoder", "live", {"frames_in": 12, "dropped": {"stale": 4}, "reconnects": 1,
                                             "connected": True})
    m.update_from_status("encoder", "progress", {"frames": 8, "latency_s": [0.3]})
    with m.start_http(0) as server:
        assert server.addr == "127.0.0.1" and server.port > 0  # loopback by default
        with urllib.request.urlopen(server.url + "/metrics", timeout=5) as r:
            text = r.read().decode()
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        for line in ("gfn_frames_in_total 12.0", "gfn_frames_out_total 8.0",
                     'gfn_frames_dropped_total{reason="stale"} 4.0', "gfn_input_reconnects_total 1.0",
                     "gfn_latency_seconds_count 1.0", "gfn_up 1.0"):
            assert line in text
        with urllib.request.urlopen(server.url + "/health", timeout=5) as r:
            body = json.loads(r.read())
        assert r.status == 200 and body["status"] == "ok" and body["frames_out"] == 8
        m.update_from_status("decoder", "live", {"connected": False})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.url + "/health", timeout=5)
        assert err.value.code == 503 and json.loads(err.value.read())["status"] == "degraded"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.url + "/nope", timeout=5)
        assert err.value.code == 404
