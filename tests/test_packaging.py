"""The wheel installs one top-level package, gfn_stream, holding the design card's folders and the media/ and
transport/ layers."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_has_only_gfn_stream_at_top_level(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
         str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("gfn_stream-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"gfn_stream"}
    for sub in ("pipeline", "nodes", "media", "transport", "models", "train", "configs"):
        assert any(n.startswith(f"gfn_stream/{sub}/") for n in names), sub
    assert not any(n.startswith("gfn_stream/tests/") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "gfn-stream" in zipfile.ZipFile(wheel).read(entry_points).decode()
