"""Pipeline benchmark (JSON out): each stage alone, end to end, bicubic vs ffmpeg, memory vs video length.

    python benchmarks/pipeline.py --frames 950 --skip-gfn --pairs 5 --out benchmarks/results/pipeline_950.json
    python benchmarks/pipeline.py --frames 190 --skip-gfn --pairs 5 --out benchmarks/results/pipeline_190.json
    python benchmarks/pipeline.py --frames 64 --model-frames 48 --pairs 1 --out benchmarks/results/pipeline_gfn.json

Stages alone, on the same clip, in this process: decode (PyAV → RGB), model (Enhancer, GFN with the shipped
weights unless --weights, on --model-frames frames), encode (4x frames through the sink with the CLI's default
encoder settings). End to end: the real `gfn-stream` CLI in a subprocess (`--report`), both with GFN (on
--model-frames frames of the clip) and with `--model bicubic` (whole clip). `ffmpeg` (Debian's CLI, when on PATH)
does the same 4x bicubic with the same encoder settings, for comparison (else the same job in one process through
PyAV's FFmpeg, frame types left to x264 as the ffmpeg CLI does); --pairs interleaved pairs, median ratio. GFN:
`gfn_pipeline_vs_bare` is gfn-stream's steady fps over the Enhancer's own rate on the same frames. Memory: the
bicubic pipeline on --frames and on 10x --frames frames; the peak RSS of every process should not grow with video
length.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

from gfn_stream.media.frames import Frame
from gfn_stream.media.sink import EncodeOptions, open_sink
from gfn_stream.media.source import open_source
from gfn_stream.models.enhancer import Enhancer


def make_clip(path: Path, width: int, height: int, frames: int, fps: int = 25) -> Path:
    """A synthetic test clip with motion (FFmpeg's testsrc2), H.264, plus an AAC tone."""
    with av.open(f"testsrc2=size={width}x{height}:rate={fps}", format="lavfi") as src, av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": "veryfast", "crf": "20"}
        for i, frame in enumerate(src.decode(video=0)):
            if i == frames:
                break
            frame.pts = None
            for p in vs.encode(frame.reformat(format="yuv420p")):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return path


def decode_alone(clip: Path) -> dict:
    t0 = time.perf_counter()
    n = 0
    with open_source(str(clip)) as src:
        for item in src.items():
            if isinstance(item, Frame):
                n += 1
    dt = time.perf_counter() - t0
    return {"frames": n, "seconds": round(dt, 3), "fps": round(n / dt, 2)}


def first_frames(clip: Path, n: int) -> list[Frame]:
    out = []
    with open_source(str(clip)) as src:
        for item in src.items():
            if isinstance(item, Frame):
                out.append(item)
                if len(out) == n:
                    break
    return out


def model_alone(frames: list[Frame], model: str, weights: str | None, batch: int) -> dict:
    enh = Enhancer(weights, model=model)
    imgs = [f.rgb for f in frames]
    enh.enhance_batch(imgs[:batch])  # warm-up, at the measured batch size
    t0 = time.perf_counter()
    for i in range(0, len(imgs), batch):
        enh.enhance_batch(imgs[i : i + batch])
    dt = time.perf_counter() - t0
    return {"model": model, "device": str(enh.device), "precision": enh.precision, "frames": len(imgs),
            "batch": batch, "seconds": round(dt, 3), "fps": round(len(imgs) / dt, 3)}


def encode_alone(clip: Path, frames: list[Frame], total: int, tmp: Path) -> dict:
    enh = Enhancer(model="bicubic")
    big = [enh.enhance(f.rgb) for f in frames[:8]]
    with open_source(str(clip)) as src:
        info, side = dict(src.info), []
    info["side_streams"] = []
    tb = frames[0].time_base
    step = int(round(1 / (Fraction(25) * tb))) if tb else 1
    out = tmp / "encode_alone.mp4"
    t0 = time.perf_counter()
    with open_sink(str(out), info, side, EncodeOptions(), overwrite=True) as sink:
        for i in range(total):
            sink.write_frame(big[i % len(big)], i * step, tb)
    dt = time.perf_counter() - t0
    return {"frames": total, "size": f"{big[0].shape[1]}x{big[0].shape[0]}", "seconds": round(dt, 3),
            "fps": round(total / dt, 2)}


def run_cli(clip: Path, out: Path, *extra: str) -> dict:
    report = out.with_suffix(".json")
    cmd = [sys.executable, "-m", "gfn_stream.pipeline.cli", str(clip), str(out), "-y", "-q", "--report", str(report),
           *extra]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        return {"error": r.stderr.strip(), "wall_s": round(wall, 3)}
    rep = json.loads(report.read_text())
    return {"wall_s": round(wall, 3), "frames": rep["frames"], "run_s": rep["seconds"], "fps": rep["fps"],
            "first_frame_s": rep["first_frame_s"], "steady_fps": rep["steady_fps"], "peak_rss_mb": rep["peak_rss_mb"]}


def ffmpeg_bicubic(clip: Path, out: Path, preset: str = "veryfast") -> dict | None:
    exe = shutil.which("ffmpeg")
    if not exe:
        return None
    cmd = [exe, "-v", "error", "-y", "-i", str(clip), "-vf", "scale=iw*4:ih*4:flags=bicubic", "-c:v", "libx264",
           "-crf", "18", "-preset", preset, "-pix_fmt", "yuv420p", "-c:a", "copy", str(out)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    return {"wall_s": round(time.perf_counter() - t0, 3), "ok": r.returncode == 0,
            "version": subprocess.run([exe, "-version"], capture_output=True, text=True).stdout.split("\n")[0]}


def pyav_bicubic(clip: Path, out: Path, preset: str = "veryfast") -> dict:
    """What `ffmpeg -i IN -vf scale=iw*4:ih*4:flags=bicubic -c:v libx264 -preset P -crf 18` does, with PyAV's
    own FFmpeg libraries (the baseline where no ffmpeg CLI is installed): threaded decode, swscale bicubic on
    the yuv420p planes, libx264 with its default threads and its own frame-type decisions, in one process."""
    t0 = time.perf_counter()
    with av.open(str(clip)) as src, av.open(str(out), "w") as dst:
        vin = src.streams.video[0]
        vin.thread_type = "AUTO"
        vs = dst.add_stream("libx264", rate=vin.average_rate or 25)
        vs.width, vs.height, vs.pix_fmt = 4 * vin.codec_context.width, 4 * vin.codec_context.height, "yuv420p"
        vs.options = {"preset": preset, "crf": "18"}
        vs.codec_context.time_base = 1 / Fraction(vin.average_rate or 25)
        n = 0
        for frame in src.decode(vin):
            big = frame.reformat(width=vs.width, height=vs.height, format="yuv420p",
                                 interpolation=av.video.reformatter.Interpolation.BICUBIC)
            big.pts, big.time_base = n, vs.codec_context.time_base or Fraction(1, 25)
            # as the ffmpeg CLI does (fftools/ffmpeg_enc.c: frame->pict_type = forced_kf_apply(...)): the encoder
            # decides the frame types. A reformatted frame keeps the decoded one's I/P/B, which libx264 obeys:
            # x264 then skips its own look-ahead decisions (~25% less CPU) and writes ~2x the bits at crf 18.
            big.pict_type = av.video.frame.PictureType.NONE
            for p in vs.encode(big):
                dst.mux(p)
            n += 1
        for p in vs.encode():
            dst.mux(p)
    return {"wall_s": round(time.perf_counter() - t0, 3), "frames": n, "what": "PyAV decode + swscale bicubic + "
            f"libx264 {preset} crf 18 (ffmpeg-equivalent; FFmpeg {av.ffmpeg_version_info})"}


def trim(clip: Path, n: int, out: Path) -> Path:
    """The first n frames of a clip as a new file (stream copy is not frame-exact; re-encode losslessly fast)."""
    frames = first_frames(clip, n)
    with av.open(str(out), "w") as o:
        vs = o.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = frames[0].rgb.shape[1], frames[0].rgb.shape[0], "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "18"}
        for f in frames:
            for p in vs.encode(av.VideoFrame.from_ndarray(f.rgb, format="rgb24")):
                o.mux(p)
        for p in vs.encode():
            o.mux(p)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", help="input clip (default: a generated testsrc2 clip)")
    ap.add_argument("--size", default="320x180", help="size of the generated clip")
    ap.add_argument("--frames", type=int, default=200, help="frames of the generated clip")
    ap.add_argument("--model-frames", type=int, default=32, help="frames for the GFN stage and GFN end to end")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--memory", action="store_true", help="also run bicubic on 10x the frames to compare memory")
    ap.add_argument("--skip-gfn", action="store_true")
    ap.add_argument("--preset", default="veryfast", help="x264 preset of the bicubic comparison (default veryfast)")
    ap.add_argument("--pairs", type=int, default=3, help="interleaved (gfn-stream, ffmpeg) bicubic runs; the median "
                    "ratio is reported")
    ap.add_argument("--out", help="JSON file")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gfn-bench-"))
    try:
        w, h = map(int, args.size.split("x"))
        clip = Path(args.clip) if args.clip else make_clip(tmp / "clip.mp4", w, h, args.frames)
        frames = first_frames(clip, max(args.model_frames, 8))  # decoded once, for the stages alone
        res: dict = {
            "machine": f"{platform.machine()} {os.cpu_count()} cores",
            "clip": str(clip) if args.clip else f"testsrc2 {args.size} x {args.frames} frames",
            "decode_alone": decode_alone(clip),
            "encode_alone": encode_alone(clip, frames, min(args.frames, 100), tmp),
            "bicubic_alone": model_alone(frames, "bicubic", None, args.batch),
        }
        # interleaved pairs (ours, then the one-process job) so both see the same machine; the median ratio
        pairs = []
        for _ in range(args.pairs):
            ours = run_cli(clip, tmp / "bicubic.mp4", "--model", "bicubic", "--preset", args.preset)
            # the ffmpeg CLI where installed, else the same job through PyAV's own FFmpeg (pyav_bicubic)
            ff = ffmpeg_bicubic(clip, tmp / "ffmpeg.mp4", args.preset) or pyav_bicubic(clip, tmp / "ffmpeg.mp4",
                                                                                    args.preset)
            pairs.append((ours, ff))
        ratios = [o["wall_s"] / f["wall_s"] for o, f in pairs if "error" not in o]
        res["pipeline_bicubic"] = pairs[len(pairs) // 2][0]
        res["ffmpeg_bicubic"] = pairs[len(pairs) // 2][1]
        res["bicubic_pairs_wall_s"] = [[o["wall_s"], f["wall_s"]] for o, f in pairs]
        if ratios:
            res["bicubic_vs_ffmpeg_wall"] = round(statistics.median(ratios), 3)
        if not args.skip_gfn:
            # the model alone (the workers' Enhancer, batch --batch, after a warm-up) vs the same frames through
            # gfn-stream with its defaults, in interleaved pairs: the steady rate (first frame excluded) over the
            # bare rate, median over the pairs
            short = trim(clip, args.model_frames, tmp / "short.mp4")
            extra = ["--weights", args.weights] if args.weights else []
            gfn_pairs = []
            for _ in range(args.pairs):
                bare = model_alone(frames[: args.model_frames], "gfn", args.weights, args.batch)
                ours = run_cli(short, tmp / "gfn.mp4", *extra, "--batch", str(args.batch))
                gfn_pairs.append((bare, ours))
            res["gfn_alone"], res["pipeline_gfn"] = gfn_pairs[len(gfn_pairs) // 2]
            res["gfn_pairs_fps"] = [[b["fps"], o.get("steady_fps")] for b, o in gfn_pairs]
            ratios = [o["steady_fps"] / b["fps"] for b, o in gfn_pairs if o.get("steady_fps")]
            if ratios:
                res["gfn_pipeline_vs_bare"] = round(statistics.median(ratios), 3)
        stage = min(res["decode_alone"]["fps"], res["encode_alone"]["fps"], res["bicubic_alone"]["fps"])
        if res["pipeline_bicubic"].get("steady_fps"):
            res["bicubic_end_to_end_vs_slowest_stage"] = round(res["pipeline_bicubic"]["steady_fps"] / stage, 3)
        if args.memory:
            res["memory_peak_rss_mb"] = {}
            for n in (args.frames, args.frames * 10):
                c = make_clip(tmp / f"mem{n}.mp4", w, h, n)
                r = run_cli(c, tmp / f"mem{n}_out.mp4", "--model", "bicubic", "--preset", "ultrafast")
                res["memory_peak_rss_mb"][f"{n}_frames"] = r.get("peak_rss_mb", r)
        text = json.dumps(res, indent=2)
        print(text)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(text + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
