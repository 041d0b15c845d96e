"""The gfn-stream wire protocol: multipart ZeroMQ messages, a small JSON header then raw buffers. No pickle.

Frame 0 of every message is a UTF-8 JSON object (at most MAX_HEADER_BYTES) with at least
    {"v": PROTOCOL_VERSION, "kind": <one of KINDS>}
and the kind's own fields; frames 1.. are raw buffers (pixel planes, packet payloads). See docs/protocol.md.

Version 2 carries pictures as their native planes (yuv420p, yuv420p10le: 16-bit little-endian samples, and the
rgb48le fallback for other deep inputs) besides rgb24; version 1 (rgb24 only) is still read, and a worker
answers a version-1 frame in version 1, so old 8-bit clients keep working.

Everything received is validated: unknown kinds, wrong versions, missing or wrongly typed fields,
dimensions out of bounds and buffers whose sizes disagree with the header raise ProtocolError, which a
node counts and logs; it never crashes a node. Frames and credits are checked here, the messages around
them (end of stream, errors, status, stream info, side packets) in control_messages.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NoReturn, Sequence

import numpy as np

from . import control_messages

PROTOCOL_VERSION = 2
VERSIONS = (1, 2)  # read; a FRAME in version 1 is rgb24 only
MAX_HEADER_BYTES = 64 * 1024
MAX_DIM = 16384  # largest accepted width or height
MAX_BATCH_CREDIT = 1024

# Message kinds
READY = "ready"  # worker → dispatcher: "I can take `credit` more frames"; also acknowledges `done` seqs
FRAME = "frame"  # dispatcher → worker (input frame) and worker → encoder (enhanced frame)
EOS = "eos"  # end of stream: carries the number of frames sent (`frames`)
HEARTBEAT = "heartbeat"  # either direction, liveness only
ERROR = "error"  # a node reports a fatal error (`message`)
BYE = "bye"  # worker → dispatcher: leaving; frames it still holds must be re-sent
STREAM_INFO = "stream_info"  # decoder → encoder: source description (JSON only; extradata as buffers)
PACKET = "packet"  # decoder → encoder: one compressed non-video packet for remuxing
STATUS = "status"  # node → launcher: lifecycle and progress events (`node`, `event`, event fields)
KINDS = frozenset({READY, FRAME, EOS, HEARTBEAT, ERROR, BYE, STREAM_INFO, PACKET, STATUS})

# Pixel formats a FRAME may carry: name → its planes, each (bytes per sample, channels, x and y subsampling).
# A subsampled plane is ceil(w / sx) x ceil(h / sy). 16-bit samples are little-endian.
PIXEL_FORMATS: dict[str, tuple[tuple[int, int, int, int], ...]] = {
    "rgb24": ((1, 3, 1, 1),),  # one packed plane, H x W x 3 uint8, full range
    "rgb48le": ((2, 3, 1, 1),),  # one packed plane, H x W x 3 uint16, full range 0..65535
    "yuv420p": ((1, 1, 1, 1), (1, 1, 2, 2), (1, 1, 2, 2)),  # Y, U (Cb), V (Cr), 8 bits
    "yuv420p10le": ((2, 1, 1, 1), (2, 1, 2, 2), (2, 1, 2, 2)),  # the same, 10 bits in uint16 (0..1023)
}
YUV_FORMATS = frozenset({"yuv420p", "yuv420p10le"})  # carry "mx" (AVColorSpace id) and "rng" (1 tv, 2 pc)


def plane_shapes(fmt: str, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """(rows, columns, channels, bytes per sample) of each plane of a `fmt` picture of width x height."""
    return [(-(-height // sy), -(-width // sx), ch, bps) for bps, ch, sx, sy in PIXEL_FORMATS[fmt]]


# Optional FRAME fields that travel with a frame through a worker unchanged (validated like the rest):
#   wall: capture time, seconds on the sender's CLOCK_MONOTONIC (live latency); seg: start a new output
#   segment at this frame; dur: the frame's duration in time-base units (keeps the last frame's length);
#   out: [width, height] of the result (the 4x output resampled; absent: 4x); cmp: the result is a split
#   screen, bicubic | network (--compare)
PASS_THROUGH = ("wall", "seg", "dur", "out", "cmp")


class ProtocolError(ValueError):
    """A message that does not follow the protocol."""


@dataclass
class Message:
    kind: str
    header: dict[str, Any]
    buffers: list[memoryview] = field(default_factory=list)

    @property
    def version(self) -> int:
        return self.header["v"]

    # field checks, for the validators (a ProtocolError naming the kind and the field)
    def fail(self, what: str) -> NoReturn:
        raise ProtocolError(f"{self.kind}: {what}")

    def need(self, name: str, types: type | tuple[type, ...], optional: bool = False) -> Any:
        if name not in self.header:
            if optional:
                return None
            self.fail(f"missing field {name!r}")
        value = self.header[name]
        if value is None and optional:
            return None
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            self.fail(f"field {name!r} has the wrong type")
        if not isinstance(value, types):
            self.fail(f"field {name!r} has the wrong type")
        return value

    def count(self, name: str, optional: bool = False, maximum: int = 2**62) -> int | None:
        value = self.need(name, int, optional)
        if value is not None and not 0 <= value <= maximum:
            self.fail(f"field {name!r} out of range: {value}")
        return value

    def no_buffers(self) -> None:
        if self.buffers:
            self.fail(f"unexpected {len(self.buffers)} buffer(s)")


def pack(kind: str, fields: dict[str, Any] | None = None, buffers: Sequence[Any] = (),
         version: int = PROTOCOL_VERSION) -> list[Any]:
    """Build a multipart message: [JSON header, *buffers]. Buffers go out as-is (zero-copy with copy=False)."""
    if kind not in KINDS:
        raise ProtocolError(f"unknown message kind {kind!r}")
    if version not in VERSIONS:
        raise ProtocolError(f"unknown protocol version {version!r}")
    header = {"v": version, "kind": kind}
    if fields:
        header.update(fields)
    raw = json.dumps(header, separators=(",", ":")).encode()
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError(f"header too large ({len(raw)} bytes)")
    return [raw, *buffers]


def read_header(parts: Sequence[Any]) -> dict[str, Any]:
    """Frame 0 of a received message as a JSON object, nothing of it validated yet (frames: bytes or zmq.Frame)."""
    if not parts:
        raise ProtocolError("empty message")
    raw = _bytes_of(parts[0])
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError(f"header too large ({len(raw)} bytes)")
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):  # bad UTF-8 or JSON, over-long integers, nesting too deep
        raise ProtocolError("header is not JSON") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not a JSON object")
    return header


def unpack(parts: Sequence[Any]) -> Message:
    """Parse and validate a received multipart message (frames may be bytes or zmq.Frame)."""
    header = read_header(parts)
    version = header.get("v")
    if type(version) is not int or version not in VERSIONS:  # true == 1 == 1.0 in Python; not on the wire
        raise ProtocolError(f"unsupported protocol version {version!r} (this node speaks "
                            f"{' and '.join(map(str, VERSIONS))})")
    kind = header.get("kind")
    if kind not in KINDS:
        raise ProtocolError(f"unknown message kind {kind!r}")
    buffers = [_view_of(p) for p in parts[1:]]
    msg = Message(kind, header, buffers)
    _VALIDATORS.get(kind, Message.no_buffers)(msg)
    return msg


# ---------------------------------------------------------------------------------------------- frames
@dataclass
class FrameHeader:
    """What travels with each picture. pts is in time_base units (None where the source had none).

    YUV pictures also carry their matrix (`matrix`, an AVColorSpace id) and range (`color_range`: 1 tv, 2 pc);
    `color_out` asks a worker for the colour of its answer (field "ocol": {"mx": id, "rng": 1|2}; default: the
    picture's own).
    `version`: the protocol version the message is written in (a worker answers in the frame's)."""

    seq: int
    pts: int | None
    time_base: Fraction
    width: int
    height: int
    pix_fmt: str = "rgb24"
    strides: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # PASS_THROUGH fields a worker copies to its result
    matrix: int | None = None
    color_range: int | None = None
    color_out: dict[str, int] | None = None
    version: int = PROTOCOL_VERSION

    def fields(self) -> dict[str, Any]:
        f = {
            "seq": self.seq,
            "pts": self.pts,
            "tb": [self.time_base.numerator, self.time_base.denominator],
            "w": self.width,
            "h": self.height,
            "fmt": self.pix_fmt,
            "strides": list(self.strides),
            **{k: v for k, v in self.extra.items() if k in PASS_THROUGH},
        }
        if self.pix_fmt in YUV_FORMATS:
            f["mx"], f["rng"] = self.matrix, self.color_range
            if self.color_out is not None:
                f["ocol"] = dict(self.color_out)
        return f


def pack_frame(header: FrameHeader, picture: np.ndarray | Sequence[np.ndarray],
               extra: dict[str, Any] | None = None) -> list[Any]:
    """A FRAME message. `picture`: an H x W x 3 uint8 RGB image (rgb24), an H x W x 3 uint16 one (rgb48le), or
    the 2-D planes of header.pix_fmt (yuv420p: uint8, yuv420p10le: uint16). Planes whose rows are contiguous
    go out without a copy; header size, format (for images) and strides are set from the picture."""
    if isinstance(picture, np.ndarray):
        if picture.ndim != 3 or picture.shape[2] != 3 or picture.dtype not in (np.uint8, np.uint16):
            raise ProtocolError(f"an image must be HxWx3 uint8 or uint16, got {picture.dtype} {picture.shape}")
        header.pix_fmt = "rgb24" if picture.dtype == np.uint8 else "rgb48le"
        planes: Sequence[np.ndarray] = [picture]
        header.height, header.width = picture.shape[:2]
    else:
        planes = list(picture)
        if header.pix_fmt not in YUV_FORMATS:
            raise ProtocolError(f"planes need a YUV pixel format, not {header.pix_fmt!r}")
        header.height, header.width = planes[0].shape[:2]
    if header.version == 1 and header.pix_fmt != "rgb24":
        raise ProtocolError(f"protocol version 1 carries rgb24 only, not {header.pix_fmt}")
    shapes = plane_shapes(header.pix_fmt, header.width, header.height)
    buffers, strides = [], []
    for plane, (rows, cols, ch, bps) in zip(planes, shapes, strict=True):
        want = (rows, cols, ch) if ch > 1 else (rows, cols)
        if plane.shape != want or plane.dtype.itemsize != bps:
            raise ProtocolError(f"{header.pix_fmt}: a plane must be {want} of {8 * bps}-bit samples, got "
                                f"{plane.dtype} {plane.shape}")
        if plane.dtype.byteorder == ">" or not plane.flags.c_contiguous:
            plane = np.ascontiguousarray(plane, dtype=plane.dtype.newbyteorder("<"))
        buffers.append(plane.data)
        strides.append(plane.strides[0])
    header.strides = tuple(strides)
    fields = header.fields()
    if extra:
        fields.update(extra)
    return pack(FRAME, fields, buffers, version=header.version)


def unpack_frame(msg: Message) -> tuple[FrameHeader, np.ndarray | list[np.ndarray]]:
    """(header, picture) from a validated FRAME message: an H x W x 3 view (rgb24 uint8, rgb48le uint16) or a
    list of 2-D plane views (YUV formats), all on the received buffers."""
    h = msg.header
    fh = FrameHeader(
        seq=h["seq"],
        pts=h["pts"],
        time_base=Fraction(h["tb"][0], h["tb"][1]),
        width=h["w"],
        height=h["h"],
        pix_fmt=h["fmt"],
        strides=tuple(h["strides"]),
        extra={k: h[k] for k in PASS_THROUGH if k in h},
        matrix=h.get("mx"),
        color_range=h.get("rng"),
        color_out=dict(h["ocol"]) if "ocol" in h else None,
        version=msg.version,
    )
    planes = []
    for (rows, cols, ch, bps), stride, buf in zip(plane_shapes(fh.pix_fmt, fh.width, fh.height), fh.strides,
                                                  msg.buffers):
        dtype = np.uint8 if bps == 1 else np.dtype("<u2")
        shape, steps = ((rows, cols, ch), (stride, ch * bps, bps)) if ch > 1 else ((rows, cols), (stride, bps))
        planes.append(np.ndarray(shape, dtype=dtype, buffer=buf, strides=steps))
    return fh, planes[0] if fh.pix_fmt not in YUV_FORMATS else planes


# ---------------------------------------------------------------------------------------------- validation
def _bytes_of(part: Any) -> bytes:
    if isinstance(part, (bytes, bytearray)):
        return bytes(part)
    if hasattr(part, "bytes"):  # zmq.Frame
        return part.bytes
    return bytes(memoryview(part))


def _view_of(part: Any) -> memoryview:
    if hasattr(part, "buffer"):  # zmq.Frame
        return part.buffer
    return memoryview(part)


def _validate_frame(msg: Message) -> None:
    h = msg.header
    wall = msg.need("wall", (int, float), optional=True)
    if wall is not None and not (0 <= wall < 1e12):
        raise ProtocolError("frame: bad 'wall' time")
    msg.need("seg", bool, optional=True)
    msg.count("dur", optional=True)
    msg.need("cmp", bool, optional=True)
    out = msg.need("out", list, optional=True)
    if out is not None and not (len(out) == 2 and all(
            isinstance(x, int) and not isinstance(x, bool) and 0 < x <= MAX_DIM for x in out)):
        raise ProtocolError(f"frame: bad output size 'out' {out!r}")
    msg.count("seq")
    pts = msg.need("pts", int, optional=True)
    if pts is not None and abs(pts) > 2**62:
        raise ProtocolError("frame: pts out of range")
    tb = msg.need("tb", list)
    if len(tb) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in tb) or tb[0] <= 0 or tb[1] <= 0:
        raise ProtocolError(f"frame: bad time base {tb!r}")
    w = msg.count("w", maximum=MAX_DIM)
    hh = msg.count("h", maximum=MAX_DIM)
    if w < 1 or hh < 1:
        raise ProtocolError(f"frame: bad size {w}x{hh}")
    fmt = msg.need("fmt", str)
    if fmt not in PIXEL_FORMATS or (msg.version == 1 and fmt != "rgb24"):
        raise ProtocolError(f"frame: unsupported pixel format {fmt!r} in protocol version {msg.version}")
    if fmt in YUV_FORMATS:
        _colour(h, h)
        ocol = msg.need("ocol", dict, optional=True)
        if ocol is not None:
            _colour(h, ocol)
    strides = msg.need("strides", list)
    shapes = plane_shapes(fmt, w, hh)
    if len(strides) != len(shapes) or len(msg.buffers) != len(shapes):
        raise ProtocolError(f"frame: {fmt} needs {len(shapes)} plane(s) and stride(s)")
    for stride, (rows, cols, ch, bps), buf in zip(strides, shapes, msg.buffers):
        row = cols * ch * bps
        if (not isinstance(stride, int) or isinstance(stride, bool) or stride < row or stride > row + 4096
                or stride % bps):
            raise ProtocolError(f"frame: bad stride {stride!r} for width {w}")
        need = stride * (rows - 1) + row
        if buf.nbytes < need or buf.nbytes > stride * rows:
            raise ProtocolError(f"frame: plane of {buf.nbytes} bytes does not fit {w}x{hh} stride {stride}")


def _colour(h: dict, where: dict) -> None:
    """`mx` (an AVColorSpace id, 0..255) and `rng` (1 tv, 2 pc) of a YUV frame or of its `ocol` request."""
    mx, rng = where.get("mx"), where.get("rng")
    if type(mx) is not int or not 0 <= mx <= 255 or type(rng) is not int or rng not in (1, 2):
        raise ProtocolError(f"frame: a {h['fmt']} frame needs 'mx' (0..255) and 'rng' (1 or 2)")


def _validate_ready(msg: Message) -> None:
    msg.count("credit", maximum=MAX_BATCH_CREDIT)
    done = msg.need("done", list, optional=True) or []
    valid = all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in done)
    if len(done) > 4 * MAX_BATCH_CREDIT or not valid:
        raise ProtocolError("ready: bad 'done' list")
    msg.no_buffers()


_VALIDATORS = {  # HEARTBEAT and BYE carry no more than a kind: no buffers
    FRAME: _validate_frame,
    READY: _validate_ready,
    EOS: control_messages.eos,
    ERROR: control_messages.error,
    STREAM_INFO: control_messages.stream_info,
    PACKET: control_messages.packet,
    STATUS: control_messages.status,
}
