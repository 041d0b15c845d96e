"""Training triplets on disk and the batches made from them.

On-disk layout of a patch set (written by gfn-make-dataset, read here; no pickle anywhere):

    <dir>/index.json                       {"format", "scale", "hr_size", "count", "shards": [{"name", "count"}]}
    <dir>/<shard>.lr_blur.npy   (N, h, w, 3) uint8   LR blurry input           (h = hr_size / 4)
    <dir>/<shard>.lr_sharp.npy  (N, h, w, 3) uint8   LR sharp (deblur target)
    <dir>/<shard>.hr.npy        (N, H, W, 3) uint8   HR sharp target

Shards are memory-mapped, so a set larger than RAM streams from disk. An evaluation set is two folders of PNGs
with the same file names: <dir>/LR_Blur/*.png (input) and <dir>/HR/*.png (ground truth, 4x the size).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

FORMAT = "gfn-stream/patches/1"
PARTS = ("lr_blur", "lr_sharp", "hr")
SCALE = 4


class ShardWriter:
    """Collects (lr_blur, lr_sharp, hr) uint8 triplets and writes them as .npy shards plus index.json."""

    def __init__(self, root: str | Path, hr_size: int, shard_size: int = 512):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.hr_size = hr_size
        self.shard_size = shard_size
        self.shards: list[dict] = []
        self.buffer: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, lr_blur: np.ndarray, lr_sharp: np.ndarray, hr: np.ndarray) -> None:
        lr = self.hr_size // SCALE
        if hr.shape != (self.hr_size, self.hr_size, 3) or lr_blur.shape != (lr, lr, 3) or lr_sharp.shape != (lr, lr, 3):
            raise ValueError(f"bad triplet shapes {lr_blur.shape} {lr_sharp.shape} {hr.shape}")
        self.buffer.append((lr_blur, lr_sharp, hr))
        if len(self.buffer) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        name = f"shard_{len(self.shards):05d}"
        for k, part in enumerate(PARTS):
            np.save(self.root / f"{name}.{part}.npy", np.stack([t[k] for t in self.buffer]).astype(np.uint8))
        self.shards.append({"name": name, "count": len(self.buffer)})
        self.buffer = []

    @property
    def count(self) -> int:
        return sum(s["count"] for s in self.shards) + len(self.buffer)

    def close(self) -> dict:
        self.flush()
        index = {"format": FORMAT, "scale": SCALE, "hr_size": self.hr_size, "count": self.count, "shards": self.shards}
        (self.root / "index.json").write_text(json.dumps(index, indent=1))
        return index


class PatchDataset:
    """Memory-mapped triplets of a patch set; `dataset[i]` is (lr_blur, lr_sharp, hr) uint8 HWC arrays."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        index_path = self.root / "index.json"
        if not index_path.is_file():
            raise FileNotFoundError(f"{index_path} not found: make the patch set with gfn-make-dataset")
        index = json.loads(index_path.read_text())
        if index.get("format") != FORMAT:
            raise ValueError(f"{index_path}: not a {FORMAT} index")
        self.hr_size = int(index["hr_size"])
        self.arrays = [
            [np.load(self.root / f"{s['name']}.{part}.npy", mmap_mode="r", allow_pickle=False) for part in PARTS]
            for s in index["shards"]
        ]
        counts = [len(a[0]) for a in self.arrays]
        self.offsets = np.cumsum([0] + counts)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        shard = int(np.searchsorted(self.offsets, i, side="right") - 1)
        j = i - int(self.offsets[shard])
        return tuple(a[j] for a in self.arrays[shard])


@dataclass
class Batch:
    lr_blur: torch.Tensor  # (B, 3, p/4, p/4) float in [0, 1]
    lr_sharp: torch.Tensor  # (B, 3, p/4, p/4)
    hr: torch.Tensor  # (B, 3, p, p)


def flip_rot(arr: np.ndarray, flip: int, rot: int) -> np.ndarray:
    """flip: 0 none, 1 vertical, 2 horizontal (the reference flips one random axis); then rot90 k times."""
    if flip == 1:
        arr = arr[::-1]
    elif flip == 2:
        arr = arr[:, ::-1]
    return np.rot90(arr, rot)


def make_batch(
    dataset: PatchDataset, indices: np.ndarray, rng: np.random.Generator, patch_size: int, augment: bool = True
) -> Batch:
    """Random aligned crops (HR `patch_size`, LR patch_size/4) of the given samples, with flips and rot90.

    All randomness comes from `rng` (the trainer's data generator), so a batch sequence is reproducible.
    """
    lr_size = patch_size // SCALE
    full = dataset.hr_size // SCALE
    if lr_size > full or patch_size % SCALE:
        raise ValueError(f"patch_size {patch_size} must be a multiple of 4 and <= {dataset.hr_size}")
    out: list[list[np.ndarray]] = [[], [], []]
    for i in indices:
        lr_blur, lr_sharp, hr = dataset[int(i)]
        y, x = rng.integers(0, full - lr_size + 1, size=2)
        flip, rot = (int(rng.integers(0, 3)), int(rng.integers(0, 4))) if augment else (0, 0)
        crops = (
            lr_blur[y : y + lr_size, x : x + lr_size],
            lr_sharp[y : y + lr_size, x : x + lr_size],
            hr[SCALE * y : SCALE * (y + lr_size), SCALE * x : SCALE * (x + lr_size)],
        )
        for k, c in enumerate(crops):
            out[k].append(flip_rot(c, flip, rot))
    tensors = [torch.from_numpy(np.ascontiguousarray(np.stack(o))).permute(0, 3, 1, 2).float().div_(255.0) for o in out]
    return Batch(*tensors)


IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def list_photos(sources: list[str], holdout: list[str]) -> list[Path]:
    """Image files of the given folders/files, minus the held-out names or stems."""
    held = set(holdout)
    out: list[Path] = []
    for src in sources:
        path = Path(src)
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        elif path.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(f"photo source {src} not found")
    return [p for p in out if p.name not in held and p.stem not in held]


def read_rgb(path: str | Path) -> np.ndarray:
    """uint8 (H, W, 3) RGB from an image file (cv2 reads BGR)."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return np.ascontiguousarray(img[..., ::-1])


def write_rgb(path: str | Path, img: np.ndarray) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(img[..., ::-1])):
        raise OSError(f"cannot write image {path}")


def list_pairs(root: str | Path, lr_dir: str = "LR_Blur", hr_dir: str = "HR") -> list[tuple[Path, Path]]:
    """(LR input, HR truth) PNG pairs of an evaluation folder, matched by file name."""
    root = Path(root)
    lrs = sorted(p for p in (root / lr_dir).iterdir() if p.suffix.lower() in (".png", ".jpg", ".bmp"))
    pairs = []
    for lr in lrs:
        hr = root / hr_dir / lr.name
        if not hr.is_file():
            raise FileNotFoundError(f"no ground truth {hr} for {lr}")
        pairs.append((lr, hr))
    if not pairs:
        raise FileNotFoundError(f"no images in {root / lr_dir}")
    return pairs
