"""Prometheus metrics and a health check for a running pipeline, kept in the launcher process.

    metrics = Metrics()                                   # its own CollectorRegistry: instances never collide
    server = metrics.start_http(9108)                     # /metrics (Prometheus text) and /health (JSON), 127.0.0.1
    ...
    metrics.update_from_status(h["node"], h["event"], h)  # for every STATUS message the launcher receives
    ...
    server.close()

Nodes do not serve metrics themselves: they send STATUS messages to the launcher (nodes/node.py Reporter),
and update_from_status() turns them into metrics. Totals in those messages are cumulative (what the node has
counted since it started); counters advance by the difference, so a repeated message counts once and a
restarted node (whose totals drop) starts again from its new total. Unknown events and fields are ignored.

Events and fields it understands (all fields optional):

event       sent by: fields
"live"      decoder, every ~0.5 s, `LiveSource.stats()`: frames_in, frames_out, dropped {reason: total},
            reconnects, disconnects, packets_corrupt, connected, last_frame_age_s, queue_depth, queue_latency_s
"info"      decoder, once: info {is_live, width, height, frame_rate, ...}
"decoded"   decoder, at the end: frames
"progress"  encoder, ~4x a second: frames (written so far), latency_s (end-to-end seconds of frames written since
            the last report: a number or a list), reorder (frames waiting for an earlier one), dropped {reason:
            total} (frames the encoder skipped, e.g. "late")
"push"      encoder with a push output: connected, failures, reconnects, frames_dropped
"segment"   encoder with segment output: path, frames (one closed segment)
"closed"    encoder, at the end: frames
"ready"     worker, at start: device, model, precision
"worker"    worker, every ~1 s: frames (done so far), queue (frames held), batch, busy (0..1)
"inflight"  decoder: frames (sent to workers, not yet done)

Any STATUS from a node also counts as a sign of life for it (gfn_node_last_seen_seconds).

Metric names (prefix gfn_): frames_in_total, frames_out_total, frames_dropped_total{reason},
input_reconnects_total, input_disconnects_total, packets_corrupt_total, input_connected,
input_last_frame_age_seconds, latency_seconds (histogram, capture to output), queue_latency_seconds
(reader queue wait, last value), stage_fps{stage} (decode, encode, and one per worker: measured over the
last seconds from the totals), queue_depth{queue} (input, reorder, worker queues, inflight),
worker_up{worker}, node_last_seen_seconds{node}, output_connected, output_failures_total,
output_reconnects_total, segments_total, last_output_age_seconds, up (1 while the pipeline runs).

/health answers 200 {"status": "ok", ...} while frames come out, and 503 {"status": "degraded", "reasons":
[...]} when no frame was written for `stale_after_s` (default 5 s), the live input is disconnected, or a
worker has not reported for `worker_timeout_s` (default 10 s). The body always has last_frame_age_s (seconds
since the last output frame, null before the first), input_connected, frames_in, frames_out, workers {name:
seconds since its last report}.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
FPS_WINDOW_S = 5.0  # stage fps is measured over about this many seconds


class Metrics:
    """All pipeline metrics in one private registry, fed by update_from_status()."""

    def __init__(self, registry: CollectorRegistry | None = None, *, stale_after_s: float = 5.0,
                 worker_timeout_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.stale_after_s, self.worker_timeout_s = stale_after_s, worker_timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._totals: dict[tuple, float] = {}  # (metric key) -> last cumulative total seen
        self._rates: dict[str, deque[tuple[float, float]]] = {}  # stage -> (time, total) samples
        self._seen: dict[str, float] = {}  # node -> last STATUS time
        self._workers: set[str] = set()
        self._last_out_at: float | None = None
        self._started = clock()
        self._connected: bool | None = None  # None: not a live input
        self._finished = False
        r = self.registry
        self.frames_in = Counter("gfn_frames_in", "Frames decoded from the input", registry=r)
        self.frames_out = Counter("gfn_frames_out", "Frames written to the output", registry=r)
        self.frames_dropped = Counter("gfn_frames_dropped", "Frames dropped, by reason", ["reason"], registry=r)
        self.reconnects = Counter("gfn_input_reconnects", "Live input reconnections", registry=r)
        self.disconnects = Counter("gfn_input_disconnects", "Live input drops and stalls", registry=r)
        self.packets_corrupt = Counter("gfn_packets_corrupt", "Corrupt input packets skipped", registry=r)
        self.input_connected = Gauge("gfn_input_connected", "1 while the live input delivers", registry=r)
        self.input_age = Gauge("gfn_input_last_frame_age_seconds", "Seconds since the input's last frame",
                               registry=r)
        self.latency = Histogram("gfn_latency_seconds", "End-to-end latency: frame decoded to frame written",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.queue_latency = Gauge("gfn_queue_latency_seconds", "Time the last frame waited in the input queue",
                                   registry=r)
        self.fps = Gauge("gfn_stage_fps", "Frames per second, per stage", ["stage"], registry=r)
        self.queue_depth = Gauge("gfn_queue_depth", "Frames waiting, per queue", ["queue"], registry=r)
        self.worker_up = Gauge("gfn_worker_up", "1 while a worker reports in time", ["worker"], registry=r)
        self.node_seen = Gauge("gfn_node_last_seen_seconds", "Seconds since a node's last status", ["node"],
                               registry=r)
        self.output_connected = Gauge("gfn_output_connected", "1 while a push output is connected", registry=r)
        self.output_failures = Counter("gfn_output_failures", "Push output connection failures", registry=r)
        self.output_reconnects = Counter("gfn_output_reconnects", "Push output reconnections", registry=r)
        self.segments = Counter("gfn_segments", "Segment files completed", registry=r)
        self.output_age = Gauge("gfn_last_output_age_seconds", "Seconds since the last frame was written",
                                registry=r)
        self.up = Gauge("gfn_up", "1 while the pipeline runs", registry=r)
        self.up.set(1)
        self.output_age.set_function(lambda: self._output_age() or 0.0)
        self.node_seen_fn: dict[str, bool] = {}

    # ------------------------------------------------------------------------------------------ feeding
    def update_from_status(self, node: str, event: str, fields: dict[str, Any]) -> None:
        """Map one STATUS message (see the module docstring) onto the metrics. Never raises on bad input."""
        try:
            self._update(str(node), str(event), fields or {})
        except Exception:  # a malformed report must never take the launcher down
            logger.debug("could not map status %s/%s", node, event, exc_info=True)

    def finish(self) -> None:
        """The run ended: /health says so and gfn_up drops to 0."""
        with self._lock:
            self._finished = True
            self.up.set(0)

    def _update(self, node: str, event: str, f: dict[str, Any]) -> None:
        now = self._clock()
        with self._lock:
            self._seen_node(node, now)
            if event == "live":
                self._advance(self.frames_in, ("in",), f.get("frames_in"))
                self._rate("decode", f.get("frames_in"), now)
                for reason, total in (f.get("dropped") or {}).items():
                    self._advance(self.frames_dropped.labels(reason=str(reason)), ("drop", "input", reason), total)
                self._advance(self.reconnects, ("reconnects",), f.get("reconnects"))
                self._advance(self.disconnects, ("disconnects",), f.get("disconnects"))
                self._advance(self.packets_corrupt, ("corrupt",), f.get("packets_corrupt"))
                if f.get("connected") is not None:
                    self._connected = bool(f["connected"])
                    self.input_connected.set(1 if self._connected else 0)
                self._set(self.input_age, f.get("last_frame_age_s"))
                self._set(self.queue_depth.labels(queue="input"), f.get("queue_depth"))
                self._set(self.queue_latency, f.get("queue_latency_s"))
            elif event == "info":
                info = f.get("info") or {}
                if info.get("is_live") and self._connected is None:
                    self._connected = True
                    self.input_connected.set(1)
            elif event == "decoded":
                self._advance(self.frames_in, ("in",), f.get("frames"))
                self._rate("decode", f.get("frames"), now)
            elif event in ("progress", "closed"):
                before = self._totals.get(("out",))
                self._advance(self.frames_out, ("out",), f.get("frames"))
                if self._totals.get(("out",)) != before and f.get("frames"):
                    self._last_out_at = now
                self._rate("encode", f.get("frames"), now)
                latency = f.get("latency_s")
                for value in (latency if isinstance(latency, (list, tuple)) else [latency]):
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        self.latency.observe(max(0.0, float(value)))
                self._set(self.queue_depth.labels(queue="reorder"), f.get("reorder"))
                for reason, total in (f.get("dropped") or {}).items():
                    self._advance(self.frames_dropped.labels(reason=str(reason)), ("drop", "output", reason), total)
                if event == "closed":
                    self._finished = True
            elif event == "push":
                if f.get("connected") is not None:
                    self.output_connected.set(1 if f["connected"] else 0)
                self._advance(self.output_failures, ("push_failures",), f.get("failures"))
                self._advance(self.output_reconnects, ("push_reconnects",), f.get("reconnects"))
                self._advance(self.frames_dropped.labels(reason="output_down"), ("drop", "push"),
                              f.get("frames_dropped"))
            elif event == "segment":
                self.segments.inc()
            elif event == "ready":
                self._workers.add(node)
                self.worker_up.labels(worker=node).set(1)
            elif event == "worker":
                self._workers.add(node)
                self.worker_up.labels(worker=node).set(1)
                self._rate(node, f.get("frames"), now)
                self._set(self.queue_depth.labels(queue=node), f.get("queue"))
            elif event == "inflight":
                self._set(self.queue_depth.labels(queue="inflight"), f.get("frames"))

    def _seen_node(self, node: str, now: float) -> None:
        self._seen[node] = now
        if node not in self.node_seen_fn:
            self.node_seen_fn[node] = True
            self.node_seen.labels(node=node).set_function(lambda n=node: self._clock() - self._seen[n])

    def _advance(self, counter: Any, key: tuple, total: Any) -> None:
        """Move a counter to a node's cumulative total (a total that went down: the node restarted)."""
        if not isinstance(total, (int, float)) or isinstance(total, bool) or total < 0:
            return
        last = self._totals.get(key)
        delta = total if last is None or total < last else total - last
        self._totals[key] = total
        if delta:
            counter.inc(delta)

    @staticmethod
    def _set(gauge: Any, value: Any) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            gauge.set(value)

    def _rate(self, stage: str, total: Any, now: float) -> None:
        if not isinstance(total, (int, float)) or isinstance(total, bool):
            return
        samples = self._rates.setdefault(stage, deque())
        if samples and total < samples[-1][1]:
            samples.clear()  # restarted
        samples.append((now, float(total)))
        while len(samples) > 2 and now - samples[1][0] >= FPS_WINDOW_S:
            samples.popleft()
        t0, n0 = samples[0]
        if now > t0:
            self.fps.labels(stage=stage).set((total - n0) / (now - t0))

    # ------------------------------------------------------------------------------------------ health
    def _output_age(self) -> float | None:
        return None if self._last_out_at is None else self._clock() - self._last_out_at

    def health(self) -> dict[str, Any]:
        """{"status": "ok" | "degraded" | "finished", "reasons": [...], "last_frame_age_s": ..., ...}"""
        now = self._clock()
        with self._lock:
            age = self._output_age()
            reasons = []
            if self._finished:
                status = "finished"
            else:
                since = age if age is not None else now - self._started
                if since > self.stale_after_s:
                    reasons.append(f"no frame written for {since:.1f} s")
                if self._connected is False:
                    reasons.append("live input disconnected")
                for w in sorted(self._workers):
                    quiet = now - self._seen.get(w, self._started)
                    if quiet > self.worker_timeout_s:
                        reasons.append(f"{w} silent for {quiet:.1f} s")
                        self.worker_up.labels(worker=w).set(0)
                status = "degraded" if reasons else "ok"
            return {
                "status": status,
                "reasons": reasons,
                "last_frame_age_s": None if age is None else round(age, 3),
                "input_connected": self._connected,
                "frames_in": self._totals.get(("in",), 0),
                "frames_out": self._totals.get(("out",), 0),
                "workers": {w: round(now - self._seen.get(w, self._started), 3) for w in sorted(self._workers)},
            }

    # ------------------------------------------------------------------------------------------ serving
    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        self.health()  # refreshes worker_up
        return generate_latest(self.registry)

    def start_http(self, port: int, addr: str = "127.0.0.1") -> MetricsServer:
        """Serve /metrics and /health on addr:port (port 0: a free one; see .port) from a daemon thread.
        Loopback by default: pass addr="0.0.0.0" to expose it (there is no authentication)."""
        return MetricsServer(self, addr, port)


class MetricsServer:
    """The HTTP endpoint: GET /metrics, GET /health (200 ok / 503 degraded), anything else 404."""

    def __init__(self, metrics: Metrics, addr: str, port: int) -> None:
        handler = _handler(metrics)
        try:
            self.httpd = ThreadingHTTPServer((addr, port), handler)
        except OSError as e:
            raise OSError(f"cannot serve metrics on {addr}:{port}: {e.strerror or e}") from None
        self.httpd.daemon_threads = True
        self.addr, self.port = self.httpd.server_address[:2]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="metrics-http", daemon=True)
        self.thread.start()
        logger.info("metrics on http://%s:%d/metrics", self.addr, self.port)

    @property
    def url(self) -> str:
        return f"http://{self.addr}:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(2)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler(metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, metrics.render())
            elif path in ("/health", "/healthz"):
                body = metrics.health()
                code = 503 if body["status"] == "degraded" else 200
                self._send(code, "application/json", json.dumps(body).encode())
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics or /health\n")

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args: Any) -> None:
            logger.debug("metrics http: " + fmt, *args)

    return Handler
