"""A VideoSink that another sink drives (InnerSink): a push's connection (push_sink.py), a resumable job's chunk
(chunk_sink.py) or a segment file (segment_sink.py). Besides VideoSink's calls it tells whether the output is
open and how many side packets it dropped, closes without draining the encoder (abandon), and hands its timing
on to the next file (timing / continue_timing), so chunks written one after another make one timeline."""

from __future__ import annotations

from fractions import Fraction

from .sink import VideoSink


class InnerSink(VideoSink):
    @property
    def started(self) -> bool:
        """Whether the output is open (the first frame fixed its size)."""
        return self._started

    @property
    def packets_dropped(self) -> int:
        return self._sides.dropped

    def abandon(self) -> None:
        """Close the container without draining the encoder (a pushed stream whose connection is gone, a chunk
        a resume writes again)."""
        if self._out is not None:
            self._out.close()

    @property
    def timing(self) -> tuple[int | None, int, Fraction | None]:
        """(last pts, ticks between the last two frames, time base): where a following file continues (chunk_sink)."""
        return self._last_pts, self._last_step, (self._video.codec_context.time_base if self._video else None)

    def continue_timing(self, last_pts: int | None, last_step: int) -> None:
        self._last_pts, self._last_step = last_pts, last_step  # before the first frame: continue another's timing
