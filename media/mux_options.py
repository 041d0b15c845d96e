"""The muxer options that keep a video file playable when its writer is killed (media/sink.py, and the final
remux of a resumable job, chunk_join.py).

What was muxed survives a crash, even SIGKILL: MP4/MOV are written as a fragmented file that FFmpeg turns into
a normal MP4 when closed (movflags=hybrid_fragmented; plain fragmented MP4 on older FFmpeg, which stays
fragmented), Matroska with one-second clusters; packets are flushed to disk as they are written. Frames still
inside the encoder (x264's look-ahead) are lost on a crash; a sink's close(), which also runs on exceptions and
Ctrl-C, drains them and writes the trailer.
"""

from __future__ import annotations

import io
import logging

import av

logger = logging.getLogger(__name__)

FRAGMENT_US = 1_000_000  # at most about this much muxed video is lost when the process is killed
_HYBRID: list[bool] = []


def muxer_options(fmt: str) -> dict[str, str]:
    opts = {"flush_packets": "1"}  # each packet reaches the file, so a killed run keeps what was muxed
    if fmt in ("mp4", "mov"):
        # B-frames: decode times run ahead of presentation (composition offsets >= 0) and the edit list
        # (use_editlist) puts the first frame at its pts. Not negative_cts_offsets: FFmpeg reads a fragment's
        # samples at dts + cts + the largest negative offset seen so far, so a file killed while written
        # (moov part + fragments) showed every frame after the first fragment one frame late.
        # delay_moov: the first moov is written once the first fragment is known, edit list included (an
        # edit written before the first packet has no duration and hides the first fragment when killed).
        # use_editlist also keeps A/V sync in the final MP4, as ffmpeg writes it: a stream that starts late
        # (timeline.py) begins with an empty edit, and audio priming (negative first pts) is skipped by
        # media_time. Without it the fragmenting muxer starts every track at 0 (500 ms off for a video
        # that starts 0.5 s late; AAC 21 ms late).
        flags = "+hybrid_fragmented" if _has_hybrid_mp4() else "+frag_keyframe+empty_moov+default_base_moof"
        opts["movflags"] = flags + "+delay_moov"
        opts["frag_duration"] = str(FRAGMENT_US)
        opts["use_editlist"] = "1"
    else:  # matroska, webm
        opts["cluster_time_limit"] = str(FRAGMENT_US // 1000)
    return opts


def _has_hybrid_mp4() -> bool:
    """FFmpeg >= 8 writes fragments while running and a normal MP4 at the end (movflags=hybrid_fragmented).
    Probed once on a scratch file, with one real packet (see sink.VideoSink._mux about empty hybrid files)."""
    if not _HYBRID:
        out = av.open(io.BytesIO(), "w", format="mp4", container_options={"movflags": "+hybrid_fragmented"})
        stream = out.add_stream("aac", rate=48000)
        try:
            out.start_encoding()
        except (av.FFmpegError, ValueError):
            _HYBRID.append(False)
        else:
            silence = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
            silence.sample_rate, silence.pts = 48000, 0
            for plane in silence.planes:
                plane.update(bytes(plane.buffer_size))
            out.mux(stream.encode(silence) + stream.encode(None))
            _HYBRID.append(True)
        finally:
            out.close()
    return _HYBRID[0]
