"""A real RTSP camera for tests: Debian's gst-rtsp-server on 127.0.0.1, run by the system Python
(/usr/bin/python3 with python3-gi), never by the venv.

    from rtsp_server import RtspServer, rtsp_server        # rtsp_server: a pytest fixture (a started server)
    with RtspServer(width=64, height=48, fps=15, audio=True) as cam:
        url = cam.url                                      # rtsp://127.0.0.1:PORT/cam
        cam.kill()                                         # the camera dies mid-stream (SIGKILL)
        cam.start()                                        # ... and comes back on the same port
        cam.pause(); cam.resume()                          # SIGSTOP / SIGCONT: a stalled camera
        cam.restart(width=80, height=64)                   # comes back at another resolution
    with PushReceiver("rtsp") as rx:                       # a server that receives a push (FFmpeg listener)
        ...push to rx.url...; rx.result()                  # {"frames": n, "sizes": [[w, h]], ...}

The camera is a live H.264 test source (videotestsrc is-live=true, x264enc zerolatency, a keyframe every
`key_int` frames so a client that (re)connects decodes within that many frames), optionally with AAC audio
(audiotestsrc → voaacenc → rtpmp4gpay), served by one shared RTSPMediaFactory at /cam.

Needs: /usr/bin/python3 with python3-gi and the packages gir1.2-gst-rtsp-server-1.0 gir1.2-gstreamer-1.0
gstreamer1.0-plugins-{base,good,ugly} (plus -bad for voaacenc when audio=True; gst-rtsp-server pulls it in).
`available()` says whether they are there; the fixture skips the test with the reason when they are not.

This file is also the server program: `/usr/bin/python3 tests/rtsp_server.py --port P ...` prints
"READY <port>" on stdout once it listens. Module-level imports are stdlib only, so both Pythons can load it.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
START_TIMEOUT_S = 15.0
_HERE = Path(__file__).resolve()
_missing: list[str] = []  # cached reason from available()


# ---------------------------------------------------------------------------------------------- client side
def available() -> str | None:
    """None when an RTSP test server can run here, else the reason it cannot (for pytest.skip)."""
    if _missing:
        return _missing[0] or None
    reason = None
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        reason = f"{SYSTEM_PYTHON} (Debian's Python with python3-gi) is missing"
    else:
        probe = (
            "import gi; gi.require_version('Gst','1.0'); gi.require_version('GstRtspServer','1.0');"
            "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
            "missing=[e for e in ('videotestsrc','x264enc','rtph264pay','audiotestsrc','voaacenc','rtpmp4gpay')"
            " if Gst.ElementFactory.find(e) is None]; print(' '.join(missing))"
        )
        try:
            out = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True, timeout=30,
                                 env=_clean_env())
        except (OSError, subprocess.TimeoutExpired) as e:
            reason = f"cannot run {SYSTEM_PYTHON}: {e}"
        else:
            if out.returncode != 0:
                last = (out.stderr.strip().splitlines() or ["?"])[-1]
                reason = ("gst-rtsp-server for the system Python is not installed (apt-get install "
                          f"gir1.2-gst-rtsp-server-1.0 python3-gi ...): {last}")
            elif out.stdout.strip():
                missing = out.stdout.split()
                if set(missing) - {"voaacenc", "audiotestsrc", "rtpmp4gpay"}:
                    reason = f"GStreamer elements missing: {' '.join(missing)}"
                else:
                    _missing.append("")
                    _NO_AUDIO.append(f"GStreamer audio elements missing: {' '.join(missing)}")
                    return None
    _missing.append(reason or "")
    return reason


_NO_AUDIO: list[str] = []


def audio_available() -> str | None:
    """None when the server can add AAC audio, else the reason."""
    return available() or (_NO_AUDIO[0] if _NO_AUDIO else None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RtspServer:
    """One test camera process. Start/kill/restart keep the port, so a client's URL stays valid."""

    def __init__(self, *, width: int = 64, height: int = 48, fps: int = 15, key_int: int | None = None,
                 audio: bool = False, port: int | None = None, path: str = "/cam", pattern: str = "ball") -> None:
        self.width, self.height, self.fps = width, height, fps
        self.key_int = key_int or max(1, fps // 3)  # a keyframe 3x a second: reconnects decode fast
        self.audio, self.pattern, self.path = audio, pattern, path
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.started_at: float | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.path}"

    def start(self, **changes) -> RtspServer:
        """Start the server (again), optionally with other settings (width, height, fps, key_int, audio)."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("the RTSP test server is already running")
        for key, value in changes.items():
            if not hasattr(self, key):
                raise TypeError(f"unknown RtspServer setting {key!r}")
            setattr(self, key, value)
        cmd = [SYSTEM_PYTHON, str(_HERE), "--port", str(self.port), "--path", self.path,
               "--width", str(self.width), "--height", str(self.height), "--fps", str(self.fps),
               "--key-int", str(self.key_int), "--pattern", self.pattern] + (["--audio"] if self.audio else [])
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # the port may still be held for a moment right after a kill
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_clean_env(),
                                         start_new_session=True)
            line = _read_line(self.proc, deadline)
            if line.startswith("READY"):
                self.started_at = time.monotonic()
                return self
            err = self._reap()
            if "bind" in err.lower() and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise RuntimeError(f"the RTSP test server did not start: {err.strip()[-500:] or line or 'no output'}")

    def kill(self) -> None:
        """The camera dies: SIGKILL, no RTSP TEARDOWN, connections reset."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self._reap()

    def stop(self) -> None:
        """Orderly end (SIGTERM, then SIGKILL after 3 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._reap()

    def restart(self, **changes) -> RtspServer:
        self.kill()
        return self.start(**changes)

    def pause(self) -> None:
        """The camera stalls: SIGSTOP keeps its sockets open but sends nothing more."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _reap(self) -> str:
        proc, self.proc = self.proc, None
        if proc is None:
            return ""
        try:
            os.kill(proc.pid, signal.SIGCONT)  # a paused server must be able to die
        except ProcessLookupError:
            pass
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        return err.decode(errors="replace") if err else ""

    def __enter__(self) -> RtspServer:
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def _read_line(proc: subprocess.Popen, deadline: float) -> str:
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            return proc.stdout.readline().decode(errors="replace").strip()
        if proc.poll() is not None:
            return ""
    return ""


def _clean_env() -> dict[str, str]:
    """The system Python must not see the venv (its site-packages, its PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["GST_DEBUG"] = env.get("GST_DEBUG_RTSP_TEST", "0")
    return env


class PushReceiver:
    """A server that receives a push, in its own process (the venv's Python with PyAV): FFmpeg's RTSP
    listener (rtsp_flags=listen: ANNOUNCE/RECORD) or RTMP listener (listen=1). It decodes what arrives and,
    when the publisher goes away, reports {"frames": n, "sizes": [[w, h]], "first_pts": ..., "error": ...}.

        with PushReceiver("rtsp") as rx:       # rx.url: where to push
            ...push...
            result = rx.result(timeout=5)
    """

    def __init__(self, kind: str = "rtsp", port: int | None = None) -> None:
        self.kind = kind
        self.port = port or free_port()
        self.url = (f"rtsp://127.0.0.1:{self.port}/live" if kind == "rtsp"
                    else f"rtmp://127.0.0.1:{self.port}/live/stream")
        self.proc: subprocess.Popen | None = None

    def start(self) -> PushReceiver:
        env = dict(os.environ)
        self.proc = subprocess.Popen([sys.executable, str(_HERE), "--receive", self.kind, "--port", str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                     start_new_session=True)
        line = _read_line(self.proc, time.monotonic() + START_TIMEOUT_S)
        if not line.startswith("LISTENING"):
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
            raise RuntimeError(f"push receiver did not start: {line} {err[-300:]}")
        time.sleep(0.3)  # the listening socket is bound inside av.open, right after this line
        return self

    def result(self, timeout: float = 10.0) -> dict:
        import json

        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("the push receiver did not finish") from None
        lines = [ln for ln in out.decode(errors="replace").splitlines() if ln.startswith("{")]
        if not lines:
            raise RuntimeError(f"no result from the push receiver: {err.decode(errors='replace')[-300:]}")
        return json.loads(lines[-1])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()

    def __enter__(self) -> PushReceiver:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def receive(kind: str, port: int) -> int:
    """The receiver program (venv Python): listen once, decode until the publisher leaves, print JSON."""
    import json

    import av

    if kind == "rtsp":
        url, fmt, opts = f"rtsp://127.0.0.1:{port}/live", "rtsp", {"rtsp_flags": "listen", "listen_timeout": "20"}
    else:
        url, fmt, opts = f"rtmp://127.0.0.1:{port}/live/stream", "flv", {"listen": "1", "timeout": "20"}
    print("LISTENING", flush=True)
    result = {"frames": 0, "sizes": [], "first_pts": None, "audio_packets": 0, "error": None, "streams": []}
    try:
        with av.open(url, format=fmt, options=opts) as c:
            result["streams"] = [s.type for s in c.streams]
            streams = [s for s in c.streams if s.type in ("video", "audio")]
            for packet in c.demux(*streams):
                if packet.stream.type == "audio":
                    result["audio_packets"] += bool(packet.size)
                    continue
                for frame in packet.decode():
                    result["frames"] += 1
                    if [frame.width, frame.height] not in result["sizes"]:
                        result["sizes"].append([frame.width, frame.height])
                    if result["first_pts"] is None:
                        result["first_pts"] = frame.pts
    except Exception as e:  # the publisher going away ends RTMP with an I/O error
        result["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(result), flush=True)
    return 0


try:  # the fixture, for the venv's pytest; the system Python need not have pytest
    import pytest
except ImportError:  # pragma: no cover - running as the server program
    pytest = None

if pytest is not None:
    def require_rtsp(audio: bool = False) -> None:
        reason = audio_available() if audio else available()
        if reason:
            pytest.skip(f"no RTSP test server: {reason}")

    @pytest.fixture
    def rtsp_server():
        """A started 64x48 @ 15 fps camera without audio; killed after the test."""
        require_rtsp()
        server = RtspServer().start()
        try:
            yield server
        finally:
            server.kill()


# ---------------------------------------------------------------------------------------------- server side
def serve(args: argparse.Namespace) -> int:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    video = (f"videotestsrc is-live=true pattern={args.pattern} ! "
             f"video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1 ! "
             f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.key_int} threads=1 ! "
             "rtph264pay name=pay0 pt=96 config-interval=1")
    audio = ("audiotestsrc is-live=true wave=sine freq=440 volume=0.2 ! "
             "audio/x-raw,rate=48000,channels=1 ! audioconvert ! voaacenc bitrate=32000 ! "
             "rtpmp4gpay name=pay1 pt=97")
    launch = f"( {video} {audio} )" if args.audio else f"( {video} )"
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot bind 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 3
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print(f"READY {args.port}", flush=True)
    loop.run()
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description="RTSP test camera (gst-rtsp-server), or a push receiver")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--receive", choices=("rtsp", "rtmp"), help="be a push receiver (needs PyAV)")
    p.add_argument("--path", default="/cam")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--height", type=int, default=48)
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--key-int", type=int, default=5)
    p.add_argument("--pattern", default="ball")
    p.add_argument("--audio", action="store_true")
    args = p.parse_args()
    return receive(args.receive, args.port) if args.receive else serve(args)


if __name__ == "__main__":
    sys.exit(main())
