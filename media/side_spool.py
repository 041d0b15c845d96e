"""The side packets (audio, subtitles) of a resumable job's run, in arrival order, in one file next to its chunks
(media/chunk_sink.py writes it, chunk_join.py reads it back for the final remux).

    spool = SideSpool("out.mp4.resume/side.spool"); spool.write(packet); spool.close()
    for packet in SideSpool.read(path): ...

Each record: header length and payload length (big-endian u32), the packet's JSON header (Packet.fields()), the
payload. Every run rewrites it: each run's decoder sends all the side packets, also those beside the frames a
resumed run skips.
"""

from __future__ import annotations

import json
import logging
import struct
from typing import BinaryIO, Iterator

from .encode_options import SinkError
from .packets import Packet

logger = logging.getLogger(__name__)
_RECORD = struct.Struct(">II")  # header length, payload length


class SideSpool:
    """The side packets of a run, in one file (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._f: BinaryIO | None = open(path, "wb")

    def write(self, packet: Packet) -> None:
        if self._f is None:
            return
        header = json.dumps(packet.fields()).encode()
        try:
            self._f.write(_RECORD.pack(len(header), len(packet.data)) + header + packet.data)
        except OSError as exc:
            raise SinkError(f"cannot write {self.path}: {exc.strerror}") from None

    def close(self) -> None:
        f, self._f = self._f, None
        if f is not None:
            f.close()

    @staticmethod
    def read(path: str) -> Iterator[Packet]:
        with open(path, "rb") as f:
            while True:
                head = f.read(_RECORD.size)
                if len(head) < _RECORD.size:
                    return
                n_header, n_data = _RECORD.unpack(head)
                header = json.loads(f.read(n_header))
                yield Packet.from_fields(header, f.read(n_data))
