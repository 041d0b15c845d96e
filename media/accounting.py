"""Frame accounting for a file input, from the demuxer to the decoder: every video packet and every frame is
counted, so a damaged input is reported in one line instead of quietly losing frames.

    acct = InputAccount(frame_s=0.04, declared_frames=100, declared_end=4.0)
    acct.packet(corrupt=p.is_corrupt)     # each non-empty video packet the demuxer gives
    acct.undecodable()                    # a packet the decoder refused
    acct.frame(seconds)                   # each decoded frame (its pts in seconds, None when unknown)
    acct.read_error("Invalid data")       # the demuxer gave up mid-file
    acct.summary()                        # None for a clean input, else one line
    acct.stats()                          # the counts, for --report

Frames can go missing without any error: an MPEG-TS whose damaged transport packets the demuxer throws away
hands the decoder fewer packets. When there is evidence of damage (a packet flagged corrupt, a decode error,
a read error) the holes in the frame timestamps are counted as missing frames too (CFR assumption: a hole of
k frame durations is k - 1 frames); without evidence a long step is taken for variable frame rate.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

MAX_HOLES_NAMED = 3


class InputAccount:
    def __init__(self, frame_s: float, declared_frames: int | None, declared_end: float | None) -> None:
        self.frame_s = frame_s  # seconds per frame from the stream's rate (0: unknown)
        self.declared_frames = declared_frames
        self.declared_end = declared_end
        self.packets = self.corrupt = self.undecoded = self.decoded = 0
        self.read_failure: str | None = None
        self.holes: list[tuple[float, int]] = []  # (seconds where the hole ends, frames missing)
        self._last: float | None = None
        self._end: float | None = None

    def packet(self, corrupt: bool) -> None:
        self.packets += 1
        self.corrupt += bool(corrupt)

    def undecodable(self) -> None:
        self.undecoded += 1

    def read_error(self, reason: str) -> None:
        self.read_failure = self.read_failure or reason

    def frame(self, seconds: float | None, duration_s: float | None = None) -> None:
        self.decoded += 1
        if seconds is None:
            return
        if self._last is not None and self.frame_s and seconds - self._last > 1.5 * self.frame_s:
            self.holes.append((seconds, round((seconds - self._last) / self.frame_s) - 1))
        self._last = seconds if self._last is None else max(self._last, seconds)
        end = seconds + (duration_s or self.frame_s)
        self._end = end if self._end is None else max(self._end, end)

    @property
    def damaged(self) -> bool:
        return bool(self.corrupt or self.undecoded or self.read_failure)

    @property
    def missing(self) -> int:
        """Frames the input should have had but did not deliver (best estimate)."""
        if self.declared_frames:
            short = self.declared_frames - self.decoded
            # MP4 edit lists may hide a few of the stored frames (nb_frames counts them all): some slack
            if short > max(2, self.declared_frames // 50) or (self.damaged and short > 0):
                return short
            return 0
        return sum(n for _, n in self.holes) if self.damaged else 0

    def ended_early(self) -> bool:
        if self.declared_frames or self._end is None or self.declared_end is None:
            return False
        return self.declared_end - self._end > max(0.5, 2 * self.frame_s)

    def summary(self) -> str | None:
        """One line about a damaged or truncated input, or None when every frame came through."""
        parts = []
        if self.read_failure:
            parts.append(f"reading stopped after {self.decoded} frames ({self.read_failure})")
        if self.undecoded:
            parts.append(f"{self.undecoded} video packet(s) could not be decoded and were skipped")
        if self.corrupt:
            parts.append(f"{self.corrupt} packet(s) flagged corrupt by the demuxer (decoded, errors concealed)")
        missing = self.missing
        if missing and self.declared_frames:
            parts.append(f"decoded {self.decoded} of {self.declared_frames} frames ({missing} missing)")
        elif missing:
            where = ", ".join(f"{t:.2f} s" for t, _ in self.holes[:MAX_HOLES_NAMED])
            more = " ..." if len(self.holes) > MAX_HOLES_NAMED else ""
            parts.append(f"{missing} frame(s) missing by the timestamps (before {where}{more}); "
                         f"{self.decoded} decoded")
        if self.ended_early():
            parts.append(f"input ended at {self._end:.2f} s of {self.declared_end:.2f} s")
        if not parts:
            return None
        head = "input is damaged or truncated" if self.read_failure or self.ended_early() else "input is damaged"
        return f"{head}: " + "; ".join(parts) + f"; the output holds the {self.decoded} frames that decoded"

    def stats(self) -> dict[str, Any]:
        return {"video_packets": self.packets, "packets_corrupt": self.corrupt, "packets_undecodable": self.undecoded,
                "frames_decoded": self.decoded, "frames_missing": self.missing, "read_error": self.read_failure,
                "ended_early": self.ended_early()}
