# The live-input tests run a real RTSP camera: Debian's gst-rtsp-server through the system python3-gi
# (tests/rtsp_server.py). Sourced by scripts/test.sh (and so by CI): `ensure_rtsp_deps` installs the packages
# when they are missing and this is a root shell with apt-get; otherwise, or when that fails, it says why, and
# the tests' summary says LOUDLY how many RTSP tests were skipped and why (tests/conftest.py).
#   GFN_NO_APT=1    never run apt-get
#   GFN_APT_TIMEOUT seconds for each apt-get step (default 300)
# A failed attempt is remembered for a day (the stamp below), so an offline machine does not wait each run.

GST_PACKAGES="gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
              gstreamer1.0-plugins-ugly gir1.2-gstreamer-1.0 python3-gi"

gst_missing() {
    local p
    command -v dpkg-query >/dev/null 2>&1 || return 0
    for p in $GST_PACKAGES; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || return 0
    done
    return 1
}

ensure_rtsp_deps() {
    local stamp="${1:-${TMPDIR:-/tmp}/gfn-stream-apt-failed}" limit="${GFN_APT_TIMEOUT:-300}"
    export GFN_RTSP_SETUP=""
    gst_missing || return 0
    if [ -n "${GFN_NO_APT:-}" ]; then
        GFN_RTSP_SETUP="gst-rtsp-server is not installed and GFN_NO_APT is set"
    elif ! command -v apt-get >/dev/null 2>&1; then
        GFN_RTSP_SETUP="gst-rtsp-server is not installed and this system has no apt-get"
    elif [ "$(id -u)" != 0 ]; then
        GFN_RTSP_SETUP="gst-rtsp-server is not installed and this is not a root shell (run: sudo apt-get install $(echo $GST_PACKAGES))"
    elif [ -n "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
        GFN_RTSP_SETUP="installing gst-rtsp-server failed less than a day ago ($(head -c 300 "$stamp"); rm $stamp to retry)"
    else
        echo "[test] installing gst-rtsp-server for the RTSP tests (apt-get, at most 2 x ${limit} s)" >&2
        local log
        # shellcheck disable=SC2086
        if log="$({ timeout "$limit" apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout "$limit" \
                apt-get install -y -qq --no-install-recommends $GST_PACKAGES; } 2>&1)"; then
            rm -f "$stamp"
        else
            printf '%s' "$(echo "$log" | tail -n 2 | tr '\n' ' ')" > "$stamp" 2>/dev/null || true
            GFN_RTSP_SETUP="installing gst-rtsp-server with apt-get failed: $(echo "$log" | tail -n 1)"
        fi
    fi
    if [ -n "$GFN_RTSP_SETUP" ]; then
        echo "[test] WARNING: $GFN_RTSP_SETUP: the RTSP tests will be SKIPPED" >&2
    fi
}
