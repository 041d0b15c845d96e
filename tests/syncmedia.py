"""A/V sync fixtures and their measurement, with PyAV alone.

    make_sync_clip(tmp_path / "s.mp4", audio="aac")                  # flash + beep at 1.00 s
    make_sync_clip(tmp_path / "late.mkv", video_start=0.5)           # video starts 0.5 s after the audio
    flash, beep = sync_times(path)                                   # seconds on the output's timeline
    offset_ms(path)                                                  # beep - flash; the input's offset is kept

The clip is black with one white frame at `at` (+ video_start) and a 1 kHz beep from `at` (audio is silent
before), so beep - flash is 0 ms on a clip made in sync, -500 ms when the video starts 0.5 s late.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BEEP_HZ = 1000


def make_sync_clip(path: str | Path, *, audio: str = "aac", rate: int = 48000, fps: int = 25,
                   seconds: float = 1.6, at: float = 1.0, video_start: float = 0.0,
                   start_offset: float = 0.0, width: int = 32, height: int = 24) -> Path:
    """Write a sync clip. video_start: the video's first frame comes this long after the audio's first
    sample. start_offset: both streams start this late (like a TS with a +10 s start time)."""
    path = Path(path)
    tb = Fraction(1, 1000)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.codec_context.time_base = vs.time_base = tb
        vs.options = {"preset": "ultrafast", "qp": "0", "bf": "0"}
        as_ = out.add_stream(audio, rate=rate)
        as_.layout = "mono"
        as_.codec_context.time_base = Fraction(1, rate)
        if audio in ("aac", "libmp3lame", "mp2", "ac3"):
            as_.bit_rate = 64000
        flash = int(round(at * fps))
        frames = int(round(seconds * fps))
        black = np.zeros((height, width, 3), np.uint8)
        packets: list[av.Packet] = []
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(black + (255 if i == flash else 0), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = int(round((start_offset + video_start + i / fps) * 1000)), tb
            packets += vs.encode(frame)
        packets += vs.encode()
        packets += _beep(as_, rate, seconds + video_start, at, start_offset)
        packets.sort(key=lambda p: float(p.dts * p.time_base) if p.dts is not None else 0.0)
        for p in packets:
            out.mux(p)
    return path


def _beep(stream, rate: int, seconds: float, at: float, start_offset: float) -> list[av.Packet]:
    cc = stream.codec_context
    cc.open(strict=False)
    size = cc.frame_size or 1024
    resampler = av.AudioResampler(format=cc.format.name, layout="mono", rate=rate, frame_size=size)
    total, first, origin = int(rate * seconds), int(rate * at), int(round(start_offset * rate))
    packets: list[av.Packet] = []
    for start in range(0, total, size):
        n = np.arange(start, min(start + size, total))
        tone = np.where(n >= first, 0.5 * np.sin(2 * np.pi * BEEP_HZ * n / rate), 0.0).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(tone[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, origin + start, Fraction(1, rate)
        for f in resampler.resample(frame):
            packets += stream.encode(f)
    for f in resampler.resample(None):
        packets += stream.encode(f)
    return packets + stream.encode(None)


def sync_times(path: str | Path) -> tuple[float, float]:
    """(first white frame, first loud audio sample) in seconds, as a player shows them: the container's
    edit lists and the codec's priming (skip samples) applied by the demuxer and decoder."""
    flash = beep = None
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            if frame.to_ndarray(format="gray").mean() > 100:
                flash = float(frame.pts * frame.time_base)
                break
    with av.open(str(path)) as c:
        for frame in c.decode(audio=0):
            raw = frame.to_ndarray()
            samples = np.abs(raw.astype(np.float64))
            if raw.dtype.kind == "i":  # integer PCM
                samples /= float(np.iinfo(raw.dtype).max)
            loud = np.flatnonzero(samples.max(axis=0) > 0.2)
            if loud.size:
                beep = float(frame.pts * frame.time_base) + loud[0] / frame.sample_rate
                break
    if flash is None or beep is None:
        raise AssertionError(f"{path}: no flash ({flash}) or no beep ({beep})")
    return flash, beep


def offset_ms(path: str | Path) -> float:
    """beep - flash in milliseconds (0 for a clip in sync)."""
    flash, beep = sync_times(path)
    return (beep - flash) * 1000
