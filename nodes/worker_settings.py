"""What a worker is told: WorkerSettings (the launcher, pipeline/node_settings.py, gfn-worker and WorkerNode each
build one) and the WorkerStats it keeps while it serves."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..transport import keys
from ..transport.endpoints import Endpoint, parse
from ..transport.liveness import HEARTBEAT_S, LIVENESS
from .faults import WorkerFaults

logger = logging.getLogger(__name__)

ENDPOINT_FORMS = ("dealer+connect", "router+bind")
# a batch running longer than max(STALL_S, STALL_FACTOR x the slowest batch so far) means a hung model: the worker
# exits (code 5) so its frames go to other workers; stall_s 0 = never (nodes/stall_watch.py). With HEARTBEAT_S and
# LIVENESS (transport/liveness.py), the defaults of gfn-worker and of a run's [pipeline] settings (pipeline/config.py)
STALL_S = 60.0
STALL_FACTOR = 20.0


@dataclass(frozen=True)
class WorkerSettings:
    """Everything a worker needs; the launcher, gfn-worker and WorkerNode all build one of these."""

    endpoint: str = ""  # dealer+connect:URL or router+bind:URL (a bare URL means dealer+connect)
    results: str | None = None  # PUSH results here (local fast path); None = back over `endpoint`
    model: str = "gfn"
    weights: str | None = None
    device: str = "auto"
    precision: str = "auto"
    backend: str = "torch"  # torch, openvino (CPU), tensorrt (CUDA), auto: models/backends.py
    cache_dir: str | None = None  # compiled models (None: $GFN_CACHE_DIR, else ~/.cache/gfn-stream)
    batch: int = 4
    batch_wait_ms: int = 5
    tile: int | None = None
    tile_overlap: int | None = None
    threads: int | None = None  # CPU threads for torch (None: torch's default, all cores)
    key: str | None = None  # own CurveZMQ secret certificate (NAME.key_secret)
    server_key: str | None = None  # dealer+connect: the dispatcher's public certificate
    allow: str | None = None  # router+bind: directory of allowed client public certificates
    heartbeat_s: float = HEARTBEAT_S
    liveness: int = LIVENESS
    drain_s: float = 30.0  # on stop: how long to keep finishing held frames
    stall_s: float = STALL_S  # see STALL_S
    stall_factor: float = STALL_FACTOR
    result_hwm: int = 4
    name: str = "worker"
    faults: WorkerFaults = field(default_factory=WorkerFaults)  # tests only: slow, hang or die (nodes/faults.py)

    def check(self) -> Endpoint:
        """The parsed endpoint; raises EndpointError / SecurityError for bad or insecure settings."""
        ep = parse(self.endpoint, kind="dealer", mode="connect", allowed=ENDPOINT_FORMS)
        if ep.kind == "dealer":
            keys.require_keys(ep, self.key, self.server_key, "--server-key")
        else:
            keys.require_keys(ep, self.key, self.allow, "--allow")
        if self.batch < 1:
            raise ValueError("batch must be at least 1")
        if self.stall_s < 0 or self.stall_factor < 1:
            raise ValueError("stall_s must be >= 0 (0 = off) and stall_factor at least 1")
        return ep


@dataclass
class WorkerStats:
    frames: int = 0  # frames enhanced and sent on
    bad_messages: int = 0
    reconnects: int = 0
    refused_while_stopping: int = 0
