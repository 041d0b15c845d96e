"""A live input's side streams (audio) across reconnects: the first connection's streams are the ones
described in `info`; after a reconnect each new stream is matched to a known one by type, codec, sample rate
and channels (an unmatched one is dropped with a warning), and its packets are moved onto the output
timeline by the connection's offset. Packets without pts, before 0 or not increasing are dropped."""

from __future__ import annotations

import logging
from typing import Any

import av

from .describe import describe_side
from .live_clock import side_timestamps
from .packets import Packet

logger = logging.getLogger(__name__)

MATCH_KEYS = ("type", "codec", "sample_rate", "channels")  # what a stream after a reconnect must repeat


class LiveSides:
    """Maps each connection's side streams to info's, and their packets to output Packets."""

    def __init__(self) -> None:
        self.descs: list[dict[str, Any]] = []  # info's side streams (the first connection's)
        self._indices: list[int] = []  # info's side streams: their input stream index (Packet.stream)
        self._map: dict[int, int] = {}  # this connection's stream index -> info's side stream index
        self._last_dts: dict[int, int] = {}

    def connect(self, sides: list[av.stream.Stream], first: bool, warnings: list[str]) -> None:
        """A connection's first frame decoded: (re)build the mapping; warnings get one line per unmatched stream."""
        if first:
            self._map = {s.index: k for k, s in enumerate(sides)}
            self._indices = [s.index for s in sides]
            self.descs = [describe_side(s) for s in sides]
            return
        used: set[int] = set()
        self._map = {}
        for s in sides:
            desc = describe_side(s)
            for k, d in enumerate(self.descs):
                if k not in used and all(d.get(key) == desc.get(key) for key in MATCH_KEYS):
                    self._map[s.index] = k
                    used.add(k)
                    break
            else:
                msg = f"{desc['type']} stream {desc['codec']} after a reconnect does not match the first one: dropped"
                if msg not in warnings:
                    warnings.append(msg)

    def packet(self, offset: int, packet: av.Packet) -> Packet | None:
        """The output Packet for a connection's side packet (offset: its output ticks), or None to drop it."""
        k = self._map.get(packet.stream.index)
        if k is None or packet.pts is None or not packet.size:
            return None
        tb = packet.time_base
        pts, dts = side_timestamps(offset, packet.pts, packet.dts, tb)
        last = self._last_dts.get(k)
        if dts < 0 or pts < 0 or (last is not None and dts <= last):
            return None
        self._last_dts[k] = dts
        return Packet(self._indices[k], pts, dts, packet.duration or None, tb, bool(packet.is_keyframe), bytes(packet))
