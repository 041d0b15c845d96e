"""benchmarks/gpu_bench.py (behind benchmarks/gpu.sh), the parts that run on a CPU: no GPU is needed to know
that the script runs, records what it cannot do, and writes its JSON."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("gpu_bench", ROOT / "benchmarks" / "gpu_bench.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cpu_run_of_the_model_grid_writes_json_and_records_what_needs_cuda(bench, tmp_path):
    out = tmp_path / "gpu.json"
    assert bench.main(["--device", "cpu", "--quick", "--min-s", "0.01", "--parts", "model,tensorrt",
                       "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["errors"] == {}
    assert data["machine"]["device"] == "cpu" and "torch" in data["machine"]
    rows = data["model"]["results"]
    assert {(r["net"], r["size"], r["batch"]) for r in rows} == {
        (n, s, b) for n in ("shipped", "paper") for s in ("32x20", "40x24") for b in (1, 2)}
    assert all(r["eager"]["fps"] > 0 and r["cuda_graph"] == "skipped: needs CUDA" for r in rows)
    assert data["tensorrt"]["skipped"] == "needs CUDA"


def test_a_failing_part_is_recorded_not_raised(bench, tmp_path):
    rep = bench.Report(str(tmp_path / "r.json"))
    try:
        raise RuntimeError("no engine")
    except RuntimeError as exc:
        rep.error("tensorrt/x", exc)
    assert json.loads((tmp_path / "r.json").read_text())["errors"] == {"tensorrt/x": "RuntimeError: no engine"}


def test_the_clip_is_what_the_e2e_part_says(bench, tmp_path):
    import av

    path = bench.make_clip(tmp_path / "c.mp4", 7, 32, 24)
    with av.open(str(path)) as box:
        frames = [f for f in box.decode(video=0)]
    assert len(frames) == 7 and (frames[0].width, frames[0].height) == (32, 24)


def test_gpu_sh_is_one_command_with_the_wheel_line():
    text = (ROOT / "benchmarks" / "gpu.sh").read_text()
    assert "pip download" in text and "benchmarks/gpu_bench.py" in text and "timeout 470" in text
