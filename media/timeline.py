"""One output timeline for all the streams of a file: what `ffmpeg -c copy` does, and what keeps A/V sync.

Each input stream has its own start (a video that starts 0.5 s after its audio, an MPEG-TS that starts at
10 s, an audio track whose first packet lies before 0 because of codec priming). The output keeps every
stream's place on the input's timeline, moved as a whole so that the earliest start of the kept streams
is 0:

    tl = Timeline.from_info(info, keep=[1])          # info: VideoSource.info; keep: side streams written
    tl.shift(frame.pts, frame.time_base)             # video pts on the output timeline
    tl.packet(audio_packet)                          # the same packet, pts/dts moved by the same origin

The origin is the earliest *start time* (what the demuxer reports after edit lists), not the earliest
packet: AAC/MP3/Opus priming samples keep their negative timestamps, so the MP4/MOV muxer writes them as
an edit list (media_time > 0) and players skip them, as in the input. Live inputs are anchored to the wall
clock by live_source.py already: for them the timeline is the identity.
"""

from __future__ import annotations

import dataclasses
import logging
from fractions import Fraction
from typing import Any, Iterable

from .packets import Packet

logger = logging.getLogger(__name__)


class Timeline:
    """Moves timestamps of any time base by one origin (seconds on the input's timeline)."""

    def __init__(self, origin: Fraction = Fraction(0)) -> None:
        self.origin = Fraction(origin)

    @classmethod
    def from_info(cls, info: dict[str, Any], keep: Iterable[int]) -> Timeline:
        """The origin for a source description: min over the video and the side streams in `keep` (input
        stream indexes) of their start times; 0 for live inputs and inputs without start times."""
        if info["is_live"]:
            return cls()
        starts: list[Fraction] = []
        video_tb = _fraction(info["time_base"])
        if video_tb:
            for key in ("start_time", "start_pts"):
                value = info.get(key)  # optional: descriptions made before these keys existed lack them
                if isinstance(value, int):
                    starts.append(value * video_tb)
        kept = set(keep)
        for side in info["side_streams"]:
            tb = _fraction(side["time_base"])
            if side["index"] in kept and isinstance(side["start_time"], int) and tb:
                starts.append(side["start_time"] * tb)
        origin = min(starts) if starts else Fraction(0)
        if origin:
            logger.debug("output timeline: input time %.6f s becomes 0", float(origin))
        return cls(origin)

    def shift(self, ts: int | None, time_base: Fraction) -> int | None:
        """A timestamp in time_base moved onto the output timeline (None stays None)."""
        if ts is None or not self.origin:
            return ts
        return ts - round(self.origin / Fraction(time_base))

    def packet(self, packet: Packet) -> Packet:
        """The packet with its pts and dts on the output timeline (payload untouched)."""
        if not self.origin:
            return packet
        tb = packet.time_base
        return dataclasses.replace(packet, pts=self.shift(packet.pts, tb), dts=self.shift(packet.dts, tb))


def _fraction(value: Any) -> Fraction | None:
    """[num, den] (the JSON form of a time base) or a Fraction; None when missing or zero."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or not value[1]:
            return None
        value = Fraction(value[0], value[1])
    value = Fraction(value)
    return value or None
