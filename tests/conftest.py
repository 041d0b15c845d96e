"""Shared fixtures and suite-wide reporting.

Fixtures: `tiny_config` / `tiny_weights` (the smallest GFN and a weights file of it, seed 0, made once per run),
`cli` (run gfn-stream in a subprocess, one torch thread per process) and `free_port` (an unused loopback port).
Helpers that are not fixtures live beside them: tests/media.py (clips, images), tests/workers_kit.py (processes,
frames, fake dispatchers), tests/rtsp_server.py (the test camera).

Reporting: skipped RTSP tests are not a quiet "s" in a row of dots. When any test was skipped for want of the
RTSP test camera (tests/rtsp_server.py), the end of the run says how many, why, and how to get them run
(scripts/test.sh installs the packages on a root machine with apt-get: scripts/rtsp_deps.sh)."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from typing import Callable

import pytest

logger = logging.getLogger(__name__)
RTSP_SKIP = "no RTSP test server"


@pytest.fixture(scope="session")
def tiny_config():
    """The smallest GFN: 8 channels, one residual block per stage (fast to build, run and save)."""
    from gfn_stream.models.gfn import GFNConfig

    return GFNConfig(channels=8, deblur_blocks=1, sr_blocks=1, recon_blocks=1)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_config) -> Path:
    """A weights file of the tiny GFN with seed-0 random weights."""
    import torch

    from gfn_stream.models.gfn import GFN
    from gfn_stream.models.weights import save_weights

    torch.manual_seed(0)
    return save_weights(GFN(tiny_config), tmp_path_factory.mktemp("tiny") / "tiny.safetensors")


@pytest.fixture()
def cli() -> Callable[..., subprocess.CompletedProcess]:
    """cli(IN, OUT, *options, timeout=, env=): gfn-stream run to the end, output captured (text)."""

    from workers_kit import STREAM, run  # helpers imported where used: this file also runs alone (test_rtsp_setup)

    def run_cli(*args, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
        return run(STREAM, *args, timeout=timeout, env=env)

    return run_cli


@pytest.fixture()
def free_port() -> Callable[[], int]:
    """free_port(): a loopback TCP port nothing listens on (now)."""
    from workers_kit import free_port

    return free_port


def rtsp_skips(skipped: list) -> tuple[int, set[str]]:
    """How many of the skipped test reports are RTSP skips, and their reasons."""
    reasons = set()
    count = 0
    for report in skipped:
        longrepr = getattr(report, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        if RTSP_SKIP in reason:
            count += 1
            reasons.add(reason.split("Skipped: ", 1)[-1])
    return count, reasons


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    count, reasons = rtsp_skips(terminalreporter.stats.get("skipped", []))
    if not count:
        return
    tr = terminalreporter
    tr.write_sep("!", f"{count} RTSP test(s) SKIPPED: the live-camera paths were NOT tested", red=True, bold=True)
    for reason in sorted(reasons):
        tr.write_line(f"  reason: {reason}", red=True)
    setup = os.environ.get("GFN_RTSP_SETUP")
    if setup:
        tr.write_line(f"  scripts/test.sh: {setup}", red=True)
    tr.write_line("  to run them: apt-get install gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base "
                  "gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gir1.2-gstreamer-1.0 python3-gi "
                  "(scripts/test.sh does it when run as root with apt-get)", red=True)
