"""The end of a resumable job: the journaled video chunks and the spooled side packets remuxed into the output
in one pass (no re-encoding of the video), through the output's partial file and an atomic rename.

    join_chunks("out.mp4", info, side_buffers, journal, spool_path, overwrite=False, warnings=warnings)

Timestamps: each chunk was written as a video-only file, so its pts sit on a video-only output timeline
(origin: the video's start) and its container may have moved them (an MP4 edit list is rounded to the
movie's 1/1000 s). The journal has every chunk's first pts in the stream's own time base: each packet is
put back exactly, then moved onto the timeline of the whole output (timeline.py: the earliest start of
the written streams becomes 0), as an uninterrupted VideoSink would have written it. Side packets go
through the same copy / re-encode routes as in VideoSink (side_streams.py), interleaved by time.
"""

from __future__ import annotations

import heapq
import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import av

from .encode_options import SinkError
from .frames import ffmpeg_error_line
from .mux_options import muxer_options
from .output_file import OutputFile, probe, write_error
from .output_path import VIDEO_CONTAINERS
from .packets import Packet
from .resume_journal import Journal
from .side_spool import SideSpool
from .side_streams import MAX_SIDE_ERRORS, SideRoute, plan_side_streams, rescale
from .timeline import Timeline

logger = logging.getLogger(__name__)


def join_chunks(output: str, info: dict[str, Any], side_buffers: list[bytes], journal: Journal, spool: str, *,
                overwrite: bool, warnings: list[str]) -> None:
    """Write `output` from the chunks and the spool (see the module docstring); SinkError on failure."""
    fmt = VIDEO_CONTAINERS[Path(output).suffix.lower()]
    routes = plan_side_streams(fmt, info.get("side_streams", []), side_buffers, warnings)
    timeline = Timeline.from_info(info, keep=routes) if "is_live" in info else Timeline()
    video_only = Timeline.from_info({**info, "side_streams": []}, keep=[]) if "is_live" in info else Timeline()
    tb = Fraction(*journal.chunks[0].time_base)
    # chunk pts are on the video-only timeline: move them onto the whole output's
    delta = round(video_only.origin / tb) - round(timeline.origin / tb)
    _clear_stale_partial(output)
    out_file = OutputFile(output, overwrite)
    try:
        with av.open(journal.path(journal.chunks[0].file)) as first:
            template = first.streams.video[0]
            out = av.open(out_file.partial, "w", format=fmt, container_options=muxer_options(fmt))
            try:
                video = out.add_stream_from_template(template)
                video.time_base = tb
                for route in routes.values():
                    route.open(out)
                _mux_all(out, video, tb, delta, journal, spool, routes, timeline, warnings, output)
            finally:
                out.close()
    except OSError as exc:
        out_file.keep()
        raise SinkError(write_error(exc, output, partial=out_file.partial)
                        or f"cannot write {output}: {ffmpeg_error_line(exc)}") from None
    except BaseException:
        out_file.keep()
        raise
    out_file.commit()


def _mux_all(out: av.container.OutputContainer, video: av.VideoStream, tb: Fraction, delta: int, journal: Journal,
             spool: str, routes: dict[int, SideRoute], timeline: Timeline, warnings: list[str], output: str) -> None:
    def sides() -> Iterator[tuple[float, int, Packet]]:
        last = float("-inf")
        for n, packet in enumerate(SideSpool.read(spool)):
            if packet.stream not in routes:
                continue
            packet = timeline.packet(packet)
            ts = packet.dts if packet.dts is not None else packet.pts
            last = float(ts * packet.time_base) if ts is not None else last
            yield last, 1 + n, packet

    dropped = 0
    for _, _, item in heapq.merge(_video_packets(journal, video, tb, delta), sides(), key=lambda e: (e[0], e[1])):
        if isinstance(item, av.Packet):
            out.mux(item)
            continue
        route = routes[item.stream]
        if route.dead:
            continue
        try:
            for p in route.packets(item):
                out.mux(p)
        except av.FFmpegError as exc:
            dropped += 1
            route.errors += 1
            if route.errors == 1:
                warnings.append(f"{route.label}: dropped a packet that could not be muxed ({ffmpeg_error_line(exc)})")
            if route.errors >= MAX_SIDE_ERRORS:
                route.dead = True
                warnings.append(f"{route.label}: {route.errors} packets failed; the rest is dropped")
    for route in routes.values():
        if route.reencoder is not None and not route.dead:
            for p in route.reencoder.flush():
                out.mux(p)
    logger.debug("joined %d chunk(s) into %s (%d side packet(s) dropped)", len(journal.chunks), output, dropped)


def _video_packets(journal: Journal, video: av.VideoStream, tb: Fraction,
                   delta: int) -> Iterator[tuple[float, int, av.Packet]]:
    """Every chunk's packets in decode order, with the exact pts/dts of the whole output (see the docstring)."""
    last_dts: int | None = None
    for chunk in journal.chunks:
        with av.open(journal.path(chunk.file)) as c:
            stream = c.streams.video[0]
            src_tb = Fraction(stream.time_base)
            shift: int | None = None
            for p in c.demux(stream):
                if p.size == 0 or p.pts is None:
                    continue
                pts = rescale(p.pts, src_tb, tb)
                dts = rescale(p.dts, src_tb, tb) if p.dts is not None else pts
                if shift is None:  # the first packet is the chunk's IDR frame, its first frame
                    shift = chunk.first_pts - pts + delta
                pts, dts = pts + shift, dts + shift
                if last_dts is not None and dts <= last_dts:
                    dts = min(last_dts + 1, pts)  # x264's start-up delay at a chunk start (VFR): keep dts rising
                last_dts = dts
                p.stream = video
                p.time_base = tb
                p.pts, p.dts = pts, dts
                yield float(dts * tb), 0, p


def _clear_stale_partial(output: str) -> None:
    """A join that was killed left the output's partial file: nobody holds it (probe), so it is ours."""
    from .output_file import partial_path

    partial = partial_path(output)
    if os.path.lexists(partial):
        probe(output, overwrite=True)  # OutputError when another run is writing it right now
        os.unlink(partial)
