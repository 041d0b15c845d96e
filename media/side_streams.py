"""How the source's audio and subtitle streams reach a video output: each is copied untouched when the container
takes it (tried on a scratch file), audio is re-encoded (aac, or opus for webm) when it cannot be copied, and
the rest is dropped with a warning.

    routes = plan_side_streams("mp4", info["side_streams"], side_buffers, warnings)   # {input index: SideRoute}
    route.open(container); out_packets = route.packets(packet)                        # per source packet

A VideoSink's side streams are a SidePackets: the packets that come before the first video frame are held
(the frame fixes the output), then each is muxed; a bad packet is dropped, a stream that keeps failing given up.
"""

from __future__ import annotations

import io
import logging
from fractions import Fraction
from typing import Any, Callable, Iterator

import av

from .encode_options import SinkError
from .frames import ffmpeg_error_line
from .packets import Packet

logger = logging.getLogger(__name__)

MAX_PENDING_BYTES = 64 << 20  # side packets held until the first video frame fixes the output size
MAX_SIDE_ERRORS = 100  # muxing failures after which a side stream is given up
# Muxers that cannot write to a scratch buffer: side streams are planned with a container that takes the same
# codecs (RTSP carries what MP4 carries, near enough: AAC, Opus, AC-3, MP3).
_PLAN_FORMAT = {"rtsp": "mp4"}

_FALLBACK_AUDIO = {"webm": "libopus"}  # re-encode target when a source audio codec cannot go in; else aac
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)


class SideRoute:
    """How one source audio/subtitle stream reaches the output: copied, or re-encoded from decoded audio."""

    def __init__(self, desc: dict[str, Any], extradata: bytes, reencode: str | None, label: str) -> None:
        self.desc, self.extradata, self.label = desc, extradata, label
        self.reencode_codec = reencode
        self.reencoder: Reencoder | None = None
        self.stream: av.stream.Stream | None = None
        self.errors = 0
        self.dead = False
        self.to_mp4 = False
        self.bsf: av.BitStreamFilterContext | None = None

    def open(self, out: av.container.OutputContainer) -> None:
        if self.reencode_codec:
            self.reencoder = Reencoder(out, self.desc, self.extradata, self.reencode_codec)
            self.stream = self.reencoder.stream
        else:
            self.stream = _copy_stream(out, self.desc, self.extradata)
            self.to_mp4 = out.format.name in ("mp4", "mov")

    def packets(self, packet: Packet) -> list[av.Packet]:
        if self.reencoder is not None:
            return self.reencoder.push(packet)
        if self.desc["codec"] == "mov_text" and packet.data == b"\x00\x00":
            return []  # an empty cue that filled a gap: the MP4 muxer writes its own
        out = av.Packet(packet.data)
        out.pts, out.dts, out.time_base = packet.pts, packet.dts, packet.time_base
        if packet.duration:
            out.duration = packet.duration
        out.is_keyframe = packet.is_keyframe
        out.stream = self.stream
        if self.to_mp4 and self.bsf is None and self.desc["codec"] == "aac" and packet.data[:2] >= b"\xff\xf0":
            # ADTS AAC (from MPEG-TS): MP4/MOV hold raw frames + an AudioSpecificConfig. The muxer adds this
            # filter by itself, but not with movflags=delay_moov (it then fails: "Malformed AAC bitstream").
            self.bsf = av.BitStreamFilterContext("aac_adtstoasc", self.stream)
        if self.bsf is None:
            return [out]
        filtered = self.bsf.filter(out)
        for p in filtered:
            p.stream = self.stream
        return filtered


class SidePackets:
    """The side streams of one video output (VideoSink): routes planned for its muxer, packets held until
    start() gives the sink's mux (the first video frame opened the output), then each muxed through it."""

    def __init__(self, fmt: str, descs: list[dict[str, Any]], buffers: list[bytes], warnings: list[str]) -> None:
        self.routes = plan_side_streams(_PLAN_FORMAT.get(fmt, fmt), descs, buffers, warnings)
        self.warnings = warnings
        self.pending: list[Packet] = []
        self.pending_bytes = 0
        self.dropped = 0
        self.mux: Callable[[av.Packet], None] | None = None

    def put(self, packet: Packet, on_timeline: Callable[[Packet], Packet]) -> None:
        route = self.routes.get(packet.stream)
        if route is None or route.dead:
            self.dropped += 1
            return
        packet = on_timeline(packet)
        if self.mux is None:
            self.pending_bytes += len(packet.data)
            if self.pending_bytes > MAX_PENDING_BYTES:
                raise SinkError(f"more than {MAX_PENDING_BYTES >> 20} MiB of audio/subtitles arrived before "
                                "the first video frame")
            self.pending.append(packet)
            return
        self._mux(route, packet)

    def open(self, out: av.container.OutputContainer) -> None:
        for route in self.routes.values():
            route.open(out)

    def start(self, mux: Callable[[av.Packet], None]) -> None:
        """The output is open: the held packets go out, and from now on each as it comes."""
        self.mux = mux
        pending, self.pending = self.pending, []
        for packet in pending:
            self._mux(self.routes[packet.stream], packet)

    def flush(self) -> Iterator[av.Packet]:
        """The re-encoders' last packets (at close)."""
        for route in self.routes.values():
            if route.reencoder is not None and not route.dead:
                yield from route.reencoder.flush()

    def _mux(self, route: SideRoute, packet: Packet) -> None:
        """A bad side packet (say, a dts that goes backwards) is dropped, not fatal; a stream that keeps
        failing is given up."""
        if route.dead:
            self.dropped += 1
            return
        try:
            for out_packet in route.packets(packet):
                self.mux(out_packet)
        except av.FFmpegError as e:
            self.dropped += 1
            route.errors += 1
            if route.errors == 1:
                reason = ffmpeg_error_line(e)
                self.warnings.append(f"{route.label}: dropped a packet that could not be muxed ({reason})")
            if route.errors >= MAX_SIDE_ERRORS:
                route.dead = True
                self.warnings.append(f"{route.label}: {route.errors} packets failed; the rest is dropped")


class Reencoder:
    """Decode a source audio stream in this process (from its description + extradata) and encode it again."""

    def __init__(self, out: av.container.OutputContainer, desc: dict[str, Any], extradata: bytes, codec: str):
        self.decoder = av.CodecContext.create(desc["codec"], "r")
        self.decoder.sample_rate = desc.get("sample_rate") or 48000
        self.decoder.layout = _layout(desc)
        if extradata:
            self.decoder.extradata = extradata
        rate = desc.get("sample_rate") or 48000
        if codec == "libopus" or rate not in _AAC_RATES:
            rate = 48000
        channels = desc.get("channels") or 2
        layout = {1: "mono", 6: "5.1", 8: "7.1"}.get(channels, "stereo")
        self.stream = out.add_stream(codec, rate=rate)
        self.stream.layout = layout
        self.stream.bit_rate = min(64000 * len(av.AudioLayout(layout).channels), 320000)
        self.stream.codec_context.time_base = Fraction(1, rate)
        self.time_base = Fraction(*desc["time_base"])
        self.rate, self.layout = rate, layout
        self.resampler: av.AudioResampler | None = None
        self.next_pts: int | None = None  # in 1/input sample rate

    def push(self, packet: Packet) -> list[av.Packet]:
        p = av.Packet(packet.data)
        p.pts, p.dts, p.time_base = packet.pts, packet.dts, packet.time_base
        try:
            frames = self.decoder.decode(p)
        except av.FFmpegError:
            return []  # one bad packet: a short gap
        return self._encode(frames, packet)

    def flush(self) -> list[av.Packet]:
        out = self._encode(self.decoder.decode(None), None)
        if self.resampler is not None:
            for frame in self.resampler.resample(None):
                out += self.stream.encode(frame)
        return out + self.stream.encode(None)

    def _encode(self, frames: list[av.AudioFrame], packet: Packet | None) -> list[av.Packet]:
        out: list[av.Packet] = []
        for frame in frames:
            rate = frame.sample_rate
            if packet is not None and packet.pts is not None:
                at = rescale(packet.pts, packet.time_base, Fraction(1, rate))
                if self.next_pts is None:  # the start; the decoder may have skipped priming by itself
                    self.next_pts = at + (self.decoder.delay or 0)  # (Opus pre-skip: 312 samples)
                elif at - self.next_pts > rate // 10:  # a gap in the source
                    self.next_pts = at
            if self.next_pts is None:
                self.next_pts = 0
            frame.pts, frame.time_base = self.next_pts, Fraction(1, rate)
            self.next_pts += frame.samples
            if self.resampler is None:
                cc = self.stream.codec_context
                cc.open(strict=False)  # frame_size is known once the encoder is open
                self.resampler = av.AudioResampler(format=cc.format.name, layout=self.layout, rate=self.rate,
                                                   frame_size=cc.frame_size or None)
            for resampled in self.resampler.resample(frame):
                out += self.stream.encode(resampled)
        return out


def plan_side_streams(fmt: str, descs: list[dict[str, Any]], buffers: list[bytes],
                       warnings: list[str]) -> dict[int, SideRoute]:
    """Decide per side stream: copy (the container takes it: tried on a scratch file), re-encode (audio), or
    drop (subtitles, undecodable audio) with a warning."""
    routes: dict[int, SideRoute] = {}
    for k, desc in enumerate(descs):
        extradata = buffers[k] if k < len(buffers) else b""
        label = f"{desc['type']} stream #{desc['index']} ({desc['codec']})"
        problem = _try_copy(fmt, desc, extradata)
        if problem is None:
            routes[desc["index"]] = SideRoute(desc, extradata, None, label)
            continue
        if desc["type"] == "audio" and _has_decoder(desc["codec"]):
            target = _FALLBACK_AUDIO.get(fmt, "aac")
            warnings.append(f"{label} cannot be copied into .{fmt} ({problem}); re-encoding it to {target}")
            routes[desc["index"]] = SideRoute(desc, extradata, target, label)
        else:
            warnings.append(f"{label} cannot be copied into .{fmt} ({problem}); dropped")
    return routes


def _try_copy(fmt: str, desc: dict[str, Any], extradata: bytes) -> str | None:
    """None if a stream like this one can be written into `fmt` (header + trailer on a scratch file)."""
    scratch = av.open(io.BytesIO(), "w", format=fmt)
    try:
        _copy_stream(scratch, desc, extradata)
        scratch.start_encoding()
        scratch.close()
        return None
    except (av.FFmpegError, ValueError) as e:
        return ffmpeg_error_line(e)


def _copy_stream(out: av.container.OutputContainer, desc: dict[str, Any], extradata: bytes) -> av.stream.Stream:
    """An output stream that accepts the source's packets as they are, rebuilt from desc + extradata.

    PyAV can only copy codec parameters from another stream (add_stream_from_template), so the template is an
    unopened stream of the same codec in a scratch container; its encoder is never opened, and the source's
    parameters (rate, layout, extradata, time base) overwrite its defaults before the header is written."""
    scratch = av.open(io.BytesIO(), "w", format=out.format.name)
    if desc["type"] == "audio":
        template = scratch.add_stream(desc["codec"], rate=desc.get("sample_rate") or 48000)
    else:
        template = scratch.add_stream(desc["codec"])
    stream = out.add_stream_from_template(template)
    cc = stream.codec_context
    if desc["type"] == "audio":
        cc.sample_rate = desc.get("sample_rate") or 48000
        cc.layout = _layout(desc)
        if desc.get("sample_format"):
            cc.format = desc["sample_format"]
    if desc.get("bit_rate"):
        cc.bit_rate = desc["bit_rate"]
    cc.extradata = extradata or None
    stream.time_base = Fraction(*desc["time_base"])
    for key in ("language", "title"):
        if desc.get(key) and desc[key] != "und":
            stream.metadata[key] = desc[key]
    disposition = av.stream.Disposition(0)
    if desc.get("default"):
        disposition |= av.stream.Disposition.default
    if desc.get("forced"):
        disposition |= av.stream.Disposition.forced
    stream.disposition = disposition
    return stream


def _layout(desc: dict[str, Any]) -> str:
    """The source's channel layout, or the default one for its channel count (muxers reject 'unknown' ones)."""
    if desc.get("layout"):
        return desc["layout"]
    return {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 8: "7.1"}.get(
        desc.get("channels") or 2, "stereo")


def _has_decoder(codec: str) -> bool:
    try:
        av.Codec(codec, "r")
        return True
    except (av.codec.codec.UnknownCodecError, ValueError):
        return False


def rescale(value: int, src: Fraction, dst: Fraction) -> int:
    return value if src == dst else int(round(value * src / dst))
