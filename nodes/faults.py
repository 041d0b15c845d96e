"""Fault injection for tests: a worker told to be slow, to hang or to die, so a test can exercise stalls, lost
workers and restarts through the whole pipeline. Never set in a real run: gfn-stream sets it only from its hidden
`--test-fault NAME=N` option (tests pass it), WorkerNode from its `faults=` argument."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerFaults:
    delay_ms: int = 0  # extra time per batch, so a test can act mid-run
    exit_after: int | None = None  # exit abruptly (code 70) once this many frames went out
    hang_after: int | None = None  # the model hangs once this many frames are done
    hang_worker: int | None = None  # gfn-stream: only local worker N hangs (None: every one)

    def for_worker(self, number: int) -> "WorkerFaults":
        """What local worker `number` (1-based) is told: hang_after only where hang_worker allows it."""
        hangs = self.hang_worker is None or self.hang_worker == number
        return WorkerFaults(self.delay_ms, self.exit_after, self.hang_after if hangs else None)
