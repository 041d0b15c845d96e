"""Run settings: dataclasses with documented defaults, read from TOML (stdlib tomllib), overridden by the CLI.

Unknown sections or keys, and values of the wrong type, are errors (ConfigError), never silently ignored (the
checks are the shared loader's, fromdict.py). The launcher turns a RunConfig into each node's typed settings
(pipeline/node_settings.py).
See configs/default.toml for every key with its meaning.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import fromdict
from ..nodes.faults import WorkerFaults
from ..nodes.worker_settings import HEARTBEAT_S, LIVENESS, STALL_FACTOR, STALL_S

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(ValueError):
    """A bad config file or option."""


@dataclass
class ModelSettings:
    model: str = "gfn"  # "gfn" or "bicubic" (plain 4x bicubic, for comparison)
    weights: str | None = None  # safetensors file; None = the shipped default weights
    device: str = "auto"  # "auto" (cuda if available), "cpu", "cuda", "cuda:1"
    precision: str = "auto"  # "auto", "fp32", "bf16" (CPU/CUDA), "fp16" (CUDA), "int8" (--backend openvino)
    backend: str = "torch"  # "torch", "openvino" (CPU), "tensorrt" (CUDA), "auto" (models/backends.py)
    cache_dir: str | None = None  # compiled models; None = $GFN_CACHE_DIR, else ~/.cache/gfn-stream
    batch: int = 4  # frames per forward pass (at most)
    batch_wait_ms: int = 5  # how long a worker waits to fill a batch
    tile: int | None = None  # LR tile side; None = from free memory, 0 = never tile
    tile_overlap: int | None = None  # LR pixels of overlap per side; None = the measured default


@dataclass
class EncodeSettings:
    codec: str = "libx264"
    crf: int | None = None  # None: 18 for the codecs that have a crf (not ffv1, ...) unless a bitrate is given
    bitrate: str | None = None  # e.g. "8M"; replaces crf
    preset: str | int | None = "medium"  # x264 names for every codec, or SVT-AV1 0-13 / VP9, AOM cpu-used 0-8
    pix_fmt: str = "auto"  # "auto": yuv420p, or yuv420p10le when the input has more than 8 bits
    tune: str | None = None  # x264/x265 tune; live runs default to "zerolatency"
    keyint: int | None = None  # keyframe interval in frames (None: the encoder's default)


@dataclass
class PipelineSettings:
    workers: int | None = None  # None = one per CUDA GPU, else 1
    max_inflight: int = 8  # frames sent to workers and not yet finished
    window: int = 32  # how far (in frames) decoding may run ahead of the oldest unfinished frame
    eos_grace_s: float = 10.0  # after end of stream, how long to wait for the last frames
    threads: int = 0  # decoder threads (0 = FFmpeg's choice)
    listen: str | None = None  # endpoint remote workers join, e.g. "tcp://0.0.0.0:5555" (off loopback: CurveZMQ)
    key: str | None = None  # the listen endpoint's CurveZMQ secret key file (gfn-keygen: NAME.key_secret)
    allow: str | None = None  # directory of the public keys of workers allowed to join
    # the worker's defaults (nodes/worker_settings.py), stated there once
    heartbeat_s: float = HEARTBEAT_S  # heartbeat interval between the dispatcher and its workers
    liveness: int = LIVENESS  # heartbeat intervals of silence after which a worker (or the dispatcher) counts as dead
    worker_wait_s: float = 30.0  # with frames waiting and no worker at all, how long to wait before failing
    stall_s: float = STALL_S  # a worker whose batch runs > max(stall_s, stall_factor x its slowest) is hung (0 = off)
    stall_factor: float = STALL_FACTOR
    # a remote worker holding frames without answering for max(answer_timeout_s, answer_factor x its slowest answer
    # so far) loses them to the other workers (0 = never; see nodes/answer_clock.py)
    answer_timeout_s: float = 10.0
    answer_factor: float = 10.0
    resume_chunk: int = 250  # --resume: frames per closed-GOP chunk (at most this much work is redone after a kill)


@dataclass
class LiveSettings:
    live: bool | None = None  # None = live mode for live URLs and /dev/video*; true forces it, false turns it off
    transport: str = "tcp"  # RTSP transport: tcp, udp, udp_multicast, http
    open_timeout_s: float = 5.0  # one connection attempt
    read_timeout_s: float = 3.0  # one blocking read
    stall_timeout_s: float = 5.0  # no frame for this long = the camera is gone: reconnect
    retry_max_s: float = 10.0  # reconnect backoff cap (starts at 0.5 s, doubles)
    max_retries: int | None = None  # consecutive failed attempts before giving up (None: keep trying)
    give_up_after_s: float | None = None  # seconds without a frame before giving up (None: never)
    max_latency_s: float = 1.0  # frames older than this when a worker could take them are dropped (counted)
    max_fps: float | None = None  # process at most this many frames per second
    duration_s: float | None = None  # stop after this long (the output is closed properly)
    segment_s: float | None = None  # write a new file every N seconds (strftime names in the output)
    metrics_port: int | None = None  # serve Prometheus /metrics and /health on this port
    metrics_addr: str = "127.0.0.1"  # loopback by default


@dataclass
class PictureSettings:
    """The output picture (media/out_size.py): the network always makes 4x; a smaller size is resampled once, on
    the workers. outscale excludes width/height; width or height alone keeps the input's aspect ratio."""

    outscale: float | None = None  # final size = outscale x input, 1..4 (None: 4x)
    width: int | None = None  # final width in pixels (rounded to what the pixel format needs)
    height: int | None = None  # final height in pixels
    compare: bool = False  # split screen: bicubic on the left, GFN on the right, a labelled divider
    preview: int | None = None  # N evenly spaced frames into a contact sheet (PNG/JPEG) instead of a video


@dataclass
class RunConfig:
    input: str = ""
    output: str = ""
    overwrite: bool = False
    quiet: bool = False
    start_number: int | None = None  # first number of an image-sequence output (None: the input's, else 1)
    log_level: str = "warning"
    resume: bool = False  # --resume: a resumable job (closed-GOP chunks in OUT.resume/), continued if interrupted
    model: ModelSettings = field(default_factory=ModelSettings)
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    live: LiveSettings = field(default_factory=LiveSettings)
    picture: PictureSettings = field(default_factory=PictureSettings)
    # tests only (gfn-stream's hidden --test-fault option; no config file section): slow, hang or kill workers
    faults: WorkerFaults = field(default_factory=WorkerFaults)


MAX_CONFIG_BYTES = 1024 * 1024  # a settings file is a few KiB; more is a wrong path (a video, /dev/zero)
SECTIONS = {"model": ModelSettings, "encode": EncodeSettings, "pipeline": PipelineSettings, "live": LiveSettings,
            "picture": PictureSettings}


def set_given(section: Any, args: Any, keys: tuple[str, ...]) -> None:
    """Copy onto a settings section the command-line values of `keys` that were given (not None): a flag
    replaces its config file's value only when it is on the command line."""
    for key in keys:
        if getattr(args, key) is not None:
            setattr(section, key, getattr(args, key))


def load_toml(path: str | Path, cfg: RunConfig | None = None) -> RunConfig:
    """Apply a TOML file's sections onto `cfg` (a fresh RunConfig by default)."""
    cfg = cfg or RunConfig()
    data = _read_toml(path)
    for section, values in data.items():
        if section not in SECTIONS:
            raise ConfigError(f"config file {path}: unknown section [{section}] (known: {', '.join(SECTIONS)})")
        if not isinstance(values, dict):
            raise ConfigError(f"config file {path}: [{section}] must be a table")
        setattr(cfg, section, fromdict.replace(getattr(cfg, section), values, f"{path} [{section}]", ConfigError))
    return cfg


def _read_toml(path: str | Path) -> dict[str, Any]:
    """The parsed file; every way of not being a readable UTF-8 TOML file is one ConfigError line."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory, not a TOML file") from None
    except OSError as exc:  # permission denied, an I/O error, ...
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES // 1024} KiB: not a settings file")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"config file {path} is UTF-16; TOML files are UTF-8 (re-save it as UTF-8)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start} is not valid UTF-8)") from None
    try:
        return tomllib.loads(text.removeprefix("\ufeff"))  # a UTF-8 BOM is harmless
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
