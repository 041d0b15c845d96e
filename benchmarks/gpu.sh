#!/usr/bin/env bash
# The GPU benchmark in one command, for an NVIDIA machine that has a CUDA torch (< 8 minutes on an H100/H200):
#     bash benchmarks/gpu.sh [OUT.json]                  (default benchmarks/results/gpu.json)
# fp16 model fps (shipped and paper-size GFN, 320x180 and 640x360, batch 1/4/8; torch eager, CUDA graphs, and
# TensorRT when the `tensorrt` package is installed there), then gfn-stream end to end on a 300-frame 320x180
# clip (GFN and bicubic, libx264 on the host CPU). Every part records its error in the JSON instead of stopping
# the run (benchmarks/gpu_bench.py).
#
# What gfn-stream needs beyond torch (PyAV, pyzmq, kornia, ...) is installed from benchmarks/wheels/ when that
# folder exists (no network needed there), else from the package index. Fill the folder on any machine with
# this one line (for the GPU machine's Python; the wheels are not in git):
#   for v in 3.10 3.11 3.12 3.13; do pip download --no-deps --only-binary=:all: --python-version $v --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d benchmarks/wheels av pyzmq kornia kornia-rs opencv-python-headless safetensors tqdm prometheus-client onnx onnxscript onnx-ir ml-dtypes protobuf packaging typing-extensions; done
#   GFN_PYTHON=...   the interpreter with the CUDA torch (default: python3)
#   GFN_WHEELS=DIR   another wheel folder; GFN_BUDGET_S=S  when to stop starting TensorRT builds (default 400)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${GFN_PYTHON:-python3}"
WHEELS="${GFN_WHEELS:-$ROOT/benchmarks/wheels}"
OUT="${1:-$ROOT/benchmarks/results/gpu.json}"
log() { echo "[gpu.sh] $*" >&2; }

"$PY" -c 'import torch, sys; print("torch", torch.__version__, "cuda", torch.cuda.is_available()); sys.exit(0)' \
    || { log "no torch for $PY (set GFN_PYTHON)"; exit 2; }

# module -> distribution, for what is missing
need=()
for pair in av:av zmq:pyzmq kornia:kornia kornia_rs:kornia-rs cv2:opencv-python-headless safetensors:safetensors \
            tqdm:tqdm prometheus_client:prometheus-client onnx:onnx onnxscript:onnxscript onnx_ir:onnx-ir \
            ml_dtypes:ml-dtypes google.protobuf:protobuf packaging:packaging typing_extensions:typing-extensions; do
    mod="${pair%%:*}"; dist="${pair#*:}"
    "$PY" -c "import $mod" 2>/dev/null || need+=("$dist")
done
if [ "${#need[@]}" -gt 0 ]; then
    log "installing ${need[*]}"
    if [ -d "$WHEELS" ]; then
        "$PY" -m pip install -q --no-index --no-deps --find-links "$WHEELS" "${need[@]}" \
            || log "some wheels are missing from $WHEELS (the JSON will say which part failed)"
    else
        "$PY" -m pip install -q --no-deps "${need[@]}" || log "pip install failed (no network?)"
    fi
fi

# The repository root is the package gfn_stream (pyproject.toml's package-dir): a link makes it importable
# without installing it, so nothing on the machine changes but the wheels above.
SHIM="$(mktemp -d)"
trap 'rm -rf "$SHIM"' EXIT
ln -s "$ROOT" "$SHIM/gfn_stream"
export PYTHONPATH="$SHIM${PYTHONPATH:+:$PYTHONPATH}"
export GFN_CACHE_DIR="${GFN_CACHE_DIR:-$ROOT/benchmarks/results/cache}"

cd "$ROOT"
# 470 s: the 8-minute target less the setup above; the JSON is rewritten after every measurement
timeout 470 "$PY" benchmarks/gpu_bench.py --out "$OUT" --budget-s "${GFN_BUDGET_S:-400}"
rc=$?
[ "$rc" -eq 124 ] && log "stopped at the time limit: $OUT holds what was measured"
log "results: $OUT"
exit "$rc"
