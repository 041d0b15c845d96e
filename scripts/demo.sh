#!/usr/bin/env bash
# The main job on the shipped demo clip with the shipped weights: demo/demo.mp4 -> out/demo_x4.mp4
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
mkdir -p out
exec gfn-stream demo/demo.mp4 out/demo_x4.mp4 -y "$@"
