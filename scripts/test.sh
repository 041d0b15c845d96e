#!/usr/bin/env bash
# Run the test suite (sets up the venv first). Extra arguments go to pytest, e.g. scripts/test.sh -k protocol
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
exec "$PY" -m pytest -q "$@"
