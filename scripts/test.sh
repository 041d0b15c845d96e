#!/usr/bin/env bash
# Run the test suite (sets up the venv first). Extra arguments go to pytest, e.g. scripts/test.sh -k protocol
# The RTSP tests need Debian's gst-rtsp-server: installed here when missing and this is a root shell with
# apt-get (scripts/rtsp_deps.sh); otherwise they skip, and the end of the run says so, loudly, with the reason.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$ROOT/scripts/rtsp_deps.sh"
cd "$ROOT"
ensure_rtsp_deps "$VENV/.gfn-stream-apt-failed"
exec "$PY" -m pytest -q "$@"
