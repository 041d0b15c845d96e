"""Ctrl-C and SIGTERM in the launcher: the first one stops the run (a KeyboardInterrupt in the main thread);
every later one, and any that comes while the launcher is already closing down, is only noted, never raised,
so a second Ctrl-C cannot break the clean-up (the output is still closed properly, the temporary directory
removed, the exit code 130)."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

logger = logging.getLogger(__name__)


class Interrupts:
    def __init__(self) -> None:
        self.count = 0
        self.closing = False  # set once the launcher is shutting down: signals no longer raise

    def install(self) -> None:
        """Take SIGINT and SIGTERM (also when started with SIGINT ignored, as a background job is)."""
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)

    def __call__(self, signum: int, _frame: Any) -> None:
        self.count += 1
        if self.count == 1 and not self.closing:
            self.closing = True
            raise KeyboardInterrupt
        if self.count == 2:
            print("gfn-stream: already stopping: closing the output properly", file=sys.stderr, flush=True)


INTERRUPTS = Interrupts()


def closing() -> None:
    """The launcher is shutting down: from now on a signal must not raise inside the clean-up."""
    INTERRUPTS.closing = True
