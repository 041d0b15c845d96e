"""--config files that are not readable UTF-8 TOML: one line, exit 2, never a traceback (real gfn-stream runs)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from workers_kit import QUICK_ENV, STREAM

from media import make_clip


def _run(tmp_path, config, prefix=()):
    clip = tmp_path / "in.mp4"
    if not clip.exists():
        make_clip(clip, frames=2)
    r = subprocess.run([*prefix, *STREAM, str(clip), str(tmp_path / "out.mp4"), "--model", "bicubic",
                        "--config", str(config)], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **QUICK_ENV})
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("gfn-stream: error: "), r.stderr
    assert not (tmp_path / "out.mp4").exists()
    return lines[0]


@pytest.mark.parametrize("name, content, says", [
    ("binary", bytes(range(256)) * 4, "is not UTF-8 text"),
    ("utf16", "[model]\nbatch = 2\n".encode("utf-16"), "is UTF-16"),
    ("utf16be", b"\xfe\xff" + "[model]\n".encode("utf-16-be"), "is UTF-16"),
    ("huge", b"# " + b"x" * (2 * 1024 * 1024), "larger than"),
])
def test_a_config_that_is_not_utf8_toml_is_one_line(tmp_path, name, content, says):
    path = tmp_path / f"{name}.toml"
    path.write_bytes(content)
    assert says in _run(tmp_path, path)


def test_a_config_that_is_a_directory_is_one_line(tmp_path):
    assert "is a directory" in _run(tmp_path, tmp_path)


def test_an_unreadable_config_is_one_line(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text("[model]\nbatch = 2\n")
    path.chmod(0)
    prefix = ()
    if os.geteuid() == 0:  # root reads anything: drop the capabilities that let it
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        prefix = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", "--")
    message = _run(tmp_path, path, prefix)
    assert "cannot read config file" in message and "Permission denied" in message


def test_a_utf8_bom_is_accepted(tmp_path):
    from gfn_stream.pipeline.config import load_toml

    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff[model]\nbatch = 2\n".encode("utf-8"))
    assert load_toml(path).model.batch == 2
