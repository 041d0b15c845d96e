"""Prometheus metrics and a health check for a running pipeline, kept in the launcher process.

    metrics = Metrics()                                   # its own CollectorRegistry: instances never collide
    server = metrics.start_http(9108)                     # /metrics (Prometheus text) and /health (JSON), 127.0.0.1
    ...
    metrics.update(report)                                # for every STATUS message (a transport.status.Report)
    ...
    server.close()

Nodes do not serve metrics themselves: they send typed STATUS events to the launcher (transport/status.py owns
the vocabulary: which node sends which event, when, with which fields), and update() turns them into metrics
(update_from_status(node, event, fields) decodes a header first and ignores one that does not follow the
vocabulary). Totals in those events are cumulative (what the node has counted since it started); counters
advance by the difference, so a repeated message counts once and a restarted node (whose totals drop) starts
again from its new total. Any STATUS from a node also counts as a sign of life for it.

event       metrics
Live        frames_in_total, frames_dropped_total{reason}, input_reconnects_total, input_disconnects_total,
            packets_corrupt_total, input_connected, input_last_frame_age_seconds, queue_depth{queue="input"},
            queue_latency_seconds, stage_fps{stage="decode"}
Info        input_connected (1 for a live input until a Live event says otherwise)
Decoded     frames_in_total, stage_fps{stage="decode"} (file inputs)
Inflight    queue_depth{queue="inflight"}
Progress    frames_out_total, latency_seconds (histogram, capture to output), queue_depth{queue="reorder"},
            stage_fps{stage="encode"}, last_output_age_seconds
Push        output_connected, output_failures_total, output_reconnects_total, output_frames_total,
            frames_dropped_total{reason="output_down"}
Segment     segments_total (segment files closed), segment_errors_total (closing one failed)
Closed      frames_out_total; /health says "finished"
Ready       worker_up{worker}
WorkerStatus  worker_up{worker}, stage_fps{stage=worker}, queue_depth{queue=worker},
            worker_busy_seconds_total{worker} (rate(): the worker's utilisation, 0..1)
Stopped     worker_up{worker} 0; the worker leaves the silence check
any         node_last_seen_seconds{node}

All names have the prefix gfn_; gfn_up is 1 while the pipeline runs.

/health answers 200 {"status": "ok", ...} while frames come out, and 503 {"status": "degraded", "reasons":
[...]} when no frame was written for `stale_after_s` (default 5 s), the live input is disconnected, or a
worker has not reported for `worker_timeout_s` (default 10 s; workers report every 2 s,
status.REPORT_INTERVAL_S). The body always has last_frame_age_s (seconds since the last output frame, null
before the first), input_connected, frames_in, frames_out, workers {name: seconds since its last report}.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from ..nodes import exitcodes
from ..transport import status
from .config import LiveSettings
from .supervise import RunFailed, RunState

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
        self.output_frames = Counter("gfn_output_frames", "Frames delivered to a push output", registry=r)
        self.segments = Counter("gfn_segments", "Segment files completed", registry=r)
        self.segment_errors = Counter("gfn_segment_errors", "Segment files that failed to close", registry=r)
        self.worker_busy = Counter("gfn_worker_busy_seconds", "Seconds a worker spent running batches", ["worker"],
                                   registry=r)
        self.output_age = Gauge("gfn_last_output_age_seconds", "Seconds since the last frame was written",
                                registry=r)
        self.up = Gauge("gfn_up", "1 while the pipeline runs", registry=r)
        self.up.set(1)
        self.output_age.set_function(lambda: self._output_age() or 0.0)
        self.node_seen_fn: dict[str, bool] = {}

    # ------------------------------------------------------------------------------------------ feeding
    def update(self, report: status.Report) -> None:
        """Map one typed STATUS report (see the module docstring) onto the metrics. Never raises: metrics must
        never stop a run (a failure is logged at debug level)."""
        now = self._clock()
        with self._lock:
            try:
                self._seen_node(report.node, now)
                self._map(report.node, report.event, now)
            except Exception as exc:  # noqa: BLE001
                logger.debug("metrics update failed: %s", exc)

    def update_from_status(self, node: str, event: str, fields: dict[str, Any] | None) -> None:
        """Decode a STATUS header's fields and map them; one that does not follow the vocabulary is ignored
        (logged at debug level). Never raises on bad input."""
        try:
            report = status.decode({**(fields or {}), "node": node, "event": event})
        except status.StatusError as exc:
            logger.debug("ignored a status: %s", exc)
            return
        self.update(report)

    def finish(self) -> None:
        """The run ended: /health says so and gfn_up drops to 0."""
        with self._lock:
            self._finished = True
            self.up.set(0)

    def _map(self, node: str, ev: status.Event, now: float) -> None:
        if isinstance(ev, status.Live):
            self._advance(self.frames_in, ("in",), ev.frames_in)
            self._rate("decode", ev.frames_in, now)
            for reason, total in ev.dropped.items():
                self._advance(self.frames_dropped.labels(reason=reason), ("drop", "input", reason), total)
            self._advance(self.reconnects, ("reconnects",), ev.reconnects)
            self._advance(self.disconnects, ("disconnects",), ev.disconnects)
            self._advance(self.packets_corrupt, ("corrupt",), ev.packets_corrupt)
            if ev.connected is not None:
                self._connected = ev.connected
                self.input_connected.set(1 if ev.connected else 0)
            self._set(self.input_age, ev.last_frame_age_s)
            self._set(self.queue_depth.labels(queue="input"), ev.queue_depth)
            self._set(self.queue_latency, ev.queue_latency_s)
        elif isinstance(ev, status.Info):
            if ev.info.get("is_live") and self._connected is None:
                self._connected = True
                self.input_connected.set(1)
        elif isinstance(ev, status.Decoded):
            self._advance(self.frames_in, ("in",), ev.frames)
            self._rate("decode", ev.frames, now)
        elif isinstance(ev, status.Inflight):
            self._set(self.queue_depth.labels(queue="inflight"), ev.frames)
        elif isinstance(ev, (status.Progress, status.Closed)):
            before = self._totals.get(("out",))
            self._advance(self.frames_out, ("out",), ev.frames)
            if self._totals.get(("out",)) != before and ev.frames:
                self._last_out_at = now
            self._rate("encode", ev.frames, now)
            if isinstance(ev, status.Closed):
                self._finished = True
                return
            for value in ev.latency_s:
                self.latency.observe(max(0.0, float(value)))
            self._set(self.queue_depth.labels(queue="reorder"), ev.reorder)
        elif isinstance(ev, status.Push):
            self.output_connected.set(1 if ev.connected else 0)
            self._advance(self.output_failures, ("push_failures",), ev.failures)
            self._advance(self.output_reconnects, ("push_reconnects",), ev.reconnects)
            self._advance(self.output_frames, ("push_frames",), ev.frames_written)
            self._advance(self.frames_dropped.labels(reason="output_down"), ("drop", "push"), ev.frames_dropped)
        elif isinstance(ev, status.Segment):
            (self.segments if ev.error is None else self.segment_errors).inc()
        elif isinstance(ev, (status.Ready, status.WorkerStatus)):
            self._workers.add(node)
            self.worker_up.labels(worker=node).set(1)
            if isinstance(ev, status.WorkerStatus):
                self._rate(node, ev.frames, now)
                self._set(self.queue_depth.labels(queue=node), ev.queue)
                self._advance(self.worker_busy.labels(worker=node), ("busy", node), ev.busy_s)
        elif isinstance(ev, status.Stopped):
            self._workers.discard(node)
            self.worker_up.labels(worker=node).set(0)

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


@contextlib.contextmanager
def serve_metrics(live: LiveSettings, state: RunState) -> Iterator[Metrics]:
    """--metrics-port: the run's Metrics (state.metrics, fed by the supervisor) served while the block runs; then
    /health says the run finished. A port that cannot be bound fails the run (exit 2)."""
    state.metrics = metrics = Metrics()
    try:
        server = metrics.start_http(live.metrics_port, addr=live.metrics_addr)
    except OSError as exc:
        raise RunFailed(str(exc), exitcodes.USAGE) from None
    try:
        with server:
            yield metrics
    finally:
        metrics.finish()


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
