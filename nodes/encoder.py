"""Encode node: FRAME results from workers and STREAM_INFO / PACKET / EOS from the decoder, all on one
PULL socket → restore order by seq → sink (PyAV encode + side-stream remux).

End of stream carries the number of frames the decoder sent; the encoder finishes when it has written
exactly that many. A frame still missing `eos_grace_s` after EOS (or after the last result that came
after it) fails the run, naming the frame. On
SIGTERM (Ctrl-C in the launcher) it writes the frames it can in order, closes the file properly and
reports how many frames the output holds.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import ExitStack
from typing import Any, Generic, Iterator, TypeVar

import zmq

from ..media.frames import Planes
from ..media.outputs import finish_output, open_output
from ..media.packets import Packet
from ..media.sink import ImageSink, SinkError, VideoSink
from ..transport import protocol
from ..transport.status import Closed, Every, Progress
from . import exitcodes
from .node import NodeError, Reporter, StopFlag, node_main, socket
from .output_events import OutputEvents
from .settings import EncoderSettings, NodeSettings

logger = logging.getLogger(__name__)
T = TypeVar("T")


def encode(ctx: zmq.Context, reporter: Reporter, stop: StopFlag, settings: EncoderSettings) -> int:
    inbox = socket(ctx, zmq.PULL, hwm=settings.result_hwm, linger=0)
    inbox.bind(settings.results)
    reorder: ReorderBuffer[tuple[protocol.FrameHeader, Any]] = ReorderBuffer()  # results by seq, written in order
    expected: int | None = None
    eos_at = 0.0
    interrupted = False
    bad = 0
    sink = None
    output = ExitStack()  # closes the output once it is open
    progress = Every(0.25)  # how often the launcher hears how far the output is
    grace = settings.eos_grace_s
    complete = False
    events = OutputEvents(reporter)  # --segment files, a push's state, live latency (nodes/output_events.py)
    try:
        while True:
            if stop.set:
                interrupted = True
                break
            if inbox.poll(100):
                parts = inbox.recv_multipart(copy=False)
                try:
                    msg = protocol.unpack(parts)
                except protocol.ProtocolError as exc:
                    bad += 1
                    logger.warning("dropped bad message (%d so far): %s", bad, exc)
                    continue
                if msg.kind == protocol.FRAME:
                    fh, img = protocol.unpack_frame(msg)
                    if expected is not None:
                        eos_at = time.monotonic()  # the grace counts from the last result, not from EOS
                    reorder.add(fh.seq, (fh, img))  # a re-sent frame whose first copy came after all: counted
                elif msg.kind == protocol.STREAM_INFO and sink is None:
                    try:  # a file, images, segments, a push URL or --resume's chunks (media/outputs.py)
                        opened = open_output(settings.output, msg.header["info"], [bytes(b) for b in msg.buffers],
                                             settings.encode, overwrite=settings.overwrite,
                                             start_number=settings.start_number, segment_s=settings.segment_s,
                                             on_segment=events.segments.append, resume=settings.resume,
                                             resume_done=settings.resume_done)
                        sink = output.enter_context(opened)
                    except SinkError as exc:
                        raise NodeError(str(exc), exitcodes.OUTPUT) from None
                elif msg.kind == protocol.PACKET and sink is not None:  # the decoder sends its STREAM_INFO first
                    sink.write_packet(Packet.from_fields(msg.header, msg.buffers[0]))
                elif msg.kind == protocol.EOS:
                    logger.debug("end of stream: %s frames (written %d)", msg.header["frames"], reorder.next_seq)
                    expected = msg.header["frames"]
                    eos_at = time.monotonic()
                    interrupted = bool(msg.header.get("interrupted"))
                else:
                    bad += 1
                    logger.warning("unexpected %s message", msg.kind)
            if sink is not None:
                for fh, img in reorder.ready():
                    try:
                        _write(sink, fh, img)
                    except SinkError as exc:
                        raise NodeError(str(exc), exitcodes.OUTPUT) from None
                    events.written(fh.extra)
                if progress.due():
                    latency = events.latencies()  # live frames' capture → written
                    reporter.status(Progress(frames=reorder.next_seq, reorder=len(reorder), latency_s=latency))
                events.report(sink)
            if expected is not None:
                if reorder.next_seq >= expected:
                    break
                if time.monotonic() - eos_at > grace:
                    missing = reorder.missing(expected)
                    raise NodeError(
                        # the decoder sends EOS only once workers reported every frame done: the result is
                        # late or lost between a worker and here (eos_grace_s), not unprocessed
                        f"frame {missing[0]} of {expected} was finished by the workers but its result did not "
                        f"arrive within {grace:g} s of the last one (pipeline.eos_grace_s)"
                        + (f" ({len(missing)} frames missing)" if len(missing) > 1 else "")
                        + f"; the output holds the first {reorder.next_seq} frames",
                        exitcodes.WORKER,
                    )
        if interrupted and (expected is None or reorder.next_seq < expected):
            return exitcodes.INTERRUPTED
        if not finish_output(sink, interrupted):  # --resume: the job is done only when the input was read to its end
            return exitcodes.INTERRUPTED
        complete = True
        return exitcodes.OK
    except SinkError as exc:  # writing the output failed (disk full, ...): one line, exit 4
        raise NodeError(str(exc), exitcodes.OUTPUT) from None
    finally:
        failing = sys.exc_info()[0] is not None
        written = sink.frames_written if sink is not None else 0
        close_error = None
        try:
            output.close()  # __exit__(None, None, None) also after an error: the sink still finishes its file
        except Exception as exc:  # noqa: BLE001 - a failed close (disk full at the trailer) fails the run
            close_error = str(exc) if isinstance(exc, SinkError) else f"closing the output failed: {exc}"
            complete = False
            if failing:  # the first error is the one reported (a full disk fails the close again)
                logger.debug("closing the output after an error: %s", close_error)
        warnings = list(sink.warnings) if sink is not None else []
        events.report(sink, final=True)  # the last segment closed above, the push's last state
        reporter.status(Closed(
            frames=written, complete=complete, interrupted=interrupted, bad_messages=bad, duplicates=reorder.duplicates,
            warnings=warnings, output=sink.written_to if isinstance(sink, (VideoSink, ImageSink)) else None,
        ))
        inbox.close()
        if close_error is not None and not failing:
            raise NodeError(close_error, exitcodes.OUTPUT)


class ReorderBuffer(Generic[T]):
    """Results arrive in any order (several workers, re-sent frames) and leave in seq order from 0. A result for a
    seq already written or already held is a duplicate (a frame re-sent after its worker was dropped whose first
    copy arrived after all) and is counted, not kept. Pure: no sockets, no clock."""

    def __init__(self) -> None:
        self.held: dict[int, T] = {}
        self.next_seq = 0  # the next seq to hand out (= how many have been handed out)
        self.duplicates = 0

    def add(self, seq: int, item: T) -> bool:
        """Hold `item` for `seq`; False (and counted) for a duplicate."""
        if seq < self.next_seq or seq in self.held:
            self.duplicates += 1
            return False
        self.held[seq] = item
        return True

    def ready(self) -> Iterator[T]:
        """The items that are next in order, each taken out as it is handed over; `next_seq` moves past an item
        once the consumer asks for the one after it (an item whose handling raised is not counted as done)."""
        while self.next_seq in self.held:
            yield self.held.pop(self.next_seq)
            self.next_seq += 1

    def missing(self, expected: int) -> list[int]:
        """The seqs below `expected` neither handed out nor held."""
        return [s for s in range(self.next_seq, expected) if s not in self.held]

    def __len__(self) -> int:
        return len(self.held)


def _write(sink: Any, fh: protocol.FrameHeader, img: Any) -> None:
    """Every sink (file, image, segments, push) takes the same write_frame call, with YUV planes as they come or
    RGB: a video file (and --resume's chunks) encodes the planes as they are (media/sink.py); a sink that needs
    8-bit RGB converts them, and deep RGB, itself (image_sink.rgb8)."""
    extra = fh.extra
    picture = img
    if fh.pix_fmt in protocol.YUV_FORMATS:
        picture = Planes(fh.pix_fmt, list(img), fh.matrix, fh.color_range)
    sink.write_frame(picture, fh.pts, fh.time_base, extra.get("dur"), new_segment=bool(extra.get("seg")),
                     captured_at=extra.get("wall"))


def main(node: NodeSettings, settings: EncoderSettings) -> None:
    """Process entry (spawned by the launcher)."""
    node_main("encoder", lambda ctx, rep, stop: encode(ctx, rep, stop, settings), node)
