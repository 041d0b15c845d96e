"""A/V sync: a white flash and a beep at the same instant stay together (or keep the input's offset) in
.mp4/.mov/.mkv outputs: stream start offsets and codec priming (edit lists) survive."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gfn_stream.media.sink import EncodeOptions

sys.path.insert(0, str(Path(__file__).parent))  # tests/*.py helpers (pytest runs with --import-mode=importlib)
from syncmedia import make_sync_clip, offset_ms, sync_times  # noqa: E402
from test_sink import transcode  # noqa: E402

TOLERANCE_MS = 5.0  # an eighth of a 25 fps frame; one AAC frame is 21.3 ms


@pytest.mark.parametrize("src_name,kwargs", [
    ("aac.mp4", {}),                                       # AAC priming: edit list in the input
    ("mp3.mp4", {"audio": "libmp3lame"}),                  # MP3 encoder delay
    ("late.mkv", {"video_start": 0.5}),                    # video starts 0.5 s after the audio
    ("late.mp4", {"video_start": 0.5}),
    ("offset.ts", {"start_offset": 10.0}),                 # both start at 10 s
    ("pcm.mov", {"audio": "pcm_s16le"}),
    ("opus.mkv", {"audio": "libopus"}),                    # Opus pre-skip; re-encoded to AAC for .mov
])
@pytest.mark.parametrize("dst_ext", [".mp4", ".mov", ".mkv"])
def test_flash_and_beep_keep_their_offset(tmp_path, src_name, kwargs, dst_ext):
    src = make_sync_clip(tmp_path / src_name, **kwargs)
    want = -500.0 if kwargs.get("video_start") else 0.0
    assert offset_ms(src) == pytest.approx(want, abs=1.0)
    dst = tmp_path / f"out{dst_ext}"
    transcode(src, dst, EncodeOptions(preset="ultrafast"))
    assert offset_ms(dst) == pytest.approx(want, abs=TOLERANCE_MS)
    flash, beep = sync_times(dst)
    assert min(flash, beep) < 1.1  # one timeline from 0: a +10 s start offset is not kept as 10 s of nothing


def test_cli_keeps_sync_for_late_video_and_reencoded_audio(tmp_path):
    """The real pipeline (decoder, worker, encoder processes): .mkv with late video -> .mp4, Opus -> .mov."""
    late = make_sync_clip(tmp_path / "late.mkv", video_start=0.5)
    opus = make_sync_clip(tmp_path / "opus.mkv", audio="libopus")
    for src, dst, want in ((late, tmp_path / "late.mp4", -500.0), (opus, tmp_path / "opus.mov", 0.0)):
        r = subprocess.run([sys.executable, "-m", "gfn_stream.pipeline.cli", str(src), str(dst), "--model", "bicubic",
                            "--preset", "ultrafast", "-q"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert offset_ms(dst) == pytest.approx(want, abs=TOLERANCE_MS)
