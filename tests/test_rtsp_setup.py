"""scripts/rtsp_deps.sh (how scripts/test.sh gets the RTSP camera's packages) and the loud end-of-run line for
skipped RTSP tests (tests/conftest.py). Real bash with stand-in apt-get / dpkg-query / id on PATH; a real pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _deps(tmp_path: Path, *, uid: int = 0, apt_rc: int = 0, env: dict | None = None) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    tools = {
        "dpkg-query": "#!/bin/sh\nexit 1\n",  # nothing installed
        "id": f"#!/bin/sh\necho {uid}\n",
        "apt-get": f"#!/bin/sh\necho \"apt-get $*\" >> {tmp_path / 'apt.log'}\n"
                   f"[ {apt_rc} = 0 ] || echo 'E: Could not resolve deb.debian.org' >&2\nexit {apt_rc}\n",
    }
    for name, body in tools.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    script = f'source "{ROOT}/scripts/rtsp_deps.sh"; ensure_rtsp_deps "{tmp_path}/stamp"; echo "SETUP=$GFN_RTSP_SETUP"'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", **(env or {})})


def test_root_with_apt_installs_the_packages(tmp_path):
    r = _deps(tmp_path)
    assert r.returncode == 0 and "SETUP=\n" in r.stdout, r.stderr
    log = (tmp_path / "apt.log").read_text()
    assert "apt-get update" in log and "install" in log and "gir1.2-gst-rtsp-server-1.0" in log


def test_a_failed_install_says_why_and_is_not_retried_for_a_day(tmp_path):
    r = _deps(tmp_path, apt_rc=100)
    assert "Could not resolve" in r.stdout and "the RTSP tests will be SKIPPED" in r.stderr
    (tmp_path / "apt.log").unlink()
    r = _deps(tmp_path, apt_rc=100)
    assert "failed less than a day ago" in r.stdout and not (tmp_path / "apt.log").exists()


def test_not_root_or_opted_out_never_runs_apt(tmp_path):
    assert "not a root shell" in _deps(tmp_path, uid=1000).stdout
    assert "GFN_NO_APT" in _deps(tmp_path, env={"GFN_NO_APT": "1"}).stdout
    assert not (tmp_path / "apt.log").exists()


def test_skipped_rtsp_tests_are_counted_loudly_at_the_end(tmp_path):
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "test_cams.py").write_text(
        "import pytest\n"
        "@pytest.mark.parametrize('i', range(3))\n"
        "def test_cam(i):\n    pytest.skip('no RTSP test server: gst-rtsp-server is not installed')\n"
        "def test_other():\n    pytest.skip('something else')\n"
        "def test_ok():\n    pass\n")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path,
                       env={**os.environ, "GFN_RTSP_SETUP": "this is not a root shell"})
    assert r.returncode == 0, r.stdout
    assert "3 RTSP test(s) SKIPPED" in r.stdout and "gst-rtsp-server is not installed" in r.stdout
    assert "scripts/test.sh: this is not a root shell" in r.stdout


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    code = [line for line in ci.splitlines() if not line.lstrip().startswith("#")]
    assert "exec scripts/test.sh" in code and not any("apt-get" in line for line in code)
    assert "ensure_rtsp_deps" in (ROOT / "scripts" / "test.sh").read_text()
