"""transport/status.py: the typed STATUS vocabulary, its wire form (JSON header, no pickle) and validation, and
the metrics / health the launcher derives from the events the nodes really send."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from gfn_stream.pipeline.metrics import Metrics
from gfn_stream.transport import protocol, status
from gfn_stream.transport.status import (
    EVENTS,
    Closed,
    Decoded,
    Every,
    Inflight,
    Info,
    Live,
    Progress,
    Push,
    Ready,
    Report,
    Segment,
    StatusError,
    Stopped,
    WorkerStatus,
    decode,
    encode,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"
SAMPLES = [
    Info(info={"is_live": True, "width": 64, "height": 48, "frame_rate": [15, 1]}),
    Live(frames_in=30, frames_out=28, dropped={"stale": 2}, connected=True, last_frame_age_s=0.05, queue_depth=1,
         queue_latency_s=0.01, sent=28),
    Inflight(frames=3, workers=1),
    Decoded(frames=40, warnings=["w"], input={"packets": 40}, bad_workers=1),
    Progress(frames=12, reorder=2, latency_s=[0.2, 0.31]),
    Push(connected=True, failures=1, reconnects=1, frames_written=50, frames_dropped=4, last_error="refused"),
    Segment(path="rec/cam-120000.mp4", start=12.5, frames=30),
    Closed(frames=40, complete=True, warnings=[], output="out.mkv"),
    Ready(device="cpu", precision="fp32", model="bicubic"),
    WorkerStatus(frames=9, queue=2, busy_s=1.25),
    Stopped(frames=9, reconnects=1),
]


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _wire(node: str, event: status.Event) -> dict:
    """What the launcher's control socket gets: protocol.pack, bytes, protocol.unpack."""
    parts = protocol.pack(protocol.STATUS, encode(node, event, peak_rss_mb=123.4))
    json.loads(parts[0])  # plain JSON: no pickle, no buffers
    assert len(parts) == 1
    return protocol.unpack([bytes(p) for p in parts]).header


def test_every_event_is_sampled_and_round_trips_over_the_wire():
    assert {type(e) for e in SAMPLES} == set(EVENTS.values())
    for event in SAMPLES:
        report = decode(_wire("worker 1", event))
        assert report == Report("worker 1", event, 123.4)
        assert EVENTS[report.event.EVENT] is type(event)


def test_events_are_checked_where_they_are_built():
    with pytest.raises(StatusError, match="frames must be int"):
        Progress(frames="12")
    with pytest.raises(StatusError, match="frames must be int"):
        WorkerStatus(frames=True)  # a bool is not a count
    with pytest.raises(StatusError, match="dropped"):
        Live(dropped={"stale": 1.5})
    with pytest.raises(StatusError, match="latency_s"):
        Progress(latency_s=0.3)  # a list, not a number
    with pytest.raises(TypeError):
        Push(connected=True, bogus=1)  # not a field: the sender fails at once
    assert WorkerStatus(busy_s=2).busy_s == 2  # an int is a float
    with pytest.raises(StatusError):
        encode("x", status.Event())


@pytest.mark.parametrize("header, match", [
    ({"event": "progress"}, "without a node"),
    ({"node": "", "event": "progress"}, "without a node"),
    ({"node": "encoder"}, "without an event"),
    ({"node": "encoder", "event": "nope"}, "unknown status event"),
    ({"node": "encoder", "event": "progress", "push": {"connected": True}}, "unknown field"),
    ({"node": "encoder", "event": "progress", "frames": -0.5}, "frames must be int"),
    ({"node": "encoder", "event": "progress", "peak_rss_mb": "lots"}, "peak_rss_mb"),
    ({"node": "worker 1", "event": "worker", "queue": None}, "queue must be int"),
    ({"node": "encoder", "event": "segment", "path": 3}, "path must be str"),
])
def test_decode_rejects_what_does_not_follow_the_vocabulary(header, match):
    with pytest.raises(StatusError, match=match):
        decode({"v": 1, "kind": "status", **header})


def test_missing_fields_take_their_defaults():
    report = decode({"v": 1, "kind": "status", "node": "worker 2", "event": "worker"})
    assert report == Report("worker 2", WorkerStatus(), None)
    assert all(f.name not in status.ENVELOPE for cls in EVENTS.values() for f in dataclasses.fields(cls))


def test_every_is_due_once_per_interval():
    clock = Clock()
    every = Every(2.0, clock)
    assert every.due() and not every.due()
    clock.t += 1.9
    assert not every.due()
    clock.t += 0.2
    assert every.due() and not every.due()


def test_health_stays_ok_through_a_minute_of_what_the_nodes_send():
    """The defect this vocabulary fixes: workers reported only at start and stop, so /health said `degraded:
    worker 1 silent` 10 s into every live run. Feed the events the nodes send, at their intervals."""
    clock = Clock()
    m = Metrics(clock=clock)
    feed = lambda node, ev: m.update(decode(_wire(node, ev)))  # noqa: E731
    feed("decoder", SAMPLES[0])
    feed("worker 1", Ready(device="cpu", precision="fp32", model="bicubic"))
    for tick in range(1, 4 * 60 + 1):  # a minute in 0.25 s steps
        clock.t += 0.25
        frames = 4 * tick
        feed("encoder", Progress(frames=frames, latency_s=[0.2]))
        if tick % 2 == 0:
            feed("decoder", Live(frames_in=frames + 1, connected=True, sent=frames + 1))
        if tick % 8 == 0:  # every 2 s
            feed("worker 1", WorkerStatus(frames=frames, queue=1, busy_s=tick * 0.1))
            feed("decoder", Inflight(frames=1, workers=1))
            feed("encoder", Push(connected=True, frames_written=frames))
        if tick % 40 == 0:  # a segment every 10 s
            feed("encoder", Segment(path=f"s{tick}.mp4", start=tick / 4, frames=40))
        if tick > 40:
            assert m.health()["status"] == "ok", m.health()
    value = m.registry.get_sample_value
    assert value("gfn_worker_up", {"worker": "worker 1"}) == 1
    assert value("gfn_stage_fps", {"stage": "worker 1"}) == pytest.approx(16.0)
    assert value("gfn_worker_busy_seconds_total", {"worker": "worker 1"}) == pytest.approx(24.0)
    assert value("gfn_queue_depth", {"queue": "worker 1"}) == 1
    assert value("gfn_queue_depth", {"queue": "inflight"}) == 1
    assert value("gfn_output_frames_total") == 960 and value("gfn_output_connected") == 1
    assert value("gfn_segments_total") == 6
    clock.t += 11  # now the worker really goes quiet (frames still come out of another path)
    feed("encoder", Progress(frames=1000))
    assert m.health()["reasons"] == ["worker 1 silent for 11.0 s"]


def test_push_failures_segment_errors_and_a_stopped_worker():
    clock = Clock()
    m = Metrics(clock=clock)
    m.update(Report("encoder", Push(connected=False, failures=2, reconnects=0, frames_dropped=7)))
    m.update(Report("encoder", Push(connected=True, failures=2, reconnects=1, frames_written=3, frames_dropped=7)))
    m.update(Report("encoder", Segment(path="a.mp4", frames=3, error="disk full")))
    value = m.registry.get_sample_value
    assert value("gfn_output_failures_total") == 2 and value("gfn_output_reconnects_total") == 1
    assert value("gfn_frames_dropped_total", {"reason": "output_down"}) == 7
    assert value("gfn_segments_total") == 0 and value("gfn_segment_errors_total") == 1
    m.update(Report("worker 1", Ready()))
    m.update(Report("encoder", Progress(frames=1)))
    m.update(Report("worker 1", Stopped(frames=1)))
    clock.t += 3
    m.update(Report("encoder", Progress(frames=30)))
    assert m.health()["status"] == "ok"  # a worker that said goodbye is not "silent"
    assert value("gfn_worker_up", {"worker": "worker 1"}) == 0


def test_the_protocol_document_lists_every_event_and_field():
    text = DOC.read_text()
    section = text[text.index("### `status`"):text.index("## Endpoints")]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` +\|(.*)$", section, re.M)}
    assert set(rows) == set(EVENTS)
    for name, cls in EVENTS.items():
        documented = set(re.findall(r"`(\w+)`", rows[name].rsplit("|", 2)[-2]))
        assert documented == {f.name for f in dataclasses.fields(cls)}, name
    example = re.search(r"```\n(\{.*\})\n```", section).group(1)
    report = decode(json.loads(example))
    assert report == Report("worker 1", WorkerStatus(frames=120, queue=2, busy_s=3.41), 412.3)


def test_the_encoder_reports_live_frames_latency_once():
    """nodes/output_events.py: a written frame with a capture time ("wall") gives one latency; a file frame none."""
    import time

    from gfn_stream.nodes.output_events import OutputEvents

    events = OutputEvents(reporter=None)
    events.written({"dur": 1})
    events.written({"wall": time.monotonic() - 0.5})
    (latency,) = events.latencies()
    assert 0.5 <= latency < 5
    assert events.latencies() == []  # taken: the next Progress carries only newer ones
    for _ in range(300):
        events.written({"wall": time.monotonic()})
    assert len(events.latencies()) == 256


def test_a_live_frame_carries_its_capture_time_and_new_segment_and_a_file_frame_neither():
    """nodes/live_feed.py: the FRAME fields of a live frame; LiveFeed.of: a file has no feed, a finite live input
    is read like a file unless --live."""
    from fractions import Fraction

    from gfn_stream.media.frames import Frame
    from gfn_stream.media.live_queue import LiveFrame
    from gfn_stream.nodes.live_feed import LiveFeed, live_fields

    assert live_fields(Frame(0, Fraction(1, 25), None)) == {}
    live = LiveFrame(0, Fraction(1, 25), None, captured_at=12.5, new_segment=True)
    assert live_fields(live) == {"wall": 12.5, "seg": True}

    class Src:
        def __init__(self, is_live, finite=False):
            self.is_live, self.info = is_live, {"finite": finite}

    assert LiveFeed.of(Src(False), None, None, None) is None
    assert LiveFeed.of(Src(True), None, None, None).camera
    assert not LiveFeed.of(Src(True, finite=True), None, None, None).camera
    assert LiveFeed.of(Src(True, finite=True), None, True, None).camera
    assert not LiveFeed.of(Src(True), None, False, None).camera
