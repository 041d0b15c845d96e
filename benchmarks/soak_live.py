"""Soak a live run: a local RTSP camera (gst-rtsp-server, endless test source) → gfn-stream with 60 s segments for
--minutes; samples the resident memory of every gfn-stream process; JSON out.

    python benchmarks/soak_live.py --minutes 11 --out benchmarks/results/soak.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from rtsp_server import RtspServer, available  # noqa: E402


def tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            children = []
        todo.extend(int(c) for c in children)
    return out


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=11)
    ap.add_argument("--size", default="160x120")
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--model", default="bicubic")
    ap.add_argument("--every", type=float, default=15.0, help="seconds between memory samples")
    ap.add_argument("--out")
    args = ap.parse_args()
    if available():
        sys.exit(f"no RTSP server: {available()}")
    w, h = map(int, args.size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="gfn-soak-"))
    samples = []
    with RtspServer(width=w, height=h, fps=args.fps, key_int=args.fps) as cam:
        cmd = [sys.executable, "-m", "gfn_stream.pipeline.cli", cam.url, str(tmp / "seg-%H%M%S.mp4"), "--segment", "60",
               "--model", args.model, "--preset", "veryfast", "--duration", str(args.minutes * 60), "-q",
               "--report", str(tmp / "report.json")]
        p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        while p.poll() is None:
            time.sleep(args.every)
            pids = tree(p.pid)
            samples.append({"t_s": round(time.monotonic() - t0, 1),
                            "rss_mb": {str(q): rss_mb(q) for q in pids if rss_mb(q) is not None}})
        err = p.stderr.read()
    report = json.loads((tmp / "report.json").read_text()) if (tmp / "report.json").exists() else {}
    totals = [sum(s["rss_mb"].values()) for s in samples if s["rss_mb"]]
    third = max(1, len(totals) // 3)
    result = {
        "minutes": args.minutes,
        "camera": f"{args.size} @ {args.fps} fps (gst-rtsp-server videotestsrc, endless)",
        "exit_code": p.returncode,
        "stderr_tail": err[-500:],
        "segments": len(list(tmp.glob("seg-*.mp4"))),
        "live": report.get("live"),
        "total_rss_mb_first_third_mean": round(sum(totals[:third]) / third, 1) if totals else None,
        "total_rss_mb_last_third_mean": round(sum(totals[-third:]) / third, 1) if totals else None,
        "total_rss_mb_max": max(totals) if totals else None,
        "samples": samples,
    }
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
