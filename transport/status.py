"""The STATUS vocabulary: every event a node reports to the launcher, as a typed dataclass, and its wire form.

Nodes build an event and hand it to their Reporter (nodes/node.py), which sends it as a `status` message (the
small JSON header of transport/protocol.py, no buffers, never pickle); the launcher's supervisor
(pipeline/supervise.py) and the Prometheus exporter (pipeline/metrics.py) read the same typed events back:

    reporter.status(Progress(frames=120, reorder=2, latency_s=[0.21, 0.19]))      # a node
    fields = encode("encoder", Progress(frames=120), peak_rss_mb=310.5)           # what goes on the wire
    report = decode(msg.header)        # Report(node="encoder", event=Progress(...), peak_rss_mb=310.5)

Every field is type-checked where the event is built (a producer's mistake fails at once) and again where it is
decoded: a wrong type, a missing `node`/`event`, an unknown event or an unknown field raises StatusError. Counters
are cumulative totals since the node started (a repeated report counts once; a restarted node starts again).

event       class          sent by, when
"info"      Info           decoder, once: the stream description
"live"      Live           decoder, every 0.5 s while a live input is read (and once at the end, final=True)
"inflight"  Inflight       decoder, every REPORT_INTERVAL_S: frames sent to workers and not yet done
"decoded"   Decoded        decoder, at end of stream
"progress"  Progress       encoder, about 4 times a second once the output is open
"push"      Push           encoder with a push output (rtsp://, rtmp://, ...), every REPORT_INTERVAL_S and at the end
"segment"   Segment        encoder with --segment, once per segment file closed
"closed"    Closed         encoder, at the end
"ready"     Ready          worker, once the model is loaded
"worker"    WorkerStatus   worker, every REPORT_INTERVAL_S from its socket loop (also while a long batch runs)
"stopped"   Stopped        worker, at the end
"""

from __future__ import annotations

import dataclasses
import time
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

REPORT_INTERVAL_S = 2.0  # periodic reports (worker, inflight, push); /health calls a worker silent after 10 s
ENVELOPE = ("node", "event", "peak_rss_mb")  # fields every status message carries besides the event's own
_PROTOCOL = ("v", "kind")  # the protocol header's own fields


class StatusError(ValueError):
    """A status event that does not follow the vocabulary."""


@dataclass(frozen=True)
class Event:
    """Base of every status event; EVENT is its name on the wire."""

    EVENT: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check(type(self), f.name, getattr(self, f.name))


@dataclass(frozen=True)
class Info(Event):
    EVENT: ClassVar[str] = "info"
    info: dict[str, Any] = field(default_factory=dict)  # the stream description (frames, size, rate, is_live, ...)


@dataclass(frozen=True)
class Live(Event):
    """The live reader's counters (media/live_source.py LiveSource.stats()) plus the decoder's own."""

    EVENT: ClassVar[str] = "live"
    frames_in: int = 0  # decoded from the camera
    frames_out: int = 0  # delivered by the reader
    dropped: dict[str, int] = field(default_factory=dict)  # reader drops by reason (stale, overflow, rate, ...)
    reconnects: int = 0
    disconnects: int = 0
    connect_attempts: int = 0
    packets_corrupt: int = 0
    packets_dropped: int = 0
    pts_fixed: int = 0
    resolution_changes: int = 0
    connected: bool | None = None
    last_frame_age_s: float | None = None
    queue_depth: int = 0
    queue_latency_s: float | None = None
    time_to_first_frame_s: float | None = None
    last_outage_s: float | None = None
    latency_dropped: int = 0  # frames that waited past --max-latency for a worker
    sent: int = 0  # frames sent to workers
    final: bool = False  # the last report, after the input closed


@dataclass(frozen=True)
class Inflight(Event):
    EVENT: ClassVar[str] = "inflight"
    frames: int = 0  # sent to workers, not yet done
    workers: int = 0  # worker connections the dispatcher knows


@dataclass(frozen=True)
class Decoded(Event):
    EVENT: ClassVar[str] = "decoded"
    frames: int = 0  # frames sent in all
    warnings: list[str] = field(default_factory=list)
    bad_messages: int = 0
    input: dict[str, Any] | None = None  # a file input's accounting (media/accounting.py)
    bad_workers: int = 0  # worker connections dropped for invalid results
    overdue_workers: int = 0  # worker connections dropped for holding frames past their deadline


@dataclass(frozen=True)
class Progress(Event):
    EVENT: ClassVar[str] = "progress"
    frames: int = 0  # written so far
    reorder: int = 0  # frames waiting for an earlier one
    latency_s: list[float] = field(default_factory=list)  # capture -> written, of frames since the last report


@dataclass(frozen=True)
class Push(Event):
    """A push output's state (media/push_sink.py PushSink.stats())."""

    EVENT: ClassVar[str] = "push"
    connected: bool = False
    failures: int = 0  # connection failures
    reconnects: int = 0  # successful re-opens after a failure
    frames_written: int = 0  # frames delivered to the server
    frames_dropped: int = 0  # frames dropped while the server was unreachable
    last_error: str | None = None


@dataclass(frozen=True)
class Segment(Event):
    """One segment file closed (media/segment_sink.py SegmentInfo)."""

    EVENT: ClassVar[str] = "segment"
    path: str = ""
    start: float = 0.0  # seconds on the stream's timeline
    frames: int = 0
    error: str | None = None  # closing it failed


@dataclass(frozen=True)
class Closed(Event):
    EVENT: ClassVar[str] = "closed"
    frames: int = 0  # frames the output holds
    complete: bool = False
    interrupted: bool = False
    bad_messages: int = 0
    duplicates: int = 0
    warnings: list[str] = field(default_factory=list)
    output: str | None = None  # the file that holds the frames


@dataclass(frozen=True)
class Ready(Event):
    EVENT: ClassVar[str] = "ready"
    device: str = ""
    precision: str = ""
    model: str = ""


@dataclass(frozen=True)
class WorkerStatus(Event):
    EVENT: ClassVar[str] = "worker"
    frames: int = 0  # enhanced and sent on
    queue: int = 0  # frames held: queued, running, or done and not yet sent
    busy_s: float = 0.0  # seconds spent running batches (the running one included)


@dataclass(frozen=True)
class Stopped(Event):
    EVENT: ClassVar[str] = "stopped"
    frames: int = 0
    bad_messages: int = 0
    reconnects: int = 0


EVENTS: dict[str, type[Event]] = {
    cls.EVENT: cls
    for cls in (Info, Live, Inflight, Decoded, Progress, Push, Segment, Closed, Ready, WorkerStatus, Stopped)
}


@dataclass(frozen=True)
class Report:
    """One received status message: which node, what it said, and its peak memory so far (MiB)."""

    node: str
    event: Event
    peak_rss_mb: float | None = None


def encode(node: str, event: Event, peak_rss_mb: float | None = None) -> dict[str, Any]:
    """The header fields of a `status` message (protocol.pack(protocol.STATUS, encode(...)))."""
    if type(event).EVENT not in EVENTS or not isinstance(event, EVENTS[type(event).EVENT]):
        raise StatusError(f"not a status event: {event!r}")
    fields: dict[str, Any] = {"node": node, "event": event.EVENT}
    fields.update({f.name: getattr(event, f.name) for f in dataclasses.fields(event)})
    if peak_rss_mb is not None:
        fields["peak_rss_mb"] = peak_rss_mb
    return fields


def decode(header: Mapping[str, Any]) -> Report:
    """The typed Report of a received `status` header; raises StatusError (see the module docstring)."""
    node, name, peak = header.get("node"), header.get("event"), header.get("peak_rss_mb")
    if not isinstance(node, str) or not node:
        raise StatusError("status without a node name")
    if not isinstance(name, str):
        raise StatusError(f"status from {node} without an event name")
    cls = EVENTS.get(name)
    if cls is None:
        raise StatusError(f"unknown status event {name!r} from {node}")
    if peak is not None and not _is_number(peak):
        raise StatusError(f"status {name!r} from {node}: peak_rss_mb must be a number")
    known = {f.name for f in dataclasses.fields(cls)}
    fields = {k: v for k, v in header.items() if k not in ENVELOPE and k not in _PROTOCOL}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise StatusError(f"status {name!r} from {node}: unknown field(s) {', '.join(unknown)}")
    try:
        event = cls(**fields)
    except StatusError as exc:
        raise StatusError(f"status {name!r} from {node}: {exc}") from None
    return Report(node, event, None if peak is None else float(peak))


class Every:
    """A periodic report's clock: due() is True at most once per interval (the first call included)."""

    def __init__(self, interval_s: float = REPORT_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s, self._clock = interval_s, clock
        self._next: float | None = None

    def due(self) -> bool:
        now = self._clock()
        if self._next is not None and now < self._next:
            return False
        self._next = now + self.interval_s
        return True


# ---------------------------------------------------------------------------------------------- field checks
_HINTS: dict[type, dict[str, Any]] = {}


def _check(cls: type, name: str, value: Any) -> None:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    if not _matches(hints[name], value):
        raise StatusError(f"{name} must be {_describe(hints[name])}, not {value!r:.80}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _matches(hint: Any, value: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(a, value) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return _is_number(value)
    if hint is str:
        return isinstance(value, str)
    if origin is list:
        return isinstance(value, list) and all(_matches(args[0], v) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) and _matches(args[1], v) for k, v in value.items())
    raise TypeError(f"status fields cannot be {hint!r}")  # a new field of a type this module does not check


def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
