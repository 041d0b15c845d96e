"""media/live_sink.py: segmented recordings (files that play on their own), pushing to RTSP/RTMP receivers
(FFmpeg listeners in a child process) with reconnects, and a plain file from a live camera stopped at will."""

from __future__ import annotations

import re
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from gfn_stream.media.frames import Frame
from gfn_stream.media.live_sink import open_live_sink
from gfn_stream.media.live_source import open_live
from gfn_stream.media.live_spec import LiveOptions
from gfn_stream.media.packets import Packet
from gfn_stream.media.push_sink import PushSink, open_push_sink
from gfn_stream.media.segment_sink import SegmentSink, open_segment_sink
from gfn_stream.media.sink import EncodeOptions, SinkError, VideoSink, open_sink
from gfn_stream.media.source import open_source

sys.path.insert(0, str(Path(__file__).parent))
from rtsp_server import PushReceiver, RtspServer, require_rtsp, rtsp_server  # noqa: E402,F401

from media import make_clip, pattern  # noqa: E402

TB = Fraction(1, 90000)
LIVE = EncodeOptions(preset="ultrafast", tune="zerolatency", keyint=15, crf=30)
INFO = {"time_base": [1, 90000], "frame_rate": [15, 1], "side_streams": [], "is_live": True}


def _decode(path) -> tuple[list[av.VideoFrame], int, float | None]:
    with av.open(str(path)) as c:
        audio = sum(1 for s in c.streams if s.type == "audio")
        frames = list(c.decode(video=0))
        duration = c.duration / 1e6 if c.duration else None
    return frames, audio, duration


def _mp4s(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.mp4"), key=lambda p: p.stat().st_mtime_ns)


# ---------------------------------------------------------------------------------------------- segments
def test_segments_rotate_and_each_plays_on_its_own(tmp_path):
    clip = make_clip(tmp_path / "src.mp4", width=64, height=48, frames=50, fps=25, audio="aac")
    pattern_path = tmp_path / "rec" / "cam1-%Y%m%d-%H%M%S.mp4"
    pattern_path.parent.mkdir()
    done = []
    with open_source(clip.path) as src:
        sink = open_segment_sink(pattern_path, 0.5, src.info, src.side_buffers, LIVE, on_segment=done.append)
        with sink:
            for item in src.items():
                if isinstance(item, Frame):
                    sink.write_frame(item.rgb, item.pts, item.time_base)
                else:
                    sink.write_packet(item)
    assert isinstance(sink, SegmentSink) and sink.frames_written == 50
    files = [Path(s.path) for s in sink.segments]
    assert len(files) == 4 and len(set(files)) == 4 and all(s.closed and s.error is None for s in sink.segments)
    assert sorted(done, key=lambda s: s.start) == sink.segments  # on_segment once per file
    # written faster than real time: same second, so "-1", "-2", ... keep the names apart
    assert all(re.fullmatch(r"cam1-\d{8}-\d{6}(-\d+)?\.mp4", f.name) for f in files)
    total = 0
    for seg, f in zip(sink.segments, files):
        frames, audio, duration = _decode(f)
        assert frames and frames[0].key_frame  # starts on a keyframe
        assert float(frames[0].pts * frames[0].time_base) == pytest.approx(0, abs=0.01)  # restarts at 0
        assert audio == 1 and duration == pytest.approx(0.5, abs=0.1)
        assert len(frames) == seg.frames
        total += len(frames)
    assert total == 50
    assert [s.start for s in sink.segments] == pytest.approx([0, 0.52, 1.0, 1.52])  # first frame >= k * 0.5 s


def test_segments_from_a_live_camera_with_audio(tmp_path):
    require_rtsp(audio=True)
    with RtspServer(audio=True) as cam, open_live(cam.url, LiveOptions(stall_timeout_s=2)) as src:
        with open_segment_sink(tmp_path / "cam-%H%M%S.mp4", 1, src.info, src.side_buffers, LIVE) as sink:
            start = time.monotonic()
            while time.monotonic() - start < 2.6:
                item = src.next_item(timeout=0.5)
                if isinstance(item, Frame):
                    sink.write_frame(item.rgb, item.pts, item.time_base, captured_at=item.captured_at)
                elif isinstance(item, Packet):
                    sink.write_packet(item)
    assert len(sink.segments) == 3
    for seg in sink.segments:
        frames, audio, _ = _decode(seg.path)
        assert len(frames) == seg.frames >= 3 and frames[0].key_frame and audio == 1
    assert sink.packets_written > 50


def test_new_segment_flag_and_size_change_start_new_files(tmp_path):
    with open_segment_sink(tmp_path / "s-%H%M%S.mkv", 60, INFO, [], LIVE) as sink:
        for i in range(6):
            sink.write_frame(pattern(i, 64, 48), i * 6000, TB, captured_at=time.monotonic())
        sink.write_frame(pattern(6, 96, 64), 6 * 6000, TB, new_segment=True)
        sink.write_frame(pattern(7, 96, 64), 7 * 6000, TB)
        sink.write_frame(pattern(8, 32, 24), 8 * 6000, TB)  # a size change without the flag
    sizes = [(_decode(s.path)[0][0].width, len(_decode(s.path)[0])) for s in sink.segments]
    assert sizes == [(64, 6), (96, 2), (32, 1)]


def test_segment_folders_from_the_pattern(tmp_path):
    with open_segment_sink(tmp_path / "%Y" / "%m" / "cam-%H%M%S.mp4", 1, INFO, [], LIVE) as sink:
        for i in range(20):
            sink.write_frame(pattern(i, 64, 48), i * 6000, TB)
    paths = [Path(s.path) for s in sink.segments]
    assert len(paths) == 2 and all(p.exists() and p.parent.parent.parent == tmp_path for p in paths)


@pytest.mark.parametrize("kwargs,match", [
    (dict(pattern="x/%H.mp4", segment_s=1), "folder does not exist"),
    (dict(pattern="{tmp}/a-%H.avi", segment_s=1), "segments must be video files"),
    (dict(pattern="{tmp}/a-%H.mp4", segment_s=0), "positive number"),
])
def test_segment_sink_refuses_bad_settings(tmp_path, kwargs, match):
    with pytest.raises(SinkError, match=match):
        open_segment_sink(kwargs["pattern"].format(tmp=tmp_path), kwargs["segment_s"], INFO, [], LIVE)


# ---------------------------------------------------------------------------------------------- push
def _push(sink, frames: int, start: int = 0, fps: float = 30.0) -> None:
    for i in range(start, start + frames):
        sink.write_frame(pattern(i, 64, 48), i * 6000, TB)
        time.sleep(1 / fps)


@pytest.mark.parametrize("kind", ["rtsp", "rtmp"])
def test_push_reaches_the_server(kind):
    with PushReceiver(kind) as rx:
        sink = open_push_sink(rx.url, INFO, [], LIVE)
        assert isinstance(sink, PushSink) and sink.format == {"rtsp": "rtsp", "rtmp": "flv"}[kind]
        with sink:
            _push(sink, 30)
            assert sink.connected
        result = rx.result()
    assert sink.frames_written == 30 and sink.failures == 0 and sink.frames_dropped == 0
    assert result["frames"] >= 28 and result["sizes"] == [[64, 48]]


def test_push_reconnects_when_the_server_returns():
    rx = PushReceiver("rtsp").start()
    sink = open_push_sink(rx.url, INFO, [], LIVE, retry_initial_s=0.2, retry_max_s=0.4)
    try:
        _push(sink, 15)
        rx.kill()  # the server dies mid-stream
        _push(sink, 15, start=15)
        assert sink.failures >= 1 and not sink.connected
        rx2 = PushReceiver("rtsp", port=rx.port).start()
        _push(sink, 30, start=30)
        sink.close()
        result = rx2.result()
    finally:
        sink.close()
        rx.kill()
    assert sink.reconnects == 1 and sink.frames_dropped >= 5
    stats = sink.stats()
    assert stats["reconnects"] == 1 and stats["failures"] == sink.failures and "last_error" in stats
    assert result["frames"] >= 15 and result["sizes"] == [[64, 48]]


def test_push_gives_up_after_max_failures():
    sink = open_push_sink(f"rtsp://127.0.0.1:{PushReceiver().port}/x", INFO, [], LIVE, max_failures=0)
    with pytest.raises(SinkError, match=r"cannot push to rtsp://127.0.0.1:\d+/x: .*refused.*max_failures=0"):
        sink.write_frame(pattern(0, 64, 48), 0, TB)


@pytest.mark.parametrize("url", ["ftp://host/x", "rtsp://", "rtmp://host:xx/live", "rtsp://ho st/x"])
def test_push_refuses_bad_urls(url):
    with pytest.raises(SinkError):
        open_push_sink(url, INFO, [], LIVE)


def test_open_live_sink_picks_the_output(tmp_path):
    assert isinstance(open_live_sink("rtmp://host/live/k", INFO, [], LIVE), PushSink)
    assert isinstance(open_live_sink(tmp_path / "r-%H.mp4", INFO, [], LIVE, segment_s=5), SegmentSink)
    assert isinstance(open_live_sink(tmp_path / "one.mp4", INFO, [], LIVE), VideoSink)


# ---------------------------------------------------------------------------------------------- plain file
def test_live_camera_to_one_file_stopped_at_any_time(rtsp_server, tmp_path):
    out = tmp_path / "live.mp4"
    with open_live(rtsp_server.url, LiveOptions(stall_timeout_s=2)) as src:
        with open_sink(out, src.info, src.side_buffers, EncodeOptions(preset="ultrafast", crf=30)) as sink:
            first = last = None
            while sink.frames_written < 15:  # "Ctrl-C" after about a second
                item = src.next_item(timeout=1.0)
                if isinstance(item, Frame):
                    sink.write_frame(item.rgb, item.pts, item.time_base)
                    first = item.pts if first is None else first
                    last = item.pts
    frames, _, duration = _decode(out)
    assert len(frames) == 15
    pts = [float(f.pts * f.time_base) for f in frames]
    assert pts[0] == pytest.approx(0, abs=0.01)
    assert pts[-1] == pytest.approx((last - first) / 90000, abs=0.02)  # the live timeline, kept
    assert all(b > a for a, b in zip(pts, pts[1:]))


def test_encode_options_for_live():
    LIVE.validate()
    assert LIVE.codec_options()["tune"] == "zerolatency" and LIVE.codec_options()["g"] == "15"
    with pytest.raises(SinkError, match="unknown tune"):
        EncodeOptions(tune="fast").validate()
    with pytest.raises(SinkError, match="no tune"):
        EncodeOptions(codec="libvpx-vp9", tune="zerolatency").validate()
    with pytest.raises(SinkError, match="keyint"):
        EncodeOptions(keyint=0).validate()
    assert np.array_equal(pattern(0, 4, 4), pattern(0, 4, 4))
