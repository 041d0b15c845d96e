"""Frame-exact resume (`--resume`): a job killed with SIGKILL (the launcher, at two different points) and resumed
gives the same video frames (framemd5 of the decoded pictures), the same packet timestamps and the same audio as
an uninterrupted run; a resume with other settings or another input is refused; nothing is left after success.
Real encoded files and real gfn-stream processes (tiny GFN weights on the CPU); the writer also in-process."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest
from workers_kit import STREAM, Proc, run

from gfn_stream.media.chunk_sink import ChunkSink
from gfn_stream.media.frames import Frame
from gfn_stream.media.resume_journal import Journal, ResumeError, chunk_folder
from gfn_stream.media.sink import EncodeOptions, VideoSink
from gfn_stream.media.source import open_source
from media import make_clip

CHUNK = 6
SLOW = ("--test-fault", "delay_ms=120")  # the job lasts long enough to be killed mid-way


def streams(path: Path) -> dict:
    """framemd5 of every decoded picture, and (pts, dts) of every packet, per stream type."""
    out: dict = {}
    with av.open(str(path)) as c:
        for s in c.streams:
            out[s.type] = {"ts": [], "md5": []}
        for p in c.demux():
            if p.size:
                out[p.stream.type]["ts"].append((p.pts, p.dts, p.is_keyframe))
    with av.open(str(path)) as c:
        out["video"]["md5"] = [hashlib.md5(f.to_ndarray().tobytes()).hexdigest() for f in c.decode(video=0)]
    return out


def journal_chunks(out: Path) -> int:
    try:
        return len(json.loads((Path(chunk_folder(out)) / "journal.json").read_text())["chunks"])
    except (OSError, ValueError):
        return 0


# ---------------------------------------------------------------------------------------------- in-process
def _write(items, info, side, out: Path, stop_after: int | None = None, codec: str = "libx264") -> None:
    """One run of the writer, in this process."""
    folder = chunk_folder(out)
    journal = Journal.load(folder) or Journal.create(folder, {"input": {}, "settings": {}, "weights": None},
                                                     threads=2, chunk_frames=CHUNK)
    journal.sweep()
    skip, n = journal.done_frames, 0
    with ChunkSink(str(out), info, side, EncodeOptions(codec=codec), journal) as sink:
        for item in items:
            if isinstance(item, Frame):
                if n >= skip:
                    sink.write_frame(item.rgb, item.pts, item.time_base, item.duration)
                n += 1
                if n == stop_after:
                    return  # killed: the chunk being encoded is lost
            else:
                sink.write_packet(item)
        sink.finish()


_CHILD = """
import sys
from pathlib import Path
from gfn_stream.media.chunk_sink import ChunkSink
from gfn_stream.media.encode_options import EncodeOptions
from gfn_stream.media.frames import Frame
from gfn_stream.media.resume_journal import Journal, chunk_folder
from gfn_stream.media.source import open_source

clip, out, stop_after, codec, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
folder = chunk_folder(out)
journal = Journal.load(folder) or Journal.create(folder, {"input": {}, "settings": {}, "weights": None},
                                                 threads=2, chunk_frames=chunk)
journal.sweep()
skip, n = journal.done_frames, 0
with open_source(clip) as src, ChunkSink(out, src.info, src.side_buffers, EncodeOptions(codec=codec), journal) as sink:
    for item in src.items():
        if isinstance(item, Frame):
            if n >= skip:
                sink.write_frame(item.rgb, item.pts, item.time_base, item.duration)
            n += 1
            if n == stop_after:
                sys.exit(0)  # killed: the chunk being encoded is lost
        else:
            sink.write_packet(item)
    sink.finish()
"""


def _run_in_child(clip: Path, out: Path, stop_after: int | None = None, codec: str = "libx264") -> None:
    """One run of the writer (as _write) in a process of its own, as every gfn-stream run is."""
    r = subprocess.run([sys.executable, "-c", _CHILD, str(clip), str(out), str(stop_after or 0), codec, str(CHUNK)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("ext, codec", [(".mp4", "libx264"), (".mkv", "libx264"), (".webm", "libvpx-vp9"),
                                        (".mkv", "ffv1")])
def test_chunks_resumed_twice_equal_one_pass_and_the_plain_writer_s_timestamps(tmp_path, ext, codec):
    # .webm: VP9 chunks, and the AAC re-encoded to Opus by the final join (side_streams.py routes); ffv1: lossless
    # 29.97 fps in 1/30000 (an MP4 edit list rounds a late start to 1/1000 s: the journal puts it back)
    # 128x96, the size of the tiny clips' 4x output (tiny 32x24 x264 encodes were not always bit-identical)
    clip = make_clip(tmp_path / "in.mp4", width=128, height=96, frames=20, audio="aac", fps=Fraction(30000, 1001),
                     time_base=Fraction(1, 30000), pts=[i * 1001 for i in range(20)])
    with open_source(clip.path) as src:
        info, side, items = src.info, src.side_buffers, list(src.items())
    whole, resumed, plain = (tmp_path / f"{n}{ext}" for n in ("whole", "resumed", "plain"))
    _run_in_child(clip.path, whole, codec=codec)
    _run_in_child(clip.path, resumed, CHUNK + 3, codec)  # 1 chunk done, 3 frames lost
    _run_in_child(clip.path, resumed, 3 * CHUNK + 1, codec)  # 3 chunks done
    assert Journal.load(chunk_folder(resumed)).done_frames == 3 * CHUNK
    _run_in_child(clip.path, resumed, codec=codec)
    assert streams(resumed) == streams(whole)
    assert not os.path.exists(chunk_folder(resumed)) and not os.path.exists(chunk_folder(whole))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.mp4", f"whole{ext}", f"resumed{ext}"])
    with VideoSink(str(plain), info, side, EncodeOptions(codec=codec)) as sink:
        for item in items:
            if isinstance(item, Frame):
                sink.write_frame(item.rgb, item.pts, item.time_base, item.duration)
            else:
                sink.write_packet(item)
    a, b = streams(whole), streams(plain)
    assert sorted(t[0] for t in a["video"]["ts"]) == sorted(t[0] for t in b["video"]["ts"])  # every frame's pts
    assert a["audio"] == b["audio"]  # the same audio packets at the same times
    keyframes = [i for i, t in enumerate(a["video"]["ts"]) if t[2]]
    assert keyframes[: 4] == [0, CHUNK, 2 * CHUNK, 3 * CHUNK]  # every chunk starts with an IDR frame


def test_a_job_stopped_after_its_last_chunk_only_joins_on_resume(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", width=128, height=96, frames=3 * CHUNK, audio="aac")
    with open_source(clip.path) as src:
        info, side, items = src.info, src.side_buffers, list(src.items())
    whole, resumed = tmp_path / "whole.mp4", tmp_path / "resumed.mp4"
    _write(items, info, side, whole)
    _write(items, info, side, resumed, stop_after=3 * CHUNK)  # every chunk done, killed before the join
    assert Journal.load(chunk_folder(resumed)).done_frames == 3 * CHUNK and not resumed.exists()
    _write(items, info, side, resumed)  # no frame to encode: the spool is rebuilt and the chunks joined
    assert streams(resumed) == streams(whole)


def test_the_encoder_joins_the_chunks_only_when_the_input_was_read_to_its_end(tmp_path):
    from gfn_stream.media.outputs import finish_output

    clip = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=CHUNK + 2)
    with open_source(clip.path) as src:
        info, side, items = src.info, src.side_buffers, list(src.items())
    out = tmp_path / "out.mp4"
    journal = Journal.create(chunk_folder(out), {"input": {}, "settings": {}, "weights": None}, threads=2,
                             chunk_frames=CHUNK)
    with ChunkSink(str(out), info, side, EncodeOptions(), journal) as sink:
        for item in items:
            if isinstance(item, Frame):
                sink.write_frame(item.rgb, item.pts, item.time_base, item.duration)
        assert finish_output(sink, interrupted=True) is False and not out.exists()  # a stopped decoder: not done
        assert finish_output(sink, interrupted=False) is True and out.exists()
    assert not os.path.exists(chunk_folder(out))
    assert finish_output(None, interrupted=True) is True  # other outputs finish by closing


def test_journal_refuses_another_input_settings_or_weights(tmp_path):
    job = {"input": {"path": "/a.mp4", "size": 10, "mtime_ns": 1, "sha256": "x"}, "settings": {"encode.crf": 18},
           "weights": "w"}
    journal = Journal.create(str(tmp_path / "o.mp4.resume"), job, threads=2, chunk_frames=CHUNK)
    journal.check(job)
    cases = [({"input": {**job["input"], "path": "/b.mp4"}}, "another input"),
             ({"input": {**job["input"], "size": 11}}, "changed since the interrupted run"),
             ({"settings": {"encode.crf": 20}}, "encode.crf 18 -> 20"),
             ({"weights": "v"}, "weights differ")]
    for change, message in cases:
        with pytest.raises(ResumeError, match=message):
            journal.check({**job, **change})
    (tmp_path / "o.mp4.resume" / "journal.json").write_text("{not json")
    with pytest.raises(ResumeError, match="cannot read"):
        Journal.load(str(tmp_path / "o.mp4.resume"))


def test_a_failed_resumable_run_says_what_is_kept_and_how_to_go_on(tmp_path):
    from gfn_stream.media.resume_journal import Chunk
    from gfn_stream.pipeline.config import RunConfig
    from gfn_stream.pipeline.report import RunResult
    from gfn_stream.pipeline.resume import ResumePlan, conclude

    out = tmp_path / "out.mp4"
    journal = Journal.create(chunk_folder(out), {"input": {}, "settings": {}, "weights": None}, threads=1,
                             chunk_frames=CHUNK)
    plan = ResumePlan(chunk_folder(out), 0, 0)
    cfg = RunConfig(input="in.mp4", output=str(out), resume=True)
    failed = RunResult(5, f"worker 1 died; {out} holds 9 frame(s)")
    assert conclude(cfg, plan, failed).message == failed.message  # nothing done: the empty folder goes
    assert not os.path.exists(chunk_folder(out))
    journal = Journal.create(chunk_folder(out), {"input": {}, "settings": {}, "weights": None}, threads=1,
                             chunk_frames=CHUNK)
    journal.record(Chunk("chunk-000000.mp4", 0, CHUNK, 1, "x", 0, 5, 1, [1, 25]))
    assert conclude(cfg, plan, failed).message == (
        f"worker 1 died; {CHUNK} frame(s) are done in {chunk_folder(out)} (1 chunk(s)); run the same command with "
        "--resume to continue")
    assert conclude(cfg, plan, RunResult(130, "interrupted: x")).message.startswith(f"interrupted: {CHUNK} frame(s)")


# ---------------------------------------------------------------------------------------------- real processes
@pytest.fixture(scope="module")
def job(tmp_path_factory, tiny_weights):
    d = tmp_path_factory.mktemp("resume")
    weights = tiny_weights
    config = d / "chunks.toml"
    config.write_text(f"[pipeline]\nresume_chunk = {CHUNK}\n")
    clip = make_clip(d / "in.mp4", frames=30, audio="aac")
    args = ["--weights", weights, "--device", "cpu", "--preset", "veryfast", "--config", config, "--resume"]
    whole = d / "whole.mp4"
    r = run(STREAM, clip.path, whole, *args, "-q", timeout=240, env={"TMPDIR": str(d)})
    assert r.returncode == 0, r.stderr
    return clip, args, streams(whole), d


def _kill_after(clip, out: Path, args: list, chunks: int, tmp: Path, everything: bool = False) -> None:
    """Start the job (or go on with it) and SIGKILL the launcher once the journal lists `chunks` chunks
    (everything: every process of the run at once, as a power cut would: no clean-up code runs anywhere)."""
    p = Proc(STREAM, clip.path, out, *args, *SLOW, env={"TMPDIR": str(tmp)}, start_new_session=everything)
    try:
        deadline = time.monotonic() + 180
        while journal_chunks(out) < chunks and p.p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert p.p.poll() is None, f"the job ended before it could be killed:\n{p.stderr}"
        if everything:
            os.killpg(p.p.pid, signal.SIGKILL)
        else:
            os.kill(p.p.pid, signal.SIGKILL)
        assert p.wait(timeout=30) == -signal.SIGKILL
    finally:
        p.stop()
    # no waiting here: the nodes of a killed launcher get SIGTERM from the kernel (nodes/parent_watch.py), and the
    # next run waits for the old encoder to let go of the chunk folder (it drops its unfinished chunk first)


def test_sigkill_at_two_points_then_resume_is_frame_and_timestamp_identical(job, tmp_path):
    clip, args, whole, d = job
    out = tmp_path / "out.mp4"
    _kill_after(clip, out, args, 1, tmp_path)
    first = journal_chunks(out)
    assert 1 <= first and not out.exists()
    _kill_after(clip, out, args, first + 1, tmp_path)  # killed again, resumed from where the first run stopped
    second = journal_chunks(out)
    assert second > first
    r = run(STREAM, clip.path, out, *args, timeout=240, env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert f"gfn-stream: {30 - second * CHUNK} frames in" in r.stderr  # only the frames not done were upscaled
    got = streams(out)
    assert got["video"]["md5"] == whole["video"]["md5"] and len(got["video"]["md5"]) == 30
    assert got == whole  # video and audio packets: pts, dts, keyframes
    assert not os.path.exists(chunk_folder(out))  # cleaned up after success
    # (the killed launchers' own temp dirs, gfn-stream-* and multiprocessing's pymp-*, are not the job's)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(("gfn-stream-", "pymp-"))) == ["out.mp4"]


def test_every_process_killed_at_once_leaves_a_journal_that_resumes_identically(job, tmp_path):
    clip, args, whole, d = job
    out = tmp_path / "out.mp4"
    _kill_after(clip, out, args, 2, tmp_path, everything=True)
    left = sorted(p.name for p in Path(chunk_folder(out)).iterdir())
    assert "journal.json" in left and "side.spool" in left  # and maybe the chunk that was being encoded
    r = run(STREAM, clip.path, out, *args, "-q", timeout=240, env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert streams(out) == whole
    assert not os.path.exists(chunk_folder(out))


def test_resume_with_other_settings_or_input_is_refused(job, tmp_path):
    clip, args, _, d = job
    out = tmp_path / "out.mp4"
    p = Proc(STREAM, clip.path, out, *args, *SLOW, env={"TMPDIR": str(tmp_path)})
    try:
        deadline = time.monotonic() + 180
        while journal_chunks(out) < 1 and p.p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        p.p.send_signal(signal.SIGINT)  # Ctrl-C: the message says how to go on
        assert p.wait(timeout=60) == 130
    finally:
        p.stop()
    assert "run the same command with --resume to continue" in p.stderr.strip().splitlines()[-1], p.stderr
    r = run(STREAM, clip.path, out, *args, "--crf", "30", timeout=60, env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 2 and "settings differ" in r.stderr and "encode.crf" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    other = make_clip(tmp_path / "other.mp4", frames=30, audio="aac")
    r = run(STREAM, other.path, out, *args, timeout=60, env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 2 and "another input" in r.stderr, r.stderr
    plain = [a for a in args if a != "--resume"]
    r = run(STREAM, clip.path, out, *plain, timeout=60, env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 4 and "holds an interrupted resumable job" in r.stderr, r.stderr
    assert journal_chunks(out) >= 1  # refusals touch nothing
    r = run(STREAM, clip.path, out, *args, "-q", timeout=240, env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(chunk_folder(out))


def test_resume_needs_a_video_file_output(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=2)
    r = subprocess.run([*STREAM, str(clip.path), str(tmp_path / "f_%04d.png"), "--resume", "--model", "bicubic"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 4 and "--resume needs a video file output" in r.stderr, r.stderr
