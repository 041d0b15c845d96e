"""What the launcher tells each node process: typed, frozen settings built once from the run's RunConfig
(pipeline/node_settings.py) and handed to the spawned process as they are. The user-facing defaults live in
pipeline/config.py only; the defaults here are internal sizes no setting exposes. A worker's settings are
WorkerSettings (nodes/worker_settings.py), shared with gfn-worker and WorkerNode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..media.encode_options import EncodeOptions
from ..media.live_spec import LiveOptions
from ..media.out_size import FramePlan


@dataclass(frozen=True)
class NodeSettings:
    """How a node process reports: its name in the run (reports, logs), the launcher's control endpoint (None: it
    only logs) and its log level."""

    name: str
    control: str | None = None
    log_level: str = "warning"


@dataclass(frozen=True)
class CreditSettings:
    """The credit ledger (nodes/dispatch.py Dispatcher): how many frames may be out, how far ahead, and when a
    worker counts as gone."""

    max_inflight: int  # frames sent to workers and not yet finished
    window: int  # how far (in seqs) decoding may run ahead of the oldest unfinished frame (>= max_inflight)
    heartbeat_s: float
    liveness: int  # heartbeat intervals of silence after which a worker is dropped
    answer_s: float  # a remote worker's answer deadline floor (0 = none; nodes/answer_clock.py)
    answer_factor: float
    retain: int = 16  # the last frames each local worker finished, kept to re-send if it dies


@dataclass(frozen=True)
class LinkSettings:
    """The sockets workers join (nodes/dispatch.py WorkerLinks)."""

    work: str  # the local workers' ROUTER endpoint (ipc://)
    results: str  # the encoder's PULL: remote workers' results are forwarded there
    heartbeat_s: float
    listen: str | None = None  # the remote workers' ROUTER (--listen), checked by the CLI
    key: str | None = None  # its CurveZMQ secret key file
    allow: str | None = None  # the allowed workers' public keys
    result_hwm: int = 4  # forwarded results queued towards the encoder


@dataclass(frozen=True)
class DecoderSettings:
    input: str
    output: str  # with `codec`: how large a frame the output can take (media/size_limits.py)
    codec: str
    threads: int  # decoder threads (0 = FFmpeg's choice)
    live: LiveOptions  # how a live input is read; its max_fps / duration_s apply to file inputs too
    force_live: bool | None  # --live (True: any input is a camera) / --no-live (False) / None: by the input
    max_latency_s: float | None  # live runs: frames older than this when a worker could take them are dropped
    credits: CreditSettings
    links: LinkSettings
    worker_wait_s: float  # with frames waiting and no worker at all, how long before the job fails
    local_workers: int
    startup_wait_s: float = 300.0  # the same at the start, while local workers load their model
    side_hwm: int = 256  # side packets / stream info queued towards the encoder
    # the output size (--outscale / --size) and --compare, stamped on every frame for the workers
    plan: FramePlan = field(default_factory=FramePlan)
    skip_frames: int = 0  # --resume: the input frames (after --max-fps) of the finished chunks: read, not sent


@dataclass(frozen=True)
class EncoderSettings:
    results: str  # the PULL every result, side packet and end of stream comes in on
    output: str
    overwrite: bool
    encode: EncodeOptions
    start_number: int | None  # first number of an image-sequence output (None: the input's, else 1)
    eos_grace_s: float  # after end of stream, how long to wait for the last frames
    segment_s: float | None  # live runs: a new file every N seconds
    result_hwm: int = 4
    resume: str | None = None  # --resume: the chunk folder of the job (media/chunk_sink.py)
    resume_done: int = 0  # the frames its journal listed as done when the launcher read it
