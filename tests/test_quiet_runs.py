"""-q keeps what matters and nothing else: a clean run prints nothing; an interrupted one prints its one line
(no "gave up on 0 frame(s)", no "left holding 16 frame(s)" for frames nobody lost). Real gfn-stream runs."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from workers_kit import QUICK_ENV, STREAM, Proc

from media import make_clip


def test_a_clean_quiet_run_prints_nothing(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=60).path
    for i in range(3):  # the end-of-run race showed up in about one run of four
        r = subprocess.run([*STREAM, str(clip), str(tmp_path / f"o{i}.mp4"), "--model", "bicubic", "-q",
                            "--preset", "ultrafast"], capture_output=True, text=True, timeout=90,
                           env={**os.environ, **QUICK_ENV})
        assert r.returncode == 0 and r.stderr == "", r.stderr


def test_sigterm_gives_exactly_one_line(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=300).path  # about 12 s at 4 frames per 150 ms
    out = tmp_path / "out.mp4"
    p = Proc(STREAM, clip, out, "--model", "bicubic", "-q", "--test-fault", "delay_ms=150")
    try:
        time.sleep(4)  # started, frames going through
        p.p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
    finally:
        p.stop()
    lines = p.stderr.strip().splitlines()
    assert rc == 130 and len(lines) == 1 and "interrupted:" in lines[0], p.stderr
