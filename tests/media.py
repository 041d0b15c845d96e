"""Tiny synthetic media for tests, made with PyAV alone (no ffmpeg CLI, no files from outside the test).

    clip = make_clip(tmp_path / "a.mp4", frames=10, audio="aac")             # CFR video + AAC
    clip = make_clip(tmp_path / "v.mkv", pts=[0, 1, 3, 7], time_base=Fraction(1, 25))  # VFR
    clip = make_clip(tmp_path / "c.mp4", width=64, height=720, yuv=(81, 90, 240), lossless=True)
    make_image(tmp_path / "a.png", rgb); make_sequence(tmp_path / "f_%04d.png", 5); truncate(path, 0.6)
    with serve_http(make_hls(tmp_path / "hls").parent) as base: ...  # base + "index.m3u8": finite HLS over HTTP

Everything is deterministic: pattern(i, w, h) is the picture of frame i.
"""

from __future__ import annotations

import contextlib
import functools
import io
import struct
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator, Sequence

import av
import cv2
import numpy as np

_COLOR_IDS = {  # names accepted in `color=` -> (attribute, FFmpeg id)
    "primaries": {"bt709": 1, "bt470bg": 5, "smpte170m": 6, "bt2020": 9},
    "transfer": {"bt709": 1, "smpte170m": 6, "iec61966-2-1": 13, "smpte2084": 16},
    "matrix": {"bt709": 1, "bt470bg": 5, "smpte170m": 6, "bt2020nc": 9},
    "range": {"tv": 1, "pc": 2},
}
_SUB_PAYLOAD = {  # subtitle codec -> how one cue's text is stored in a packet
    "mov_text": lambda text: struct.pack(">H", len(text)) + text,
    "subrip": lambda text: text,
    "ass": lambda text: b"0,0,Default,,0,0,0,," + text,
}


@dataclass
class Clip:
    path: Path
    width: int
    height: int
    time_base: Fraction
    pts: list[int]  # video pts as written, in time_base
    audio: str | None = None
    subtitles: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return len(self.pts)


def pattern(i: int, width: int, height: int) -> np.ndarray:
    """Frame i of the test pattern: four flat quadrants (colour depends on i) and a moving bar. H x W x 3."""
    img = np.empty((height, width, 3), np.uint8)
    h2, w2 = max(height // 2, 1), max(width // 2, 1)
    img[:h2, :w2] = (200, 40, 40)
    img[:h2, w2:] = (40, 200, 40)
    img[h2:, :w2] = (40, 40, 200)
    img[h2:, w2:] = ((i * 23) % 256, 128, 255 - (i * 23) % 256)
    img[:, (i * 3) % width] = 255
    return img


@dataclass
class Decoded:
    """A video file as PyAV decodes it: RGB frames, their timestamps in seconds, the first frame's (width, height)."""

    rgb: list[np.ndarray]
    pts_s: list[float]
    size: tuple[int, int] | None


def decode_video(path: str | Path) -> Decoded:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        return Decoded([f.to_ndarray(format="rgb24") for f in frames], [float(f.pts * f.time_base) for f in frames],
                       (frames[0].width, frames[0].height) if frames else None)


def video_frames(path: str | Path) -> tuple[list[np.ndarray], list[int], Fraction]:
    """(RGB frames, their pts, the stream's time base) of a video file."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(s)]
        return [a for _, a in frames], [p for p, _ in frames], s.time_base


def make_clip(
    path: str | Path,
    *,
    width: int = 32,
    height: int = 24,
    frames: int = 10,
    fps: int | Fraction = 25,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    lossless: bool = False,
    image: Callable[[int], np.ndarray] | None = None,
    yuv: tuple[int, int, int] | None = None,
    color: dict[str, str] | None = None,
    rotation: int | None = None,
    audio: str | None = None,
    audio_rate: int = 48000,
    audio_layout: str = "stereo",
    audio_seconds: float | None = None,
    subtitles: str | None = None,
    faststart: bool = True,
) -> Clip:
    """Write a small video file and describe it.

    pts / time_base: explicit video timestamps (VFR); default CFR 0..frames-1 in 1/fps.
    image: frame index -> H x W x 3 uint8 RGB (default `pattern`), converted to pix_fmt with BT.601 (SD)
        or BT.709 (HD) and tv range, like the untagged-video rule. yuv: instead a flat (Y, U, V) picture
        written as-is, for exact colour checks (use lossless=True).
    color: tags to write, e.g. {"matrix": "bt709", "range": "tv", "primaries": "bt709", "transfer": "bt709"};
        an image is then converted with that matrix/range.
    rotation: display rotation in degrees counter-clockwise (as VideoFrame.rotation reads it back).
    audio: audio codec (aac, libopus, libmp3lame, ac3, flac, pcm_s16le, mp2) with a 440 Hz tone lasting as
        long as the video (or audio_seconds). subtitles: mov_text, subrip or ass, two cues.
    """
    path = Path(path)
    tb = time_base or Fraction(1, 1) / Fraction(fps)
    pts_list = list(pts) if pts is not None else list(range(frames))
    options = {"movflags": "+faststart"} if faststart and path.suffix in (".mp4", ".mov", ".m4v") else {}
    with av.open(str(path), "w", options=options) as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, pix_fmt
        vs.codec_context.time_base = tb
        vs.time_base = tb
        enc_opts = {"preset": "ultrafast"} if codec in ("libx264", "libx265") else {}
        if lossless and codec == "libx264":
            enc_opts["qp"] = "0"
        vs.options = enc_opts
        ids = {k: _COLOR_IDS[k][v] for k, v in (color or {}).items()}
        if "primaries" in ids:
            vs.codec_context.color_primaries = ids["primaries"]
        if "transfer" in ids:
            vs.codec_context.color_trc = ids["transfer"]
        if "matrix" in ids:
            vs.codec_context.colorspace = ids["matrix"]
        if "range" in ids:
            vs.codec_context.color_range = ids["range"]
        if rotation is not None:
            vs.set_display_rotation(rotation)
        a_stream = _add_audio(out, audio, audio_rate, audio_layout) if audio else None
        s_stream = _add_template_stream(out, subtitles) if subtitles else None

        for i, p in enumerate(pts_list):
            frame = _video_frame(i, width, height, pix_fmt, image, yuv, ids)
            frame.pts, frame.time_base = p, tb
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        video_end = float((pts_list[-1] + 1) * tb) if pts_list else 0.0
        if a_stream is not None:
            _write_tone(out, a_stream, audio_rate, audio_layout, audio_seconds or video_end)
        if s_stream is not None:
            _write_cues(out, s_stream, subtitles, video_end)
    return Clip(path, width, height, tb, pts_list, audio, subtitles)


def make_hls(folder: str | Path, *, frames: int = 45, width: int = 64, height: int = 48, fps: int = 15) -> Path:
    """A finite (VOD) HLS playlist of pattern frames in 1 s H.264 segments: returns folder/index.m3u8."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    playlist = folder / "index.m3u8"
    with av.open(str(playlist), "w", format="hls", options={"hls_time": "1", "hls_playlist_type": "vod"}) as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": "ultrafast", "g": str(fps)}
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(pattern(i, width, height), format="rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = i, Fraction(1, fps)
            out.mux(vs.encode(f))
        out.mux(vs.encode())
    return playlist


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve_http(folder: str | Path) -> Iterator[str]:
    """`folder` served over HTTP on loopback (threaded, no request log) for the with block: yields the base URL,
    http://127.0.0.1:PORT/."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def make_audio(path: str | Path, codec: str = "aac", *, seconds: float = 0.4, rate: int = 48000,
               layout: str = "stereo") -> Path:
    """An audio-only file (a tone), e.g. to check that it is refused as a video source."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        _write_tone(out, _add_audio(out, codec, rate, layout), rate, layout, seconds)
    return path


def make_image(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an H x W x 3 RGB array as an image (format from the extension)."""
    path = Path(path)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1])):
        raise OSError(f"could not write {path}")
    return path


def make_sequence(pattern_path: str | Path, frames: int, *, width: int = 32, height: int = 24,
                  start: int = 1) -> list[Path]:
    """Write frames `pattern(i)` as pattern_path % (start + i), e.g. "dir/f_%04d.png"."""
    return [make_image(str(pattern_path) % (start + i), pattern(i, width, height)) for i in range(frames)]


def truncate(path: str | Path, fraction: float = 0.6, dst: str | Path | None = None) -> Path:
    """Copy of the first `fraction` of a file's bytes (a download cut short), in place unless dst is given."""
    path = Path(path)
    data = path.read_bytes()
    target = Path(dst) if dst is not None else path
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def rgb_from_yuv(y: float, u: float, v: float, matrix: str = "bt601", full: bool = False) -> np.ndarray:
    """Reference YUV -> RGB (0..255 floats) straight from the BT.601 / BT.709 definitions."""
    kr, kb = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}[matrix]
    if full:
        yn, pb, pr = y / 255, (u - 128) / 255, (v - 128) / 255
    else:
        yn, pb, pr = (y - 16) / 219, (u - 128) / 224, (v - 128) / 224
    r = yn + 2 * (1 - kr) * pr
    b = yn + 2 * (1 - kb) * pb
    g = (yn - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.array([r, g, b]) * 255, 0, 255)


def yuv_from_rgb(rgb: Sequence[float], matrix: str = "bt601", full: bool = False) -> tuple[int, int, int]:
    """Reference RGB (0..255) -> integer (Y, U, V)."""
    kr, kb = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}[matrix]
    r, g, b = (c / 255 for c in rgb)
    yn = kr * r + (1 - kr - kb) * g + kb * b
    pb, pr = (b - yn) / (2 * (1 - kb)), (r - yn) / (2 * (1 - kr))
    if full:
        vals = (yn * 255, 128 + pb * 255, 128 + pr * 255)
    else:
        vals = (16 + 219 * yn, 128 + 224 * pb, 128 + 224 * pr)
    return tuple(int(np.clip(round(x), 0, 255)) for x in vals)


# ---------------------------------------------------------------------------------------------- internals
def _video_frame(i, width, height, pix_fmt, image, yuv, ids) -> av.VideoFrame:
    if yuv is not None:
        frame = av.VideoFrame(width, height, pix_fmt)
        for plane, value in zip(frame.planes, yuv):
            np.frombuffer(plane, np.uint8)[:] = value
        return frame
    rgb = (image or (lambda k: pattern(k, width, height)))(i)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    if pix_fmt == "rgb24":
        return frame
    matrix = ids.get("matrix", 1 if width >= 1280 or height >= 720 else 6)
    sws = {1: av.video.reformatter.Colorspace.ITU709}.get(matrix, av.video.reformatter.Colorspace.ITU601)
    return frame.reformat(format=pix_fmt, dst_colorspace=sws, dst_color_range=ids.get("range", 1))


def _add_audio(out, codec: str, rate: int, layout: str):
    stream = out.add_stream(codec, rate=rate)
    stream.layout = layout
    stream.codec_context.time_base = Fraction(1, rate)
    if codec in ("aac", "mp2", "ac3", "libmp3lame"):
        stream.bit_rate = 96000
    return stream


def _write_tone(out, stream, rate: int, layout: str, seconds: float) -> None:
    frame_size = stream.codec_context.frame_size or 1024
    resampler = av.AudioResampler(format=stream.format.name, layout=layout, rate=rate, frame_size=frame_size)
    channels = len(av.AudioLayout(layout).channels)
    total = int(round(rate * seconds))
    for start in range(0, total, frame_size):
        n = min(frame_size, total - start)
        t = np.arange(start, start + n) / rate
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.tile(tone, (channels, 1)), format="fltp", layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        for rframe in resampler.resample(frame):
            for packet in stream.encode(rframe):
                out.mux(packet)
    for rframe in resampler.resample(None):
        for packet in stream.encode(rframe):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def _add_template_stream(out, codec: str):
    """A stream that takes ready-made packets: text subtitle encoders refuse to open without an ASS header,
    so copy the parameters of an unopened scratch stream instead (its encoder is never opened)."""
    scratch = av.open(io.BytesIO(), "w", format=out.format.name.split(",")[0])
    stream = out.add_stream_from_template(scratch.add_stream(codec))
    stream.time_base = Fraction(1, 1000)
    stream.metadata["language"] = "eng"
    return stream


def _write_cues(out, stream, codec: str, seconds: float) -> None:
    for k, text in enumerate((b"hello", b"world")):
        packet = av.Packet(_SUB_PAYLOAD[codec](text))
        packet.pts = packet.dts = int(k * seconds * 500)  # ms: at 0 and at half of the clip
        packet.duration = 200
        packet.time_base = Fraction(1, 1000)
        packet.stream = stream
        out.mux(packet)

