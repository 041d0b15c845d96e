"""Live runs of the real CLI against a real RTSP camera (gst-rtsp-server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from rtsp_server import RtspServer, require_rtsp

from media import decode_video

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "gfn_stream.pipeline.cli"]


def start(*args, env=None) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *map(str, args)], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def wait_for_frames(report_dir: Path, proc: subprocess.Popen, path: Path, min_bytes: int = 3000, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and path.stat().st_size > min_bytes:
            return
        time.sleep(0.1)


def test_live_rtsp_to_file_with_duration_and_metrics(tmp_path):
    require_rtsp()
    with RtspServer(width=64, height=48, fps=15) as cam:
        out = tmp_path / "live.mkv"
        p = start(cam.url, out, "--model", "bicubic", "--duration", "4", "--metrics-port", 19464,
                  "--report", tmp_path / "r.json", "-q")
        body = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and p.poll() is None and "gfn_frames" not in body:
            try:
                body = urllib.request.urlopen("http://127.0.0.1:19464/metrics", timeout=2).read().decode()
                if "gfn_frames" in body:
                    health = urllib.request.urlopen("http://127.0.0.1:19464/health", timeout=2).read().decode()
                    assert "status" in health
            except OSError:
                time.sleep(0.3)
        _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "gfn_frames" in body
    video = decode_video(out)
    pts, size = video.pts_s, video.size
    assert size == (256, 192)
    assert len(pts) >= 15 and pts == sorted(pts)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["live"]["frames_in"] >= report["live"]["frames_out"] == len(pts)


def test_camera_killed_and_restarted_reconnects_with_a_gap(tmp_path):
    require_rtsp()
    with RtspServer(width=64, height=48, fps=15, key_int=5) as cam:
        out = tmp_path / "reconnect.mkv"
        p = start(cam.url, out, "--model", "bicubic", "--stall-timeout", "1", "--retry-max", "0.5",
                  "--report", tmp_path / "r.json", "-q")
        wait_for_frames(tmp_path, p, out)
        time.sleep(1.0)
        cam.kill()
        time.sleep(2.0)
        cam.start()
        time.sleep(3.0)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    pts = decode_video(out).pts_s
    gaps = [b - a for a, b in zip(pts, pts[1:])]
    assert all(g > 0 for g in gaps)  # monotonic across the reconnect
    assert max(gaps) > 1.0  # the outage shows as a gap, not a jump back or a speed-up
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["live"]["reconnects"] >= 1


def test_segments_each_play_and_sigterm_closes_them(tmp_path):
    require_rtsp()
    with RtspServer(width=64, height=48, fps=15, key_int=5) as cam:
        pattern = tmp_path / "cam-%Y%m%d-%H%M%S.mp4"
        p = start(cam.url, pattern, "--model", "bicubic", "--segment", "1", "-q")
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and len(list(tmp_path.glob("cam-*.mp4"))) < 3 and p.poll() is None:
            time.sleep(0.2)
        time.sleep(1.2)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    files = sorted(tmp_path.glob("cam-*.mp4"))
    assert len(files) >= 3, err
    for f in files:
        video = decode_video(f)  # every segment decodes on its own, the last one too
        pts, size = video.pts_s, video.size
        assert len(pts) > 0 and size == (256, 192)


def test_bad_live_urls_fail_at_once(tmp_path):
    for url in ("rtsp:/missing-slash", "gopher://camera/stream"):
        t0 = time.monotonic()
        r = subprocess.run([*CLI, url, str(tmp_path / "o.mp4"), "--model", "bicubic"], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 3, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
        assert time.monotonic() - t0 < 20


def test_unreachable_camera_gives_up_when_told(tmp_path):
    r = subprocess.run([*CLI, "rtsp://127.0.0.1:9/none", str(tmp_path / "o.mp4"), "--model", "bicubic",
                        "--give-up-after", "2", "--retry-max", "0.5"], capture_output=True, text=True, timeout=90)
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "o.mp4").exists()


def test_slow_worker_keeps_latency_bounded_and_counts_drops(tmp_path):
    require_rtsp()
    with RtspServer(width=64, height=48, fps=15) as cam:
        out = tmp_path / "slow.mkv"
        # the worker needs 250 ms a frame (4 fps) for a 15 fps camera
        p = start(cam.url, out, "--model", "bicubic", "--batch", "1", "--duration", "5", "--max-latency", "1.0",
                  "--report", tmp_path / "r.json", "--test-fault", "delay_ms=250")
        _, err = p.communicate(timeout=90)
    assert p.returncode == 0, err
    live = json.loads((tmp_path / "r.json").read_text())["live"]
    dropped = sum(live["dropped"].values())
    assert dropped > 0.4 * live["frames_in"]  # most frames dropped on purpose, and counted
    assert live["frames_out"] + dropped <= live["frames_in"] + 2
    assert 0 < live["max_latency_s"] < 1.0  # capture -> written stays under the bound
    assert "dropped to hold latency" in err
    pts = decode_video(out).pts_s
    assert len(pts) == live["frames_out"] and pts == sorted(pts)
