"""Decode node: source (PyAV) → FRAME messages to workers over ROUTER with credits; side packets,
stream info and end of stream to the encoder.

Flow control: a worker's READY message grants credits (how many frames it can take) and acknowledges the
frames it has finished (`done`). The decoder only decodes when some worker has credit, never has more
than `max_inflight` frames unacknowledged, and never runs more than `window` sequence numbers ahead of
the oldest unfinished frame, so the encoder's reorder buffer is bounded too. It keeps each frame until
it is acknowledged, so the frames of a worker that leaves (BYE), goes silent (heartbeats) or disconnects are
sent again to another worker. Workers, local and remote (--listen), and their sockets: nodes/dispatch.py.
A live input is read by nodes/live_feed.py; --max-fps, --duration and --resume's skip on a file: media/limits.py.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import zmq

from ..media import colors
from ..media.frames import IMAGE_EXTENSIONS, Frame, SourceError
from ..media.inputs import open_input
from ..media.limits import FileLimits, file_items
from ..media.out_size import FramePlan, SizeError
from ..media.packets import Packet
from ..media.size_limits import FrameTooLarge, check_for_output
from ..transport import protocol
from ..transport.status import Decoded, Every, Inflight, Info
from . import exitcodes
from .dispatch import Dispatcher, WorkerLinks
from .live_feed import LiveFeed, live_fields
from .node import NodeError, Reporter, StopFlag, node_main, socket
from .settings import DecoderSettings, NodeSettings
from .worker_wait import NoWorkerClock

logger = logging.getLogger(__name__)


def decode(ctx: zmq.Context, reporter: Reporter, stop: StopFlag, settings: DecoderSettings) -> int:
    with ExitStack() as sockets:
        to_encoder = socket(ctx, zmq.PUSH, hwm=settings.side_hwm)
        sockets.callback(to_encoder.close)
        to_encoder.connect(settings.links.results)
        links = WorkerLinks(ctx, Dispatcher(settings.credits), settings.links)
        sockets.callback(links.close)
        return _decode(reporter, stop, settings, to_encoder, links)


def _decode(reporter: Reporter, stop: StopFlag, settings: DecoderSettings, to_encoder: zmq.Socket,
            links: WorkerLinks) -> int:
    disp = links.disp
    waiting = NoWorkerClock(settings)  # --worker-wait (nodes/worker_wait.py)
    plan: FramePlan = settings.plan  # the output size and --compare, stamped on every frame
    seq = 0
    eos_sent = False
    forced = settings.force_live  # --live: treat any input as a camera (e.g. a FIFO or a scheme we do not know)
    with ExitStack() as reading:
        try:
            src = reading.enter_context(open_input(settings.input, threads=settings.threads, live=settings.live,
                                                   stop=lambda: stop.set, force_live=bool(forced),
                                                   planes=_planes_out(settings.output)))
        except SourceError as exc:
            raise NodeError(str(exc), exitcodes.INPUT) from None
        try:  # before any frame is sent: an 8192x8192 input must not fill the memory first
            out = plan.out_size(src.info["width"], src.info["height"])
            check_for_output(src.info["width"], src.info["height"], settings.output, settings.codec, out=out)
        except FrameTooLarge as exc:
            raise NodeError(str(exc), exitcodes.INPUT) from None
        except SizeError as exc:
            raise NodeError(str(exc), exitcodes.USAGE) from None
        reporter.status(Info(info=src.info))
        to_encoder.send_multipart(protocol.pack(protocol.STREAM_INFO, {"info": src.info}, src.side_buffers))
        feed = LiveFeed.of(src, settings.max_latency_s, forced, reporter)  # None for a file (nodes/live_feed.py)
        live = feed is not None and feed.camera  # read as a camera, not frame by frame like a file
        lv = settings.live  # --max-fps / --duration: a live source applies its own
        limits = None if feed else FileLimits.for_input(lv.max_fps, lv.duration_s, src.info)
        items = None if live else file_items(src.items(), limits, settings.skip_frames)  # media/limits.py
        every = Every()  # the periodic in-flight report
        exhausted = False

        def send(frame: Frame) -> None:
            nonlocal seq
            links.send_frame(seq, _frame_message(seq, frame, plan))
            seq += 1

        def send_packet(pkt: Packet) -> None:
            to_encoder.send_multipart(_packet_message(pkt), copy=False)

        def room() -> bool:  # a new frame may go out
            return not exhausted and disp.can_send_new(seq) and not stop.set

        # Runs until the launcher stops us, also after end of stream: frames a worker loses late are re-sent,
        # and ZeroMQ drops messages still queued towards a peer when the sending process exits.
        while not stop.set:
            sendable = (not exhausted and disp.can_send_new(seq)) or (bool(disp.retry) and disp.has_credit())
            links.pump(0 if sendable else 100)
            while disp.has_credit():
                old = disp.next_retry()
                if old is None:
                    break
                links.send_frame(old, disp.inflight[old][1])
            if live:
                exhausted = feed.pump(room, send, send_packet) or exhausted
            while items is not None and room():
                try:
                    item = next(items)
                except StopIteration:  # the end of the input (or of --duration)
                    exhausted = True
                    break
                except SourceError as exc:
                    raise NodeError(str(exc), exitcodes.INPUT) from None
                if item is None:  # --resume reading past the frames of the chunks done: heartbeats go on
                    break
                if isinstance(item, Packet):
                    send_packet(item)
                    continue
                send(item)
            if feed is not None:  # live inputs, read as cameras or like files
                feed.report(seq)
            if exhausted and not eos_sent and not disp.busy():
                eos_sent = True
                _end_of_stream(to_encoder, reporter, disp, seq, False, _warnings(src, limits), _stats(src, limits))
            waiting.check(disp, busy=not exhausted or disp.busy(), frames=seq)
            if every.due():
                reporter.status(Inflight(frames=len(disp.inflight), workers=len(disp.credits)))
        warnings, stats = _warnings(src, limits), _stats(src, limits)
    if feed is not None:
        feed.report(seq, final=True)
    if not eos_sent:  # stopped before the end of the input
        _end_of_stream(to_encoder, reporter, disp, seq, True, warnings, stats)
    return exitcodes.OK


def _end_of_stream(
    to_encoder: zmq.Socket, reporter: Reporter, disp: Dispatcher, frames: int, interrupted: bool, warnings: list[str],
    input_stats: dict | None = None,
) -> None:
    logger.debug("sending end of stream after %d frames", frames)
    to_encoder.send_multipart(
        protocol.pack(protocol.EOS, {"frames": frames, "interrupted": interrupted, "warnings": warnings})
    )
    reporter.status(Decoded(frames=frames, warnings=warnings, bad_messages=disp.bad_messages, input=input_stats,
                            bad_workers=disp.bad_workers, overdue_workers=disp.overdue_workers))


def _warnings(src: Any, limits: FileLimits | None) -> list[str]:
    note = limits.note() if limits is not None else None
    return list(getattr(src, "warnings", [])) + ([note] if note else [])


def _stats(src: Any, limits: FileLimits | None) -> dict | None:
    """What the input delivered (file inputs: accounting.py) and what --max-fps / --duration left out."""
    account = getattr(src, "account", None)
    if account is None:
        return None
    stats = account.stats()
    if limits is not None:
        limits.add_stats(stats)
    return stats


def _planes_out(output: str) -> bool:
    """Whether frames travel as YUV planes: for video outputs (encoded from them as they are); an image output is
    written from RGB, so its frames travel as RGB, converted once, here."""
    return Path(output).suffix.lower() not in IMAGE_EXTENSIONS


def _frame_message(seq: int, frame: Frame, plan: FramePlan) -> list[Any]:
    tb = frame.time_base
    header = protocol.FrameHeader(seq=seq, pts=frame.pts, time_base=tb, width=0, height=0)
    extra = live_fields(frame)  # a live frame's capture time and new segment (nodes/live_feed.py)
    if frame.duration is not None:
        extra["dur"] = frame.duration
    yuv = frame.planes  # YUV 4:2:0 travels as its planes (protocol v2), anything else as RGB
    width, height = (yuv.width, yuv.height) if yuv is not None else (frame.rgb.shape[1], frame.rgb.shape[0])
    try:  # the output size (--outscale / --size) and --compare, for this frame's size
        extra.update(plan.fields(width, height))
    except SizeError as exc:  # a live input whose new size cannot be made
        raise NodeError(str(exc), exitcodes.USAGE) from None
    if yuv is None:
        return protocol.pack_frame(header, frame.rgb, extra or None)
    header.pix_fmt, header.matrix, header.color_range = yuv.fmt, yuv.matrix, yuv.color_range
    out_w, out_h = extra.get("out") or (4 * width, 4 * height)
    answer = {"mx": colors.output_matrix(out_w, out_h, yuv.matrix), "rng": 1}  # what the encoder writes
    if (answer["mx"], answer["rng"]) != (yuv.matrix, yuv.color_range):
        header.color_out = answer
    return protocol.pack_frame(header, yuv.data, extra or None)


def _packet_message(pkt: Packet) -> list[Any]:
    return protocol.pack(protocol.PACKET, pkt.fields(), [pkt.data])


def main(node: NodeSettings, settings: DecoderSettings) -> None:
    """Process entry (spawned by the launcher)."""
    node_main("decoder", lambda ctx, rep, stop: decode(ctx, rep, stop, settings), node)
