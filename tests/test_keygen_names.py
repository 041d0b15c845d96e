"""gfn-keygen --name is a file name stem inside DIR: never a path out of it, never empty or hidden (real CLI)."""

from __future__ import annotations

import pytest
from workers_kit import KEYGEN, run


@pytest.mark.parametrize("name", ["../../escape", "../x", "a/b", "/abs", "", ".hidden", "..", "-dash", "a\\b", "a b"])
def test_a_bad_key_name_is_one_line_and_writes_nothing(tmp_path, name):
    keys = tmp_path / "sub" / "keys"
    r = run(KEYGEN, keys, "--name", "ok", f"--name={name}")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "gfn-keygen: error: bad key name" in lines[0], r.stderr
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []  # not even the good one


def test_good_names_and_a_directory_that_cannot_be_made(tmp_path):
    r = run(KEYGEN, tmp_path / "keys", "--name", "gpu-1", "--name", "server.2")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == [
        "gpu-1.key", "gpu-1.key_secret", "server.2.key", "server.2.key_secret"]
    (tmp_path / "afile").write_text("")
    r = run(KEYGEN, tmp_path / "afile" / "keys", "--name", "x")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Not a directory" in r.stderr, r.stderr
