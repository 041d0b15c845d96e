"""The writer of a resumable job (`--resume`): the video as closed-GOP chunks of `chunk_frames` frames, each
a self-contained MP4 from a fresh encoder (so it starts with an IDR frame and depends on nothing before
it), journaled once durable; the side packets spooled; at the end one remux of chunks + side streams into
the output (chunk_join.py), and the chunk folder removed.

    journal = Journal.load(folder) or Journal.create(folder, job, threads=2, chunk_frames=250)
    with ChunkSink("out.mp4", info, side_buffers, options, journal) as sink:   # VideoSink's calls
        sink.write_packet(packet); sink.write_frame(rgb, pts, time_base, duration)
        sink.finish()              # all frames written: join into out.mp4, remove the chunks
    # without finish() (Ctrl-C, SIGTERM, an error) the chunk being encoded is dropped; the journal stays

Identity: a chunk's bits depend only on its frames, the encoder settings and the encoder's thread count
(pinned in the journal), and every chunk has the same length, wherever a run was interrupted; a resumed
run therefore writes the same chunks as an uninterrupted one, and the same join. The first frame of a
resumed run is frame `journal.done_frames` of the input (the decoder skips the frames before it).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

from .encode_options import EncodeOptions, SinkError
from .inner_sink import InnerSink
from .packets import Packet
from .resume_journal import SPOOL, Chunk, FolderLock, Journal, ResumeError, chunk_name, file_sha256
from .side_spool import SideSpool

logger = logging.getLogger(__name__)


def open_chunk_sink(path: str, info: dict[str, Any], side_buffers: list[bytes], options: EncodeOptions, folder: str,
                    done: int, *, overwrite: bool = False) -> ChunkSink:
    """The encoder's side of a resumable job: lock the chunk folder for this run, check that its journal is the
    one the launcher read (`done` frames), remove what a killed run left unlisted."""
    try:
        lock = FolderLock(folder)
    except ResumeError as exc:
        raise SinkError(str(exc)) from None
    try:
        journal = Journal.load(folder)
        if journal is None or journal.done_frames != done:
            raise SinkError(f"{folder} changed after this run started; run the command again")
        journal.sweep()
        return ChunkSink(path, info, side_buffers, options, journal, overwrite=overwrite, lock=lock)
    except ResumeError as exc:
        lock.release()
        raise SinkError(str(exc)) from None
    except BaseException:
        lock.release()
        raise


class ChunkSink:
    """A video output written as chunks (see the module docstring); the same calls as VideoSink."""

    def __init__(self, path: str, info: dict[str, Any], side_buffers: list[bytes], options: EncodeOptions,
                 journal: Journal, *, overwrite: bool = False, lock: FolderLock | None = None) -> None:
        self._lock = lock  # released by close()
        self.path, self.info, self.side_buffers, self.journal = path, info, side_buffers, journal
        self.overwrite = overwrite
        # x264 and the like give the same bits for the same frames only with the same thread count (and x264 only
        # with its look-ahead in step: EncodeOptions.deterministic)
        self.options = dataclasses.replace(options, threads=journal.threads, deterministic=True)
        self.warnings: list[str] = []
        self.frames_written = 0  # in this run
        self.resumed_at = journal.done_frames
        self._video_info = {**info, "side_streams": []}  # chunks are video only; chunk_join adds the rest
        self._chunk: InnerSink | None = None
        self._chunk_frames = 0
        self._first_pts: int | None = None
        last = journal.chunks[-1] if journal.chunks else None
        self._timing = (last.last_pts, last.last_step) if last else None
        self._spool = SideSpool(journal.path(SPOOL))
        self._finished = self._closed = False

    # ------------------------------------------------------------------------------------ VideoSink's calls
    def write_frame(self, *args: Any, **kwargs: Any) -> None:
        if self._chunk is None:
            self._open_chunk()
        self._chunk.write_frame(*args, **kwargs)
        if self._chunk_frames == 0:
            self._first_pts = self._chunk.timing[0]
        self._chunk_frames += 1
        self.frames_written += 1
        if self._chunk_frames == self.journal.chunk_frames:
            self._close_chunk()

    def write_packet(self, packet: Packet) -> None:
        self._spool.write(packet)

    @property
    def written_to(self) -> str:
        return self.path if self._finished else self.journal.folder

    @property
    def done_frames(self) -> int:
        """Frames in finished chunks (those a resume keeps)."""
        return self.journal.done_frames

    def finish(self) -> None:
        """Every frame is written: close the last chunk, join everything into the output, remove the folder."""
        from .chunk_join import join_chunks

        if self._chunk is not None:
            self._close_chunk()
        self._spool.close()
        if not self.journal.chunks:
            raise SinkError(f"no video frames arrived; {self.path} was not written")
        join_chunks(self.path, self.info, self.side_buffers, self.journal, self._spool.path,
                    overwrite=self.overwrite, warnings=self.warnings)
        self._finished = True
        self.journal.remove()

    def close(self) -> None:
        """Without finish(): drop the chunk being encoded (it is redone by the resume); keep the journal."""
        if self._closed:
            return
        self._closed = True
        try:
            self._spool.close()
            if self._chunk is not None and not self._finished:
                chunk, self._chunk = self._chunk, None
                partial = chunk.written_to
                try:
                    chunk.abandon()
                finally:
                    _unlink(partial)
        finally:
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> ChunkSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------ chunks
    def _open_chunk(self) -> None:
        name = chunk_name(len(self.journal.chunks))
        self._chunk = InnerSink(self.journal.path(name), self._video_info, [], self.options, overwrite=True)
        if self._timing is not None:
            self._chunk.continue_timing(*self._timing)
        self._chunk_frames = 0

    def _close_chunk(self) -> None:
        chunk, self._chunk = self._chunk, None
        chunk.close()  # drains the encoder, writes the trailer, fsyncs and renames it into place
        for w in chunk.warnings:
            if w not in self.warnings:
                self.warnings.append(w)
        last_pts, last_step, tb = chunk.timing
        self._timing = (last_pts, last_step)
        path = chunk.written_to
        self.journal.record(Chunk(
            file=os.path.basename(path), first=self.journal.done_frames, frames=self._chunk_frames,
            bytes=os.path.getsize(path), sha256=file_sha256(path), first_pts=self._first_pts, last_pts=last_pts,
            last_step=last_step, time_base=[tb.numerator, tb.denominator],
        ))
        logger.debug("chunk %s done: frames %d-%d", path, self.journal.chunks[-1].first,
                     self.journal.done_frames - 1)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
