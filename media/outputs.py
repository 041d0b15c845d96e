"""Open a run's output: the one place an output is told to be a file, an image or image sequence, a live output
(--segment files, a push URL) or a resumable job's chunks (the output side of inputs.py).

    with open_output("out.mp4", info, side_buffers, options, overwrite=False) as sink: ...   # sink.VideoSink

The live sinks are imported here only for a live output, so a file job never loads them (tests/test_layers.py).
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from .chunk_sink import ChunkSink, open_chunk_sink
from .encode_options import EncodeOptions
from .sink import open_sink

logger = logging.getLogger(__name__)


def open_output(output: str, info: dict[str, Any], side_buffers: list[bytes], options: EncodeOptions, *,
                overwrite: bool = False, start_number: int | None = None, segment_s: float | None = None,
                on_segment: Callable[[Any], None] | None = None, resume: str | None = None,
                resume_done: int = 0) -> Any:
    """A plain file / image / image sequence (sink.open_sink); with `resume` (--resume: the job's chunk folder)
    closed-GOP chunks joined at the end (chunk_sink.py); a URL: a push (push_sink.py); with segment_s: a new file
    every segment_s seconds, each closed one handed to `on_segment` from the sink's closing thread."""
    if resume:
        return open_chunk_sink(output, info, side_buffers, options, resume, resume_done, overwrite=overwrite)
    if "://" in output:
        from .push_sink import open_push_sink

        return open_push_sink(output, info, side_buffers, options)
    if segment_s:
        from .segment_sink import open_segment_sink

        return open_segment_sink(output, segment_s, info, side_buffers, options, overwrite=overwrite,
                                 on_segment=on_segment)
    return open_sink(output, info, side_buffers, options, overwrite=overwrite, start_number=start_number)


def finish_output(sink: Any, interrupted: bool) -> bool:
    """After the last frame, before the output is closed: --resume's chunks are joined into the output (the last
    chunk, the join, the chunk folder removed: ChunkSink.finish) only when the input was read to its end; False
    when it was `interrupted` (the job is not done). Any other output is finished by closing it."""
    if isinstance(sink, ChunkSink):
        if interrupted:
            return False
        sink.finish()
    return True
