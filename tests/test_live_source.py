"""media/live_source.py against a real RTSP camera (tests/rtsp_server.py, 64x48 @ 15 fps) and a UDP MPEG-TS
stream sent from the test: frames, timestamps, reconnects, stalls, drops, latency, URL errors.

Measured numbers (time to first frame, reconnect time) are printed with -s and kept in the test names'
asserts loosely: the machine is shared and slow."""

from __future__ import annotations

import logging
import random
import socket
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from gfn_stream.media.frames import Frame, SourceError
from gfn_stream.media.inputs import open_input
from gfn_stream.media.live_source import TIME_BASE, LiveSource, SourceInterrupted, open_live
from gfn_stream.media.live_spec import LiveOptions, is_live_spec, parse_live_spec
from gfn_stream.media.packets import Packet

sys.path.insert(0, str(Path(__file__).parent))
from rtsp_server import RtspServer, free_port, require_rtsp, rtsp_server  # noqa: E402,F401

from media import make_clip, make_hls, pattern, serve_http  # noqa: E402

FAST = dict(stall_timeout_s=1.5, read_timeout_s=2.0, open_timeout_s=3.0, retry_initial_s=0.2, retry_max_s=0.5)


def _frames(src: LiveSource, n: int | None = None, seconds: float | None = None, timeout: float = 10.0,
            packets: list | None = None) -> list[Frame]:
    """Read n frames (or for `seconds`) with a deadline."""
    out: list[Frame] = []
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if n is not None and len(out) >= n:
            break
        if seconds is not None and time.monotonic() - start >= seconds:
            break
        item = src.next_item(timeout=0.2)
        if isinstance(item, Frame):
            out.append(item)
        elif isinstance(item, Packet) and packets is not None:
            packets.append(item)
    return out


def _assert_monotonic(frames: list[Frame]) -> None:
    pts = [f.pts for f in frames]
    assert all(b > a for a, b in zip(pts, pts[1:])), pts


# ---------------------------------------------------------------------------------------------- URLs
@pytest.mark.parametrize("url", ["rtsp://", "rtsp:///cam", "rtsp://host:notaport/x", "rtsp://host:99999/x",
                                 "foo://bar/x", "rtsp://ca m/x", "udp://127.0.0.1", "http://", "rtsp:/cam"])
def test_malformed_or_unknown_urls_fail_at_once(url):
    start = time.monotonic()
    with pytest.raises(SourceError) as err:
        open_input(url)
    assert time.monotonic() - start < 0.5
    msg = str(err.value)
    assert "\n" not in msg and (url in msg or repr(url) in msg)
    assert any(word in msg for word in ("malformed", "unknown input scheme", "needs a port"))


def test_live_spec_detection():
    assert is_live_spec("rtsp://cam/x") and is_live_spec("/dev/video0") and is_live_spec("udp://@:1234")
    assert not is_live_spec("clip.mp4") and not is_live_spec("file:///tmp/a.mp4") and not is_live_spec("/dev/null")
    assert parse_live_spec("udp://@:1234") == ("udp", None)
    assert parse_live_spec("rtsps://u:p@cam:322/s") == ("rtsps", None)


def test_missing_protocol_fails_at_once():
    if _has_protocol("srt"):
        pytest.skip("this FFmpeg build has srt")
    start = time.monotonic()
    with pytest.raises(SourceError, match=r"cannot read srt:// inputs"):
        open_live("srt://127.0.0.1:9/x", LiveOptions(**FAST))
    assert time.monotonic() - start < 1.0


def test_file_url_opens_the_file(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", frames=3)
    with open_input(f"file://{clip.path}") as src:
        assert not src.is_live and len(list(src.items())) == 3


# ---------------------------------------------------------------------------------------------- unreachable
def test_unreachable_camera_gives_up_after_max_retries(caplog):
    url = f"rtsp://127.0.0.1:{free_port()}/cam"  # nothing listens: connection refused
    caplog.set_level(logging.WARNING, logger="gfn_stream.media.live_source")
    start = time.monotonic()
    with pytest.raises(SourceError) as err:
        open_live(url, LiveOptions(**{**FAST, "retry_initial_s": 0.05}, max_retries=2))
    msg = str(err.value)
    assert url in msg and "refused" in msg.lower() and "gave up after 3 attempt(s)" in msg and "max_retries=2" in msg
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2  # each retry is logged
    assert time.monotonic() - start < 3


def test_unreachable_camera_gives_up_after_time():
    url = f"rtsp://127.0.0.1:{free_port()}/cam"
    start = time.monotonic()
    with pytest.raises(SourceError, match=r"give_up_after_s=0.8"):
        open_live(url, LiveOptions(**FAST, give_up_after_s=0.8))
    assert 0.7 < time.monotonic() - start < 2.5


def test_waiting_for_camera_can_be_stopped():
    url = f"rtsp://127.0.0.1:{free_port()}/cam"
    start = time.monotonic()
    with pytest.raises(SourceInterrupted):
        open_live(url, LiveOptions(**FAST), stop=lambda: time.monotonic() - start > 0.5)
    assert time.monotonic() - start < 1.5


def test_camera_that_starts_late_is_waited_for():
    require_rtsp()
    cam = RtspServer()
    threading.Timer(0.8, cam.start).start()
    try:
        with open_live(cam.url, LiveOptions(**FAST)) as src:
            assert src.connect_attempts >= 2 and src.reconnects == 0
            assert len(_frames(src, n=3)) == 3
    finally:
        time.sleep(0.1)
        cam.kill()


# ---------------------------------------------------------------------------------------------- RTSP camera
def test_reads_live_rtsp_frames(rtsp_server):
    start = time.monotonic()
    with open_input(rtsp_server.url, live=LiveOptions(**FAST)) as src:
        opened = time.monotonic() - start
        frames = _frames(src, seconds=1.5)
        info = src.info
    print(f"\ntime to first frame: {src.time_to_first_frame_s * 1000:.0f} ms (open_input returned after "
          f"{opened * 1000:.0f} ms)")
    assert src.time_to_first_frame_s < 3.0
    assert info["is_live"] and info["kind"] == "live" and info["live_kind"] == "rtsp"
    assert (info["width"], info["height"], info["frames"], info["duration"]) == (64, 48, None, None)
    assert Fraction(*info["time_base"]) == TIME_BASE and info["frame_rate"] == [15, 1]
    assert info["side_streams"] == [] and src.side_buffers == []
    assert len(frames) >= 12  # ~22 at 15 fps; slack for a loaded machine
    assert frames[0].pts == 0
    _assert_monotonic(frames)
    assert all(f.rgb.shape == (48, 64, 3) and f.rgb.dtype == np.uint8 and f.time_base == TIME_BASE for f in frames)
    assert all(f.captured_at is not None and not f.new_segment for f in frames)
    span = (frames[-1].pts - frames[0].pts) / 90000
    wall = frames[-1].captured_at - frames[0].captured_at
    assert span == pytest.approx(wall, abs=0.3)  # the timeline is real time
    assert src.reconnects == 0 and src.frames_dropped == 0 and src.packets_corrupt == 0
    assert src.ended  # closed


def _read_through_outage(src: LiveSource, outage, after: int = 8) -> tuple[list[Frame], float]:
    """Frames before and after `outage()` (which kills/restarts the camera) until `after` frames came after
    the reconnect; also returns when outage() finished."""
    frames = _frames(src, n=5)
    outage()
    back = time.monotonic()
    start = back
    while time.monotonic() - start < 10:
        item = src.next_item(timeout=0.2)
        if isinstance(item, Frame):
            frames.append(item)
            if src.reconnects and sum(f.captured_at >= back for f in frames) >= after:
                break
    return frames, back


def _biggest_gap(frames: list[Frame]) -> int:
    steps = np.diff([f.pts for f in frames])
    return int(np.argmax(steps)) + 1  # index of the first frame after the gap


def test_reconnects_after_camera_restart(rtsp_server):
    def outage():
        rtsp_server.kill()
        time.sleep(0.7)
        rtsp_server.start()

    with open_live(rtsp_server.url, LiveOptions(**FAST)) as src:
        killed = time.monotonic()
        frames, back = _read_through_outage(src, outage)
    _assert_monotonic(frames)
    assert src.reconnects == 1 and src.disconnects == 1
    k = _biggest_gap(frames)
    first_back = frames[k]
    assert first_back.captured_at >= back and sum(f.captured_at >= back for f in frames) >= 8
    gap = (first_back.pts - frames[k - 1].pts) / 90000
    wall_gap = first_back.captured_at - frames[k - 1].captured_at
    reconnect_s = first_back.captured_at - back
    print(f"\ncamera down {back - killed:.2f} s; first frame {reconnect_s * 1000:.0f} ms after it came back; "
          f"pts gap {gap:.2f} s; {src.connect_attempts} attempts")
    assert gap >= 0.6  # the outage shows as a gap of about its real length ...
    assert gap == pytest.approx(wall_gap, abs=0.25)  # ... never as a jump back or a squeeze
    assert src.last_outage_s == pytest.approx(wall_gap, abs=0.05)
    assert reconnect_s < 2.0  # retry_max_s=0.5 plus connecting


def test_stalled_camera_is_detected_and_reconnected(rtsp_server):
    opts = LiveOptions(**{**FAST, "stall_timeout_s": 1.0, "read_timeout_s": 5.0})  # the watchdog must act first
    with open_live(rtsp_server.url, opts) as src:
        before = _frames(src, n=5)
        rtsp_server.pause()
        paused = time.monotonic()
        while src.disconnects == 0 and time.monotonic() - paused < 5:
            time.sleep(0.05)
        detected = time.monotonic() - paused
        rtsp_server.resume()
        after = _frames(src, n=5, timeout=10)
        print(f"\nstall noticed after {detected:.2f} s (stall_timeout_s=1.0, read timeout 5 s)")
        assert src.disconnects == 1 and detected < 2.0
        assert len(after) == 5 and src.reconnects == 1
        _assert_monotonic(before + after)


def test_slow_consumer_drops_old_frames_and_keeps_latency_low(rtsp_server):
    with open_live(rtsp_server.url, LiveOptions(**FAST, drop_old=True)) as src:
        latencies, frames = [], []
        start = time.monotonic()
        while time.monotonic() - start < 2.0:
            item = src.next_item(timeout=1.0)
            if isinstance(item, Frame):
                latencies.append(time.monotonic() - item.captured_at)
                frames.append(item)
                assert src.stats()["queue_depth"] <= 1
                time.sleep(0.25)  # a consumer at 4 fps, the camera at 15
        stats = src.stats()
    print(f"\nslow consumer: {len(frames)} frames delivered, {stats['dropped']} dropped, "
          f"max latency {max(latencies) * 1000:.0f} ms")
    assert stats["dropped"].get("stale", 0) >= 10
    assert 0 <= stats["frames_in"] - stats["frames_out"] - src.frames_dropped <= 2  # the rest: in the queue
    assert max(latencies) < 0.25 + 0.2  # at most one frame interval + slack, never the whole backlog
    _assert_monotonic(frames)


def test_latest_returns_the_newest_frame(rtsp_server):
    with open_live(rtsp_server.url, LiveOptions(**FAST)) as src:
        time.sleep(0.7)  # ~10 frames queue up
        frame = src.latest(timeout=1)
        assert frame is not None and time.monotonic() - frame.captured_at < 0.2
        assert src.drops.get("stale", 0) >= 5 and src.stats()["queue_depth"] == 0


def test_queue_overflow_drops_oldest(rtsp_server):
    with open_live(rtsp_server.url, LiveOptions(**FAST, queue_frames=3)) as src:
        time.sleep(1.0)
        assert src.stats()["queue_depth"] == 3 and src.drops.get("overflow", 0) >= 8
        frames = _frames(src, n=3)
        assert time.monotonic() - frames[-1].captured_at < 0.3


def test_max_fps_limits_the_rate(rtsp_server):
    with open_live(rtsp_server.url, LiveOptions(**FAST, max_fps=5)) as src:
        frames = _frames(src, seconds=2.0)
    span = (frames[-1].pts - frames[0].pts) / 90000
    rate = (len(frames) - 1) / span
    assert 4.0 <= rate <= 5.6 and src.drops.get("rate", 0) >= 10
    steps = np.diff([f.pts for f in frames]) / 90000
    assert steps.min() > 0.15  # evenly thinned: 3 of every 3 camera frames -> one


def test_duration_ends_the_stream(rtsp_server):
    with open_live(rtsp_server.url, LiveOptions(**FAST, duration_s=0.8)) as src:
        start = time.monotonic()
        items = [i for i in src.items(idle_s=0.1) if i is not None]
        took = time.monotonic() - start
    assert 0.5 < took < 2.0 and 5 <= len(items) <= 16 and src.reconnects == 0


def test_audio_passes_through_as_side_packets():
    require_rtsp(audio=True)
    with RtspServer(audio=True) as cam, open_live(cam.url, LiveOptions(**FAST)) as src:
        assert [s["type"] for s in src.info["side_streams"]] == ["audio"]
        side = src.info["side_streams"][0]
        assert side["codec"] == "aac" and side["sample_rate"] == 48000 and src.side_buffers[0]
        packets: list[Packet] = []
        frames = _frames(src, seconds=1.2, packets=packets)
        cam.kill()
        time.sleep(0.3)
        cam.start()
        frames += _frames(src, n=8, packets=packets)
    assert len(frames) >= 15 and len(packets) >= 30 and src.reconnects == 1
    assert {p.stream for p in packets} == {side["index"]}
    dts = [p.dts for p in packets]
    assert all(b > a for a, b in zip(dts, dts[1:])) and dts[0] >= 0
    # audio and video share the timeline: the last packet is near the last frame
    last_audio = float(packets[-1].pts * packets[-1].time_base)
    assert abs(last_audio - frames[-1].pts / 90000) < 0.6


@pytest.mark.parametrize("policy", ["scale", "segment"])
def test_resolution_change_policy(rtsp_server, policy):
    with open_live(rtsp_server.url, LiveOptions(**FAST, on_resize=policy)) as src:
        frames, back = _read_through_outage(src, lambda: rtsp_server.restart(width=96, height=64), after=5)
    assert src.resolution_changes == 1 and src.reconnects == 1
    _assert_monotonic(frames)
    k = _biggest_gap(frames)
    assert frames[k].captured_at >= back and all(f.captured_at < back for f in frames[:k])
    assert all(f.rgb.shape == (48, 64, 3) and not f.new_segment for f in frames[:k])
    if policy == "scale":
        assert all(f.rgb.shape == (48, 64, 3) and not f.new_segment for f in frames[k:])
    else:
        assert all(f.rgb.shape == (64, 96, 3) for f in frames[k:])
        assert [f.new_segment for f in frames[k:]] == [True] + [False] * (len(frames) - k - 1)


# ---------------------------------------------------------------------------------------------- UDP MPEG-TS
def _ts_stream(frames: int = 45) -> bytes:
    path = Path(f"/tmp/gfn-live-test-{threading.get_ident()}.ts")
    try:
        with av.open(str(path), "w", format="mpegts") as out:
            vs = out.add_stream("libx264", rate=15)
            vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
            vs.options = {"preset": "ultrafast", "tune": "zerolatency", "g": "5"}
            for i in range(frames):
                f = av.VideoFrame.from_ndarray(pattern(i, 64, 48), format="rgb24").reformat(format="yuv420p")
                f.pts, f.time_base = i, Fraction(1, 15)
                out.mux(vs.encode(f))
            out.mux(vs.encode())
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


def _send_udp(data: bytes, port: int, seconds: float, corrupt: bool) -> None:
    rnd = random.Random(1)
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    chunks = [bytearray(data[i:i + 1316]) for i in range(0, len(data), 1316)]
    for k, chunk in enumerate(chunks):
        if corrupt and k > 2 and k % 3 == 0:
            for _ in range(30):
                chunk[rnd.randrange(4, len(chunk))] = rnd.randrange(256)
        if corrupt and k > 2 and k % 7 == 0:
            continue  # a lost datagram
        out.sendto(bytes(chunk), ("127.0.0.1", port))
        time.sleep(seconds / len(chunks))
    out.close()


def test_udp_stream_with_garbage_counts_corrupt_packets_and_goes_on():
    data = _ts_stream(frames=20)
    port = free_port()
    sender = threading.Timer(0.2, _send_udp, args=(data, port, 1.3, True))
    sender.start()
    try:
        options = LiveOptions(**{**FAST, "stall_timeout_s": 1.0, "read_timeout_s": 1.0}, give_up_after_s=1.5,
                              probe_s=0.5)
        src = open_live(f"udp://127.0.0.1:{port}", options)
        frames: list[Frame] = []
        with pytest.raises(SourceError, match="camera still unreachable"):  # the sender stops: gives up
            for item in src.items(idle_s=0.2):
                if isinstance(item, Frame):
                    frames.append(item)
        src.close()
    finally:
        sender.join()
    assert src.info["container"] == "mpegts"
    index = [round(f.pts / 6000) for f in frames]  # 1/15 s apart: the frame numbers that got through
    assert src.packets_corrupt >= 1 and len(frames) >= 5
    assert len(index) < index[-1] + 1 and index[-1] >= 10  # frames were lost to the garbage, and it went on
    _assert_monotonic(frames)


def _has_protocol(name: str) -> bool:
    try:
        av.open(f"{name}://127.0.0.1:9", timeout=0.2).close()
    except av.error.ProtocolNotFoundError:
        return False
    except Exception:
        return True
    return True


# ---------------------------------------------------------------------------------------------- HLS, V4L2
def test_hls_over_http_finite_playlist_ends_with_every_frame(tmp_path):
    playlist = make_hls(tmp_path)
    with serve_http(tmp_path) as base, open_live(base + playlist.name, LiveOptions(**FAST, queue_frames=4)) as src:
        assert src.info["container"] == "hls"
        frames = [i for i in src.items(idle_s=0.2) if isinstance(i, Frame)]
    # a playlist with an end: the stream ends (no reconnect), and the small queue waited instead of dropping
    assert len(frames) == 45 and src.reconnects == 0 and src.frames_dropped == 0
    assert [round(f.pts / 6000) for f in frames] == list(range(45))  # 1/15 s apart on the 1/90000 timeline


def test_missing_v4l2_device_gives_a_clear_error():
    if not parse_live_spec("/dev/video0"):
        pytest.skip("no V4L2 demuxer")
    expected = r"cannot reach camera /dev/video97: No such file or directory .*max_retries=0"
    with pytest.raises(SourceError, match=expected):
        open_live("/dev/video97", LiveOptions(**FAST, max_retries=0))
