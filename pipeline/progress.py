"""Progress bar (tqdm, on stderr) and the one-line summary at the end of a run."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm


class Progress:
    def __init__(self, quiet: bool, desc: str = "gfn-stream", position: int | None = None):
        self.quiet = quiet
        self.desc = desc
        self.position = position  # a batch's file bar sits under its total bar (position 1)
        self.bar: tqdm | None = None
        self.total: int | None = None
        self.done = 0
        self.skip = 0  # frames a resumed job (--resume) had done before: the bar counts what is left
        self.started = time.monotonic()

    def set_total(self, total: int | None) -> None:
        self.total = max(total - self.skip, 0) if total else None
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.refresh()

    def update(self, frames: int) -> None:
        if frames <= self.done:
            return
        if self.bar is None and not self.quiet:
            self.bar = tqdm(
                total=self.total, desc=self.desc, unit="frame", file=sys.stderr, dynamic_ncols=True, leave=False,
                position=self.position,
            )
        if self.bar is not None:
            self.bar.update(frames - self.done)
        self.done = frames

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started
