"""The layout stays readable: media/ (PyAV) and transport/ (ZeroMQ) are leaves, nothing imports upwards or in a
circle, no module takes another's _private names, no module is over 400 lines, a file job never loads the live
reader, a file frame's path stays short and is README's table, and ruff is clean. Read from the source files
(ast), so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from media import make_clip

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("media", "transport", "nodes", "pipeline", "models")
MAX_LINES = 400
# what each layer must not import: third-party top-level names and gfn_stream sub-packages
FORBIDDEN = {
    "media": {"zmq", "torch", "gfn_stream.transport", "gfn_stream.nodes", "gfn_stream.pipeline", "gfn_stream.models",
              "gfn_stream.train"},
    "transport": {"av", "torch", "cv2", "gfn_stream.media", "gfn_stream.nodes", "gfn_stream.pipeline",
                  "gfn_stream.models", "gfn_stream.train"},
    "nodes": {"gfn_stream.pipeline", "gfn_stream.train"},
    "models": {"zmq", "gfn_stream.transport", "gfn_stream.nodes", "gfn_stream.pipeline", "gfn_stream.train"},
}
# the live input and output code; live_spec.py (URL parsing, LiveOptions) is what a file job may load
LIVE = ("live_source", "live_connection", "live_reconnect", "live_queue", "live_clock", "live_sides", "live_sink",
        "segment_sink", "push_sink")
# The files one frame of a plain CPU file job (`gfn-stream in.mp4 out.mp4`, GFN) goes through, top to bottom: every
# file that holds or converts the frame (its picture, its message, its batch) and the launcher files that start and
# end the job; README's "How it works" table, which also names the per-frame helpers not counted. What such a frame
# does not go through lives elsewhere, named by its concern.
FRAME_PATH = ("pipeline/cli.py", "pipeline/run.py", "pipeline/supervise.py", "nodes/decoder.py", "media/source.py",
              "media/frames.py", "media/planes.py", "nodes/dispatch.py", "transport/protocol.py",
              "nodes/worker_loops.py", "nodes/engine.py", "nodes/pictures.py", "models/enhancer.py", "models/gfn.py",
              "nodes/encoder.py", "media/sink.py")
# Issue #12's target: at most 16 files and 3,000 lines (README: its count). Code a file frame does not run goes
# elsewhere, named by its concern; nothing may raise these.
MAX_PATH_FILES, MAX_PATH_LINES = 16, 3000


def _modules() -> dict[str, Path]:
    return {f"gfn_stream.{pkg}.{path.stem}": path for pkg in PACKAGES for path in sorted((ROOT / pkg).glob("*.py"))}


def _imports(name: str, path: Path, *, top_level_only: bool = False) -> list[tuple[str, list[str], int]]:
    """(absolute module, imported names, line) for each import in the file; relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = name.rsplit(".", 1)[0] if path.name != "__init__.py" else name
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names = [alias.name for alias in node.names]
            found.append((base, names, node.lineno))
            # `from . import colors` imports the module gfn_stream.media.colors
            found += [(f"{base}.{n}", [], node.lineno) for n in names if f"{base}.{n}" in _modules()]
    return found


def test_the_layers_exist():
    mods = _modules()
    for pkg in PACKAGES:
        assert f"gfn_stream.{pkg}.__init__" in mods, pkg
    for live in LIVE:
        assert f"gfn_stream.media.{live}" in mods, live  # the file-job check below must not pass vacuously


@pytest.mark.parametrize("pkg", sorted(FORBIDDEN))
def test_no_import_crosses_the_layers(pkg):
    bad = []
    for name, path in _modules().items():
        if not name.startswith(f"gfn_stream.{pkg}."):
            continue
        for module, _, line in _imports(name, path):
            for forbidden in FORBIDDEN[pkg]:
                if module == forbidden or module.startswith(forbidden + "."):
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not bad, "\n".join(bad)


def test_no_module_imports_another_modules_private_names():
    bad = []
    for name, path in _modules().items():
        for module, names, line in _imports(name, path):
            if module.startswith("gfn_stream."):
                bad += [f"{path.relative_to(ROOT)}:{line} takes {module}.{n}" for n in names if n.startswith("_")]
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    mods = _modules()
    graph = {name: {m for m, _, _ in _imports(name, path) if m in mods and m != name} for name, path in mods.items()}
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                loop = trail[trail.index(nxt):] + [node, nxt] if nxt in trail else [node, nxt]
                cycles.append(" -> ".join(loop))
            elif nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert not cycles, "\n".join(cycles)


def test_no_module_is_over_400_lines():
    training = sorted((ROOT / "train").glob("*.py"))  # not a layer of the pipeline, but the same house rule
    long = {str(path.relative_to(ROOT)): n for path in [*_modules().values(), *training]
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"over {MAX_LINES} lines (split by concern): {long}"


def test_a_file_frames_path_is_short_and_is_the_readmes_table():
    lines = {name: (ROOT / name).read_bytes().count(b"\n") for name in FRAME_PATH}  # as `wc -l` counts
    assert len(FRAME_PATH) <= MAX_PATH_FILES
    assert sum(lines.values()) <= MAX_PATH_LINES, (
        f"a file frame's path is {sum(lines.values())} lines, over {MAX_PATH_LINES}: move what such a frame does not "
        f"go through into modules named by their concern (README, How it works) {lines}")
    section = (ROOT / "README.md").read_text().split("\n## How it works\n", 1)[1].split("\n## ", 1)[0]
    table = re.findall(r"^\| *\d+ *\| *`([^`]+)` *\| *(\d+) *\|", section, re.M)
    assert [name for name, _ in table] == list(FRAME_PATH), "README's How it works table must name the frame path"
    assert {name: int(n) for name, n in table} == lines, "README's How it works table: its line counts are stale"
    assert f"{len(FRAME_PATH)} files, {sum(lines.values()):,} lines" in section, "README: the path's total is stale"


def test_a_file_job_imports_no_live_code(tmp_path):
    """The modules of a file job, and a file opened and written through them, load no live-input code."""
    clip = make_clip(tmp_path / "in.mp4", frames=3)
    code = f"""
import sys
from gfn_stream.pipeline import cli, run, supervise
from gfn_stream.nodes import decoder, encoder, worker
from gfn_stream.media.inputs import open_input
from gfn_stream.media.sink import open_sink
with open_input({str(clip.path)!r}) as src, open_sink({str(tmp_path / 'out.mp4')!r}, src.info, src.side_buffers) as out:
    for item in src.items():
        if hasattr(item, "rgb"):
            out.write_frame(item.rgb, item.pts, item.time_base, item.duration)
print(" ".join(sorted(m for m in sys.modules if m.startswith("gfn_stream."))))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    loaded = set(r.stdout.split())
    assert "gfn_stream.media.source" in loaded and "gfn_stream.media.sink" in loaded
    assert not {f"gfn_stream.media.{m}" for m in LIVE} & loaded


@pytest.mark.slow
def test_a_file_run_loads_no_live_code_in_any_process(tmp_path):
    """The whole CLI on a file, with every process's imports logged (-X importtime reaches spawned children)."""
    clip = make_clip(tmp_path / "in.mp4", frames=3)
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "gfn_stream.pipeline.cli", str(clip.path),
                        str(tmp_path / "out.mp4"), "--model", "bicubic", "-q"], capture_output=True, text=True,
                       timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")]
    assert imported.count("gfn_stream.nodes.decoder") >= 2  # the launcher's and the decoder process's: children log
    assert not {f"gfn_stream.media.{m}" for m in LIVE} & set(imported)


def test_ruff_is_clean():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], capture_output=True,
                       text=True, cwd=ROOT)
    assert "No module named ruff" not in r.stderr, "ruff is a dev dependency: pip install -e '.[dev]'"
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
