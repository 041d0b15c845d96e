"""RunConfig -> each node's typed settings, once, before any process starts (the launcher, pipeline/run.py,
spawns the nodes with them; pipeline/recovery.py restarts a worker with the same).

Live runs trade throughput for latency here: at most one batch per worker in flight, and x264/x265 encode with
tune=zerolatency unless a tune is given.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from ..media.encode_options import EncodeOptions
from ..media.live_spec import LiveOptions
from ..nodes.settings import CreditSettings, DecoderSettings, EncoderSettings, LinkSettings, NodeSettings
from ..nodes.worker_settings import WorkerSettings
from .config import RunConfig
from .picture import frame_plan
from .processes import cuda_device_count, default_workers, worker_devices

DRAIN_S = 1.0  # a local worker told to stop finishes what it holds for at most this long


@dataclass(frozen=True)
class LocalWorker:
    """What a launcher-spawned worker is started with (again, when a live run restarts it)."""

    node: NodeSettings
    settings: WorkerSettings


@dataclass(frozen=True)
class NodePlan:
    decoder: DecoderSettings
    encoder: EncoderSettings
    workers: tuple[LocalWorker, ...]
    control: str
    log_level: str

    def node(self, name: str) -> NodeSettings:
        return NodeSettings(name, self.control, self.log_level)


def plan(cfg: RunConfig, endpoints: dict[str, str], live: bool) -> NodePlan:
    """The settings of every node of a run; `endpoints` are its ipc:// work, results and control endpoints."""
    pl = cfg.pipeline
    n_workers = default_workers() if pl.workers is None else pl.workers
    max_inflight = pl.max_inflight
    if live:  # latency over throughput: a frame waits in no queue but the camera's newest-frame slot
        max_inflight = max(1, min(max_inflight, max(1, n_workers) * cfg.model.batch))
    links = LinkSettings(endpoints["work"], endpoints["results"], pl.heartbeat_s, pl.listen, pl.key, pl.allow)
    credits = CreditSettings(max_inflight, max(pl.window, max_inflight), pl.heartbeat_s, pl.liveness,
                             pl.answer_timeout_s, pl.answer_factor)
    decoder = DecoderSettings(
        input=cfg.input, output=cfg.output, codec=cfg.encode.codec, threads=pl.threads, live=live_options(cfg),
        force_live=cfg.live.live, max_latency_s=cfg.live.max_latency_s if live else None, credits=credits,
        links=links, worker_wait_s=pl.worker_wait_s, local_workers=n_workers, plan=frame_plan(cfg),
    )
    encoder = EncoderSettings(
        results=endpoints["results"], output=cfg.output, overwrite=cfg.overwrite, encode=encode_options(cfg, live),
        start_number=cfg.start_number, eos_grace_s=pl.eos_grace_s, segment_s=cfg.live.segment_s,
    )
    workers = tuple(
        LocalWorker(NodeSettings(f"worker {i + 1}", endpoints["control"], cfg.log_level), settings)
        for i, settings in enumerate(worker_settings(cfg, endpoints, n_workers))
    )
    return NodePlan(decoder, encoder, workers, endpoints["control"], cfg.log_level)


def encode_options(cfg: RunConfig, live: bool) -> EncodeOptions:
    tune = cfg.encode.tune
    if live and tune is None and cfg.encode.codec in ("libx264", "libx265"):
        tune = "zerolatency"
    return EncodeOptions(**{**dataclasses.asdict(cfg.encode), "tune": tune}, quiet=cfg.quiet)


def live_options(cfg: RunConfig) -> LiveOptions:
    """How the decoder reads a live input, from the run's [live] settings (file inputs take max_fps and
    duration_s from it); --live keeps only the newest frame and reads even a finite input as a camera."""
    lv = cfg.live
    return LiveOptions(
        transport=lv.transport, open_timeout_s=lv.open_timeout_s, read_timeout_s=lv.read_timeout_s,
        stall_timeout_s=lv.stall_timeout_s, retry_max_s=lv.retry_max_s, max_retries=lv.max_retries,
        give_up_after_s=lv.give_up_after_s, drop_old=lv.live is not False, finite_as_file=lv.live is not True,
        max_fps=lv.max_fps, duration_s=lv.duration_s, on_resize="segment" if lv.segment_s else "scale",
    )


def worker_settings(cfg: RunConfig, endpoints: dict[str, str], n: int) -> list[WorkerSettings]:
    """The local workers: spread over the CUDA GPUs, sharing the CPU cores when several run on the CPU."""
    m, pl = cfg.model, cfg.pipeline
    threads = None  # several CPU workers share the cores instead of each spinning on all of them
    if n > 1 and (m.device == "cpu" or (m.device == "auto" and cuda_device_count() == 0)):
        threads = max(1, (os.cpu_count() or 1) // n)
    return [
        WorkerSettings(
            endpoint=f"dealer+connect:{endpoints['work']}", results=endpoints["results"], model=m.model,
            weights=m.weights, device=device, precision=m.precision, backend=m.backend, cache_dir=m.cache_dir,
            batch=m.batch, batch_wait_ms=m.batch_wait_ms,
            tile=m.tile, tile_overlap=m.tile_overlap, threads=threads, heartbeat_s=pl.heartbeat_s,
            liveness=pl.liveness, drain_s=DRAIN_S, stall_s=pl.stall_s, stall_factor=pl.stall_factor,
            name=f"worker {i + 1}", faults=cfg.faults.for_worker(i + 1),
        )
        for i, device in enumerate(worker_devices(m.device, n))
    ]
