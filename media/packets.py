"""A compressed audio or subtitle packet on its way from the input to the output untouched: read by the sources
(source.py, live_source.py), carried in a protocol PACKET message (its JSON fields + the payload as one buffer),
remuxed by the writers (side_streams.py). A video frame never is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any


@dataclass
class Packet:
    """One compressed audio/subtitle packet, byte-identical to the input. `stream` is the input stream index
    (info["side_streams"][k]["index"]); timestamps are in time_base."""

    stream: int
    pts: int | None
    dts: int | None
    duration: int | None
    time_base: Fraction
    is_keyframe: bool
    data: bytes

    def fields(self) -> dict[str, Any]:
        """The JSON header fields of a protocol PACKET message (payload travels as the one buffer)."""
        return {"stream": self.stream, "pts": self.pts, "dts": self.dts, "duration": self.duration,
                "tb": [self.time_base.numerator, self.time_base.denominator], "key": self.is_keyframe}

    @classmethod
    def from_fields(cls, header: dict[str, Any], data: bytes | memoryview) -> Packet:
        """Inverse of fields() for a validated PACKET message."""
        return cls(header["stream"], header["pts"], header["dts"], header.get("duration"),
                   Fraction(*header["tb"]), header["key"], bytes(data))
