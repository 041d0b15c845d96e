#!/usr/bin/env bash
# The README's before/after picture (docs/before_after.jpg) from the shipped demo clip and the shipped weights:
# `gfn-stream --preview 1` takes the clip's middle frame to 4x twice, with plain bicubic and with GFN; the same
# 460x420 region of both (1:1 pixels of the 1280x960 output: a patterned pot and paper edges) goes side by side
# with media.compose's labelled divider. Run it again whenever the weights change.
#   scripts/before_after.sh [gfn-stream options for the GFN run, e.g. --device cuda]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
SECONDS=0
gfn-stream demo/demo.mp4 "$tmp/bicubic.png" --preview 1 --model bicubic -q
gfn-stream demo/demo.mp4 "$tmp/gfn.png" --preview 1 -q "$@"
echo "two previews: ${SECONDS} s" >&2
"$VENV/bin/python" - "$tmp/bicubic.png" "$tmp/gfn.png" docs/before_after.jpg <<'PY'
import sys

import cv2
import numpy as np

from gfn_stream.media.compose import split_screen

before, after, dst = sys.argv[1:4]
b, g = cv2.imread(before)[..., ::-1], cv2.imread(after)[..., ::-1]
h, w = g.shape[:2]
x, y, cw, ch = int(0.547 * w), int(0.54 * h), min(460, w // 2), min(420, h // 2)
pair = np.hstack([b[y:y + ch, x:x + cw], g[y:y + ch, x:x + cw]])
out = split_screen(pair, pair, ("bicubic", "GFN"))
ok = cv2.imwrite(dst, np.ascontiguousarray(out[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 90])
size = len(open(dst, "rb").read())
print(f"{dst}: {out.shape[1]}x{out.shape[0]}, {size // 1024} KiB", file=sys.stderr)
sys.exit(0 if ok and size < 300 * 1024 else 1)
PY
