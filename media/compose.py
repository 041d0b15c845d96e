"""Pictures made from the network's 4x output: resampled to the output size, a split screen (bicubic | GFN)
and a contact sheet of several frames.

    out = finish(lr, sr, size=(640, 360), compare=True)   # what a worker sends for one frame
    sheet = contact_sheet([out1, out2, out3], ["0.00 s", "0.40 s", "0.80 s"])

Resampling: the area-weighted mean of the 4x pixels each output pixel covers (OpenCV INTER_AREA), an
antialiasing filter for any ratio (no moire from the network's fine detail, which a point or plain bicubic
sampling of a 4x picture aliases); about 4 ms for a 2560x1440 -> 1280x720 frame on one core.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

logger = logging.getLogger(__name__)

LEFT_LABEL, RIGHT_LABEL = "bicubic", "GFN"


def resample(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`rgb` (H x W x 3 uint8) at `size` = (width, height): area-weighted when shrinking, bicubic when growing."""
    w, h = size
    if (rgb.shape[1], rgb.shape[0]) == (w, h):
        return rgb
    shrink = w <= rgb.shape[1] and h <= rgb.shape[0]
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def bicubic(lr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The plain interpolation a network is compared with (and --model bicubic's picture): `lr` straight to `size`
    (bicubic up, area down); float32 in [0, 1] stays in [0, 1] (bicubic overshoots at edges)."""
    w, h = size
    if w >= lr.shape[1] and h >= lr.shape[0]:
        big = cv2.resize(lr, (w, h), interpolation=cv2.INTER_CUBIC)
        return np.clip(big, 0, 1, out=big) if big.dtype == np.float32 else big
    return resample(lr, size)


def finish(lr: np.ndarray, sr: np.ndarray, size: tuple[int, int] | None = None, compare: bool = False,
           model: str = "gfn") -> np.ndarray:
    """A worker's result for one frame: the network's output `sr` at `size` (None: as it is), or with
    `compare` the split screen of `lr` bicubic-upscaled (left) and `sr` (right, labelled with `model`)."""
    size = size or (sr.shape[1], sr.shape[0])
    out = resample(sr, size)
    if compare:
        out = split_screen(bicubic(lr, size), out, (LEFT_LABEL, RIGHT_LABEL if model == "gfn" else model))
    return np.ascontiguousarray(out)


def split_screen(left: np.ndarray, right: np.ndarray,
                 labels: tuple[str, str] = (LEFT_LABEL, RIGHT_LABEL)) -> np.ndarray:
    """The left half of `left` beside the right half of `right` (same size), a divider line between them and
    a label at the top of each half."""
    if left.shape != right.shape:
        raise ValueError(f"split screen of {left.shape} and {right.shape}: the halves must be the same size")
    h, w = left.shape[:2]
    mid = w // 2
    out = right.copy()
    out[:, :mid] = left[:, :mid]
    line = max(1, w // 400)
    x0, x1 = max(0, mid - line), min(w, mid + line)
    out[:, x0:x1] = 255
    if x0 > 0:
        out[:, x0 - 1] = 0
    if x1 < w:
        out[:, x1] = 0
    scale = _font_scale(h, w)
    pad = max(2, int(6 * scale))
    _label(out, labels[0], (mid - pad - line, pad), scale, align="right")
    _label(out, labels[1], (mid + pad + line, pad), scale, align="left")
    return out


def contact_sheet(tiles: list[np.ndarray], labels: list[str] | None = None, columns: int | None = None,
                  gap: int = 4) -> np.ndarray:
    """Equal-size tiles in a grid (about square; `columns` to choose), `gap` black pixels apart, each with its
    label in the bottom-left corner."""
    if not tiles:
        raise ValueError("a contact sheet needs at least one picture")
    h, w = tiles[0].shape[:2]
    cols = columns or max(1, int(np.ceil(np.sqrt(len(tiles)))))
    rows = int(np.ceil(len(tiles) / cols))
    sheet = np.zeros((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), np.uint8)
    scale = _font_scale(h, w)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = r * (h + gap), c * (w + gap)
        cell = sheet[y:y + h, x:x + w]
        cell[:] = resample(tile, (w, h))
        if labels and i < len(labels) and labels[i]:
            size = cv2.getTextSize(labels[i], cv2.FONT_HERSHEY_SIMPLEX, scale, _thickness(scale))[0]
            _label(cell, labels[i], (max(2, int(6 * scale)), h - size[1] - max(4, int(12 * scale))), scale)
    return sheet


def _font_scale(h: int, w: int) -> float:
    return max(0.3, min(h, w) / 720)


def _thickness(scale: float) -> int:
    return max(1, round(2 * scale))


def _label(img: np.ndarray, text: str, at: tuple[int, int], scale: float, align: str = "left") -> None:
    """White text with a dark outline, its top-left (or top-right with align="right") corner at `at`."""
    font, thick = cv2.FONT_HERSHEY_SIMPLEX, _thickness(scale)
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    x, y = at
    if align == "right":
        x -= tw
    x = int(min(max(0, x), max(0, img.shape[1] - tw)))
    origin = (x, int(y + th))
    cv2.putText(img, text, origin, font, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, origin, font, scale, (255, 255, 255), thick, cv2.LINE_AA)


def write_picture(path: str, rgb: np.ndarray, overwrite: bool = False) -> None:
    """Write an RGB picture (.png, .jpg) in one go: encoded in memory, written to NAME.partial.EXT and renamed,
    so a failed write never leaves a cut file under the name. OSError when it cannot be written."""
    import os
    from pathlib import Path

    p = Path(path)
    ext = p.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if ext in (".jpg", ".jpeg") else [cv2.IMWRITE_PNG_COMPRESSION, 9]
    ok, data = cv2.imencode(ext, np.ascontiguousarray(rgb[..., ::-1]), params)
    if not ok:
        raise OSError(f"cannot encode a {ext} picture")
    if p.exists() and not overwrite:
        raise FileExistsError(17, "exists (pass -y to replace it)")
    partial = p.with_name(f"{p.stem}.partial{p.suffix}")
    with open(partial, "wb") as f:
        f.write(data.tobytes())
    os.replace(partial, p)
