"""Inputs that are not what they seem, and the tool says so: image sequences with gaps, damaged files,
a resolution change in a file, --max-fps/--duration on files, frames too big to process. Real files, the
real CLI in subprocesses where the behaviour is end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from gfn_stream.nodes import sequence
from gfn_stream.nodes.source import Frame, SourceError, open_source

sys.path.insert(0, str(Path(__file__).parent))  # tests/media.py (pytest runs with --import-mode=importlib)
from media import make_clip, make_sequence, pattern  # noqa: E402

CLI = [sys.executable, "-m", "gfn_stream.pipeline.cli"]


def run_cli(*args, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args), "--model", "bicubic", "--preset", "ultrafast"],
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def frames_of(path) -> list[Frame]:
    with open_source(path) as src:
        return [it for it in src.items() if isinstance(it, Frame)]


def decoded(path) -> tuple[list[np.ndarray], list[float]]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        return [f.to_ndarray(format="rgb24") for f in frames], [float(f.pts * f.time_base) for f in frames]


# ---------------------------------------------------------------------------------------------- sequences
def test_sequence_gap_reads_every_file_in_order(tmp_path):
    make_sequence(tmp_path / "f_%04d.png", 10, width=20, height=10)
    os.remove(tmp_path / "f_0005.png")
    os.remove(tmp_path / "f_0008.png")
    with open_source(tmp_path / "f_%04d.png", rate=10) as src:
        frames = [it for it in src.items() if isinstance(it, Frame)]
        assert src.warnings[0].startswith(f"image sequence {tmp_path}/f_%04d.png has 2 missing number(s)")
        assert "f_0005.png, f_0008.png" in src.warnings[0]
        assert src.info["frames"] == 8 and src.info["missing_images"] == 2
    present = [0, 1, 2, 3, 5, 6, 8, 9]  # pattern index = number - 1
    assert len(frames) == 8
    for f, i in zip(frames, present):
        np.testing.assert_array_equal(f.rgb, pattern(i, 20, 10))
    assert [f.pts * f.time_base for f in frames] == [Fraction(k, 10) for k in range(8)]


def test_complete_sequence_has_no_warning(tmp_path):
    make_sequence(tmp_path / "f_%03d.png", 3, start=7)
    with open_source(tmp_path / "f_%03d.png") as src:
        assert len([it for it in src.items() if isinstance(it, Frame)]) == 3 and src.warnings == []


def test_sequence_scan(tmp_path):
    for name in ("a_1.png", "a_2.png", "a_10.png", "a_007.png", "b_3.png"):
        (tmp_path / name).write_bytes(b"")
    files = sequence.scan(str(tmp_path / "a_%d.png"))
    assert files.numbers == [1, 2, 10] and files.missing == list(range(3, 10))  # a_007 is not what %d writes
    assert "7 missing number(s) between 1 and 10 (a_3.png, a_4.png" in files.warning()
    with pytest.raises(sequence.SequenceError, match="no images match"):
        sequence.scan(str(tmp_path / "c_%04d.png"))
    with pytest.raises(SourceError, match="folder not found"):
        open_source(tmp_path / "nowhere" / "%04d.png")


def test_cli_sequence_gap_video_out(tmp_path):
    make_sequence(tmp_path / "f_%04d.png", 10, width=16, height=12)
    os.remove(tmp_path / "f_0005.png")
    report = tmp_path / "r.json"
    r = run_cli(tmp_path / "f_%04d.png", tmp_path / "o.mp4", "--report", report)
    assert r.returncode == 0, r.stderr
    assert "warning: image sequence" in r.stderr and "f_0005.png" in r.stderr
    frames, _ = decoded(tmp_path / "o.mp4")
    assert len(frames) == 9
    assert any("missing number" in w for w in json.loads(report.read_text())["warnings"])
