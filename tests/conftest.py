"""Suite-wide reporting: skipped RTSP tests are not a quiet "s" in a row of dots. When any test was skipped
for want of the RTSP test camera (tests/rtsp_server.py), the end of the run says how many, why, and how to
get them run (scripts/test.sh installs the packages on a root machine with apt-get: scripts/rtsp_deps.sh)."""

from __future__ import annotations

import logging
import os

import pytest

logger = logging.getLogger(__name__)
RTSP_SKIP = "no RTSP test server"


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
