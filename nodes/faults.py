"""Fault injection for tests: a worker told to be slow, to hang or to die, so a test can exercise stalls, lost
workers and restarts through the whole pipeline. Never set in a real run: gfn-stream sets it only from its hidden
`--test-fault NAME=N` option (tests pass it), WorkerNode from its `faults=` argument."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from .. import fromdict


@dataclass(frozen=True)
class WorkerFaults:
    delay_ms: int = 0  # extra time per batch, so a test can act mid-run
    exit_after: int | None = None  # exit abruptly (code 70) once this many frames went out
    hang_after: int | None = None  # the model hangs once this many frames are done
    hang_worker: int | None = None  # gfn-stream: only local worker N hangs (None: every one)

    @classmethod
    def parse(cls, specs: list[str], error: type[Exception]) -> "WorkerFaults":
        """gfn-stream's --test-fault NAME=N options; a malformed one raises `error` (one line)."""
        values = {}
        for spec in specs:
            name, _, value = spec.partition("=")
            try:
                values[name] = int(value)
            except ValueError:
                raise error(f"--test-fault {spec}: expected NAME=N (N an integer)") from None
        return fromdict.build(cls, values, "--test-fault", error)

    def for_worker(self, number: int) -> "WorkerFaults":
        """What local worker `number` (1-based) is told: hang_after only where hang_worker allows it."""
        hangs = self.hang_worker is None or self.hang_worker == number
        return WorkerFaults(self.delay_ms, self.exit_after, self.hang_after if hangs else None)

    def around(self, work: Any) -> Any:
        """A worker's picture work (nodes/pictures.py's PictureWork) made slow or hung as told; itself if neither."""
        if not self.delay_ms and self.hang_after is None:
            return work
        return FaultyWork(work, self.delay_ms / 1000, self.hang_after)


class FaultyWork:
    """Picture work that takes `delay_s` longer per batch, and never returns once `hang_after` frames are done."""

    def __init__(self, work: Any, delay_s: float = 0.0, hang_after: int | None = None):
        self.work, self.delay_s, self.hang_after = work, delay_s, hang_after
        self.frames_done = 0

    def run(self, jobs: list[Any]) -> list[Any]:
        if self.hang_after is not None and self.frames_done >= self.hang_after:
            threading.Event().wait()  # a model that never returns
        outs = self.work.run(jobs)
        self.frames_done += len(jobs)
        if self.delay_s:
            time.sleep(self.delay_s)
        return outs
