"""A worker outside the launcher: `gfn-worker ENDPOINT` (a standalone process) and `WorkerNode` (inside another
program, in a thread or a child process).

    gfn-worker dealer+connect:tcp://ingest:5555 --key w1.key_secret --server-key server.key --device cuda:0
    gfn-worker router+bind:tcp://127.0.0.1:5556 --model bicubic           # clients: nodes/client.py

    with WorkerNode("router+bind:tcp://127.0.0.1:*", model="bicubic") as node:   # a thread; process=True for a
        print(node.endpoint)                                                     # child process
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import signal
import sys
import threading
from typing import Any

import zmq

from . import exitcodes
from .node import NodeError, StopFlag, configure_logging
from .worker import WorkerSettings, WorkerStats, serve

logger = logging.getLogger(__name__)


class WorkerNode:
    """A worker serving `endpoint` until stop(): model loaded once, frames batched, heartbeats, clean stop.

    :param endpoint: ``dealer+connect:URL`` (join a dispatcher) or ``router+bind:URL`` (serve clients; a ``*``
        port is resolved, see :attr:`endpoint`)
    :param process: run in a child process (spawned) instead of a thread of this one
    :param settings: any :class:`WorkerSettings` field (model, weights, device, precision, batch, tile, key,
        server_key, allow, heartbeat_s, liveness, ...)
    """

    def __init__(self, endpoint: str, *, process: bool = False, start_timeout: float = 300.0, **settings: Any):
        self.settings = WorkerSettings(endpoint=endpoint, **settings)
        self.settings.check()  # bad endpoints and missing keys fail here, not in the thread
        self.process = process
        self.start_timeout = start_timeout
        self.endpoint: str | None = None  # the URL served, once started
        self.stats = WorkerStats()  # thread mode: live counts (frames served, bad messages, reconnects)
        self._thread: threading.Thread | None = None
        self._proc: mp.process.BaseProcess | None = None
        self._stop = StopFlag()
        self._error: BaseException | None = None

    def start(self) -> "WorkerNode":
        """Start serving; returns once the model is loaded and the socket is up (raises if that fails)."""
        if self.alive:
            raise RuntimeError("this worker is running already")
        self._stop, self._error = StopFlag(), None
        if self.process:
            self._start_process()
        else:
            self._start_thread()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Finish the frames held, say BYE, and stop (the process is killed after `timeout`)."""
        if self._thread is not None:
            self._stop.set = True
            self._thread.join(timeout)
            self._thread = None
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.terminate()  # SIGTERM: the clean stop
                self._proc.join(timeout)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)
            self._proc = None

    @property
    def alive(self) -> bool:
        return bool((self._thread and self._thread.is_alive()) or (self._proc and self._proc.is_alive()))

    def __enter__(self) -> "WorkerNode":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ internals
    def _start_thread(self) -> None:
        ready = threading.Event()

        def on_ready(url: str) -> None:
            self.endpoint = url
            ready.set()

        def body() -> None:
            ctx = zmq.Context()
            try:
                serve(ctx, self._stop, self.settings, on_ready=on_ready, stats=self.stats)
            except BaseException as exc:  # surfaced by start()
                self._error = exc
                logger.debug("worker thread failed", exc_info=True)
            finally:
                ready.set()
                ctx.term()

        self._thread = threading.Thread(target=body, name=f"gfn-{self.settings.name}", daemon=True)
        self._thread.start()
        if not ready.wait(self.start_timeout):
            self.stop()
            raise TimeoutError(f"the worker did not start within {self.start_timeout:.0f} s")
        if self._error is not None:
            self._thread.join(5)
            self._thread = None
            raise RuntimeError(str(self._error)) from self._error

    def _start_process(self) -> None:
        spawn = mp.get_context("spawn")
        here, there = spawn.Pipe(duplex=False)
        self._proc = spawn.Process(
            target=_process_main, args=(self.settings, there), name=f"gfn-{self.settings.name}",
            daemon=True,
        )
        self._proc.start()
        there.close()
        if not here.poll(self.start_timeout):
            self.stop(5)
            raise TimeoutError(f"the worker process did not start within {self.start_timeout:.0f} s")
        try:
            status, value = here.recv()
        except EOFError:
            status, value = "error", f"the worker process exited with code {self._proc.exitcode}"
        if status != "ready":
            self.stop(5)
            raise RuntimeError(value)
        self.endpoint = value


def _process_main(settings: WorkerSettings, pipe: Any) -> None:
    stop = StopFlag()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ctx = zmq.Context()
    try:
        serve(ctx, stop, settings, on_ready=lambda url: pipe.send(("ready", url)))
    except BaseException as exc:
        try:
            pipe.send(("error", str(exc)))
        except OSError:
            pass
        raise SystemExit(getattr(exc, "code", 1)) from None
    finally:
        ctx.term()


# ---------------------------------------------------------------------------------------------- gfn-worker
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gfn-worker",
        description="Serve GFN 4x enhancement to a gfn-stream dispatcher (dealer+connect:URL) or to clients "
        "(router+bind:URL) until stopped (SIGTERM / Ctrl-C: finish held frames, say BYE, leave).",
    )
    p.add_argument("endpoint", help="dealer+connect:tcp://HOST:PORT (default form) or router+bind:tcp://ADDR:PORT")
    d = WorkerSettings  # the defaults, stated once there
    p.add_argument("--model", choices=("gfn", "bicubic"), default=d.model, help="gfn (default) or plain 4x bicubic")
    p.add_argument("--weights", metavar="FILE", help="GFN weights (.safetensors); default: the shipped weights")
    p.add_argument("--device", default=d.device, help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16", "int8"), default=d.precision)
    p.add_argument("--backend", choices=("auto", "torch", "openvino", "tensorrt"), default=d.backend,
                   help="runtime of the model: torch (default), openvino (CPU), tensorrt (CUDA), auto")
    p.add_argument("--cache-dir", dest="cache_dir", metavar="DIR",
                   help="compiled models (default: $GFN_CACHE_DIR, else ~/.cache/gfn-stream)")
    p.add_argument("--batch", type=int, default=d.batch, metavar="N",
                   help=f"frames per forward pass (default {d.batch})")
    p.add_argument("--tile", type=int, metavar="PX", help="LR tile side for large frames (0 = never tile)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for the model (default: all cores)")
    p.add_argument("--key", metavar="FILE", help="this worker's CurveZMQ secret key (NAME.key_secret from gfn-keygen)")
    p.add_argument("--server-key", dest="server_key", metavar="FILE",
                   help="dealer+connect: the dispatcher's public key")
    p.add_argument("--allow", metavar="DIR", help="router+bind: directory of allowed client public keys")
    p.add_argument("--heartbeat", type=float, default=d.heartbeat_s, metavar="S",
                   help=f"heartbeat interval (default {d.heartbeat_s:g} s)")
    p.add_argument("--liveness", type=int, default=d.liveness, metavar="N",
                   help=f"silent intervals before the peer is dead ({d.liveness})")
    p.add_argument("--stall-timeout", type=float, default=d.stall_s, metavar="S",
                   help="a batch running longer than max(S, --stall-factor x the slowest so far) means a hung model: "
                        f"exit (code 5) so the dispatcher re-sends its frames (default {d.stall_s:g}; 0 = never)")
    p.add_argument("--stall-factor", type=float, default=d.stall_factor, metavar="K",
                   help=f"see --stall-timeout (default {d.stall_factor:g})")
    p.add_argument("-q", "--quiet", action="store_true", help="no start and summary lines")
    p.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    stop = StopFlag()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    settings = WorkerSettings(
        endpoint=args.endpoint, model=args.model, weights=args.weights, device=args.device, precision=args.precision,
        backend=args.backend, cache_dir=args.cache_dir,
        batch=args.batch, tile=args.tile, threads=args.threads, key=args.key, server_key=args.server_key,
        allow=args.allow,
        heartbeat_s=args.heartbeat, liveness=args.liveness, name="gfn-worker", stall_s=args.stall_timeout,
        stall_factor=args.stall_factor,
    )
    if args.heartbeat <= 0 or args.liveness < 1:
        return _fail("--heartbeat must be positive and --liveness at least 1", exitcodes.USAGE)
    if args.stall_timeout < 0 or args.stall_factor < 1:
        return _fail("--stall-timeout must be >= 0 (0 = never) and --stall-factor at least 1", exitcodes.USAGE)

    def on_ready(url: str) -> None:
        if not args.quiet:
            form = args.endpoint.split(":", 1)[0] if "+" in args.endpoint else "dealer+connect"
            print(f"gfn-worker: ready: serving {form}:{url}", file=sys.stderr, flush=True)

    ctx = zmq.Context()
    try:
        stats = serve(ctx, stop, settings, on_ready=on_ready)
    except NodeError as exc:
        return _fail(str(exc).removeprefix("gfn-worker: "), exc.code)
    except Exception as exc:
        if args.log_level == "debug":
            raise
        return _fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --log-level debug)", exitcodes.FAILURE)
    finally:
        ctx.term()
    if not args.quiet:
        print(f"gfn-worker: served {stats.frames} frame(s); {stats.bad_messages} bad message(s) dropped; "
              f"{stats.reconnects} reconnect(s)", file=sys.stderr)
    return exitcodes.OK


def _fail(message: str, code: int) -> int:
    print(f"gfn-worker: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
