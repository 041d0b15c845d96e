"""A remote worker that lies (wrong size / seq / pts, `done` without a result), sends junk, or takes frames and
never answers must not cost a frame: with a healthy local worker beside it, the run completes with every frame,
frame-identical to a clean run, and the bad worker is counted. Real processes: gfn-stream --listen, its local
worker, and tests/evil_worker.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import deque
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from workers_kit import QUICK_ENV, STREAM, Proc, assert_same_frames, free_port, ledger, png_frames, reference_bicubic

from gfn_stream.nodes.answer_clock import AnswerClock
from gfn_stream.nodes.dispatch import REMOTE
from gfn_stream.transport import protocol
from gfn_stream.transport.result_check import mismatch
from media import make_clip

EVIL = Path(__file__).with_name("evil_worker.py")
SLOW_LOCAL = ("--test-fault", "delay_ms=40")  # the run lasts long enough for the evil worker to matter


def _frame_parts(seq: int, w: int = 8, h: int = 6, **extra) -> list:
    img = np.zeros((h, w, 3), np.uint8)
    return protocol.pack_frame(protocol.FrameHeader(seq, seq, Fraction(1, 25), 0, 0), img, extra or None)


def _result(number: int, w: int = 32, h: int = 24, **changes) -> list:
    fields = {"seq": number, "pts": number, "tb": [1, 25], "w": w, "h": h, "fmt": "rgb24", "strides": [3 * w],
              **changes}
    return protocol.pack(protocol.FRAME, fields, [bytes(3 * w * h)])


def test_result_check_accepts_only_the_answer_to_the_frame_sent():
    sent = _frame_parts(5, dur=1)[0]
    ok = protocol.unpack(_result(5, dur=1))
    assert mismatch(sent, ok) is None
    for changes, why in (({"h": 25}, "32x25, not 32x24"), ({"seq": 6}, "seq 6"), ({"pts": 4}, "pts 4"),
                         ({"tb": [1, 30]}, "tb"), ({"dur": 2}, "dur 2")):
        msg = protocol.unpack(_result(5, **{"dur": 1, **changes}))
        assert why in mismatch(sent, msg)
    padded = protocol.pack(protocol.FRAME, {"seq": 5, "pts": 5, "tb": [1, 25], "w": 32, "h": 24, "fmt": "rgb24",
                                            "strides": [100], "dur": 1}, [bytes(100 * 24)])
    assert "stride 100" in mismatch(sent, protocol.unpack(padded))


def test_result_check_of_yuv_planes_wants_the_format_size_and_colour_asked_for():
    y, c = np.zeros((6, 8), np.uint8), np.zeros((3, 4), np.uint8)
    header = protocol.FrameHeader(5, 5, Fraction(1, 25), 0, 0, pix_fmt="yuv420p", matrix=6, color_range=1,
                                  color_out={"mx": 1, "rng": 1})
    sent = protocol.pack_frame(header, [y, c, c])[0]

    def answer(fmt="yuv420p", mx=1):
        big, small = np.zeros((24, 32), np.uint8), np.zeros((12, 16), np.uint8)
        fh = protocol.FrameHeader(5, 5, Fraction(1, 25), 0, 0, pix_fmt="yuv420p", matrix=mx, color_range=1)
        if fmt == "rgb24":
            return protocol.unpack(protocol.pack_frame(fh, np.zeros((24, 32, 3), np.uint8)))
        return protocol.unpack(protocol.pack_frame(fh, [big, small, small]))

    assert mismatch(sent, answer()) is None
    assert "colour mx 6" in mismatch(sent, answer(mx=6))  # the input's matrix, not the one asked for
    assert "pixel format 'rgb24'" in mismatch(sent, answer(fmt="rgb24"))
    fields = {k: v for k, v in json.loads(_result(5)[0]).items() if k not in ("v", "kind")}
    old = protocol.pack(protocol.FRAME, fields, [bytes(3 * 32 * 24)], version=1)  # a version-1 answer
    assert "version 1" in mismatch(_frame_parts(5)[0], protocol.unpack(old))


def test_dispatcher_takes_a_remote_frame_as_done_only_from_its_valid_result():
    d = ledger(8, 32)
    claims, botches, stranger = REMOTE + b"claims", REMOTE + b"botches", REMOTE + b"stranger"
    for w in (claims, botches):
        d.on_message(w, protocol.pack(protocol.READY, {"credit": 2, "done": [], "hello": True}))
    d.assign(0, claims, _frame_parts(0))
    d.assign(1, botches, _frame_parts(1))
    d.assign(2, botches, _frame_parts(2))
    d.on_message(claims, protocol.pack(protocol.READY, {"credit": 1, "done": [0]}))  # done, but no result came
    assert not d.forward and d.bad_workers == 1 and claims not in d.credits and d.retry == deque([0])
    d.on_message(botches, _result(1, h=25))  # a wrong size: dropped, both of its frames go back to the queue
    assert d.bad_workers == 2 and botches not in d.credits and sorted(d.retry) == [0, 1, 2]
    d.on_message(botches, protocol.pack(protocol.READY, {"credit": 4, "done": [], "hello": True}))
    assert botches not in d.credits  # a worker that lied is not taken back on that connection
    d.on_message(stranger, _result(1))  # a result from a peer that never joined: a bad message, nothing released
    assert d.bad_messages == 1 and all(d.inflight[s][0] == b"" for s in (0, 1, 2)) and not d.forward
    d.on_message(stranger, protocol.pack(protocol.READY, {"credit": 1, "done": [], "hello": True}))
    d.assign(1, stranger, _frame_parts(1))
    d.on_message(stranger, _result(1))  # now it is the answer to a frame it holds
    assert [s for s, _ in d.forward] == [1] and 1 not in d.inflight


def test_a_local_worker_that_says_bye_after_its_results_loses_nothing(caplog):
    d = ledger(8, 32, retain=16)
    w = b"L" + b"w1"
    d.on_message(w, protocol.pack(protocol.READY, {"credit": 4, "done": [], "hello": True}))
    for seq in range(4):
        d.assign(seq, w, _frame_parts(seq))
    d.on_message(w, protocol.pack(protocol.READY, {"credit": 4, "done": [0, 1, 2, 3]}))
    with caplog.at_level("WARNING"):
        d.on_message(w, protocol.pack(protocol.BYE))
    assert not d.retry and not d.inflight and "sending them again" not in caplog.text


def test_answer_clock_deadline_follows_the_observed_answer_time():
    clock = AnswerClock(floor_s=1.0, factor=4.0)
    a, b = b"Ra", b"Rb"
    assert clock.limit(a, others_free=True) == 1.0 and clock.limit(a, others_free=False) == 4.0
    clock.sent(a, 0.0, idle=True)
    clock.answered(a, 2.0, still_holding=True)  # a took 2 s: it may take up to 8 s from now on
    assert clock.limit(a, True) == 8.0
    assert clock.limit(b, True) == 8.0  # b has no answers of its own: the run's typical answer stands in
    clock.sent(b, 2.0, idle=True)
    assert clock.overdue([a, b], {a: 0, b: 0}, 9.0) == []
    assert [w for w, *_ in clock.overdue([a, b], {a: 0, b: 0}, 10.5)] == [a, b]
    assert AnswerClock(0, 4.0).overdue([a], {a: 0}, 1e9) == []  # 0 = never


def _listening_run(tmp_path: Path, mode: str, *, config: str = "", evil_s: float = 60):
    clip = make_clip(tmp_path / "in.mp4", width=32, height=24, frames=24).path
    out = tmp_path / "out"
    out.mkdir()
    url = f"tcp://127.0.0.1:{free_port()}"
    args = [clip, out / "f_%04d.png", "--model", "bicubic", "--listen", url, "--report", tmp_path / "r.json"]
    if config:
        (tmp_path / "c.toml").write_text(config)
        args += ["--config", tmp_path / "c.toml"]
    # the evil worker is connecting before the run binds its endpoint: it joins first and gets frames first
    evil = subprocess.Popen([sys.executable, str(EVIL), url, mode, str(evil_s)], stdout=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        p = Proc(STREAM, *args, *SLOW_LOCAL)
        try:
            rc = p.wait(timeout=90)
        finally:
            p.stop()
        seconds = time.monotonic() - t0
    finally:
        evil.terminate()
        said = evil.communicate(timeout=15)[0]
    got = int(said.split("received ")[1].split()[0])
    assert rc == 0, p.stderr
    assert_same_frames(png_frames(out), reference_bicubic(clip))
    report = json.loads((tmp_path / "r.json").read_text())
    return p.stderr, got, seconds, report


@pytest.mark.parametrize("mode", ["wrongsize", "wrongseq", "wrongpts", "doneonly"])
def test_a_lying_remote_worker_is_dropped_and_its_frames_done_elsewhere(tmp_path, mode):
    stderr, got, _, report = _listening_run(tmp_path, mode)
    assert got >= 1, "the evil worker never got a frame: the test proves nothing"
    line = "1 worker connection(s) sent invalid results"
    assert line in stderr and any(line in w for w in report["warnings"]), stderr
    assert "Traceback" not in stderr


def test_a_remote_worker_that_never_answers_loses_its_frames_after_its_deadline(tmp_path):
    config = "[pipeline]\nanswer_timeout_s = 1.0\nanswer_factor = 2.0\n"
    stderr, got, seconds, _ = _listening_run(tmp_path, "withhold", config=config)
    assert got >= 1
    assert "1 worker connection(s) held frames without answering past their deadline" in stderr, stderr
    assert seconds < 30  # it held its frames for about 2 s, not until it left (60 s)


def test_junk_at_the_listen_endpoint_costs_no_frame(tmp_path):
    stderr, got, _, _ = _listening_run(tmp_path, "junk")
    assert "bad message(s)" in stderr, stderr
    assert "Traceback" not in stderr


def test_answer_settings_are_checked(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=2).path
    (tmp_path / "c.toml").write_text("[pipeline]\nanswer_factor = 0.5\n")
    r = subprocess.run([*STREAM, str(clip), str(tmp_path / "o.mp4"), "--config", str(tmp_path / "c.toml")],
                       capture_output=True, text=True, timeout=60, env={**os.environ, **QUICK_ENV})
    assert r.returncode == 2 and "answer_factor" in r.stderr and "Traceback" not in r.stderr
