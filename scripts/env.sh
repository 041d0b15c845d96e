# Create or reuse the project's virtual environment and install what gfn-stream needs.
# Sourced by scripts/demo.sh and scripts/test.sh; idempotent, a few seconds when nothing changed.
#   GFN_VENV=path   use another venv (default: .venv in the repository)
#   GFN_PYTHON=...  the interpreter that creates the venv (default: python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GFN_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
STAMP="$VENV/.gfn-stream-installed"
WANT="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"

log() { echo "[setup] $*" >&2; }

if [ ! -x "$PY" ]; then
    log "creating virtual environment $VENV"
    base="${GFN_PYTHON:-python3}"
    # Keep a CUDA torch the user already has system-wide: let the venv see it.
    if "$base" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
        "$base" -m venv --system-site-packages "$VENV"
    else
        "$base" -m venv "$VENV"
    fi
fi

if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
    if ! "$PY" -c 'import torch' 2>/dev/null; then
        if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
            log "NVIDIA GPU found: installing the CUDA build of torch"
            "$PY" -m pip install -q "torch>=2.3"
        elif "$PY" -m pip install -q --no-index --no-deps "torch==2.13.0" 2>/dev/null; then
            # This machine keeps the CPU wheel on disk (pip's find-links); fetch only its dependencies.
            log "no GPU: installed the local CPU build of torch 2.13.0"
            "$PY" -m pip install -q "torch==2.13.0"
        else
            log "no GPU: installing the CPU build of torch"
            "$PY" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu \
                --extra-index-url https://pypi.org/simple
        fi
    fi
    log "installing gfn-stream and its dependencies"
    "$PY" -m pip install -q -e "$ROOT[dev]" 2>&1 | grep -v "is ignored" >&2 || true
    "$PY" -c 'import gfn_stream, torch, av, zmq, cv2, kornia' || { log "installation failed"; exit 1; }
    echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
# Byte-code for the project's own modules, as pip writes it for a regular install (an editable install leaves it to
# the first import, which never writes it where PYTHONDONTWRITEBYTECODE is set): every run and every node process
# would otherwise compile its ~150 modules again (~0.1 s per process on the way to the first frame); ~0.3 s when
# everything is up to date.
"$PY" -m compileall -q -x '/\.venv/|/\.git/|/build/|/out/' "$ROOT" >/dev/null || log "byte-compiling failed (harmless)"
