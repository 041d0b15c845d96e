"""Training batches degraded on the fly, so that the training data never repeats.

    pool = SharpPool.load(photos=["photos/"], clips=["a.mp4"], holdout=["apple"])
    batches = OnlineBatches(pool, DegradeParams(), patch_size=128, batch_size=16, seed=0)
    batch = batches.get(step)            # a pure function of (seed, step): a resumed run sees the same batches

The pool holds the sharp material in memory as uint8: every photo at a few global scales (so one photo gives
content at several sizes, as LR-GOPRO's 0.5/0.7/1.0 rescales do) and the decoded frames of every clip. A batch
mixes photo and video samples (`video_share`) and applies flips and rot90 to each sample. A background thread
makes the next batches while the model trains on this one.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from ..media.colors import default_matrix
from ..media.planes import decode_params, frame_to_rgb
from .dataset import Batch, flip_rot, list_photos, read_rgb
from .degrade import DegradeParams, photo_sample, video_sample

logger = logging.getLogger(__name__)

PHOTO_SCALES = (0.4, 0.55, 0.7, 1.0)


def frame_rgb(frame: av.VideoFrame) -> np.ndarray:
    """RGB of a decoded frame as gfn-stream's decoder reads it (its tags, else the players' rule for the size)."""
    matrix, color_range = decode_params(frame, default_matrix(frame.width, frame.height))
    return frame_to_rgb(frame, matrix, color_range)


def decode_clip(path: str | Path, max_frames: int = 0, max_side: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames of a clip from its start (even sizes; optionally downscaled, area filter)."""
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            img = frame_rgb(frame)
            if max_side and max(img.shape[:2]) > max_side:
                f = max_side / max(img.shape[:2])
                img = cv2.resize(img, (int(img.shape[1] * f), int(img.shape[0] * f)), interpolation=cv2.INTER_AREA)
            frames.append(img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2])
            if max_frames and len(frames) >= max_frames:
                break
    if not frames:
        raise ValueError(f"{path}: no video frames")
    return np.stack(frames)


@dataclass
class SharpPool:
    photos: list[np.ndarray] = field(default_factory=list)  # uint8 HWC, every scale of every photo
    clips: list[np.ndarray] = field(default_factory=list)  # uint8 THWC
    names: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, photos: list[str], clips: list[str], holdout: list[str], min_side: int = 160,
             clip_frames: int = 400) -> "SharpPool":
        pool = cls()
        for path in list_photos(photos, holdout):
            img = read_rgb(path)
            for s in PHOTO_SCALES:
                scaled = img if s == 1.0 else cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
                if min(scaled.shape[:2]) >= min_side:
                    pool.photos.append(scaled)
            pool.names.append(path.name)
        for clip in clips:
            if Path(clip).name in holdout or Path(clip).stem in holdout:
                continue
            pool.clips.append(decode_clip(clip, clip_frames))
            pool.names.append(Path(clip).name)
        if not pool.photos and not pool.clips:
            raise ValueError("no training material: every photo is held out or too small, and no clips")
        logger.info("sharp pool: %d photo scales, %d clips (%d frames)", len(pool.photos), len(pool.clips),
                    sum(len(c) for c in pool.clips))
        return pool


class OnlineBatches:
    """Batches of freshly degraded samples; batch `step` depends only on (seed, step)."""

    def __init__(self, pool: SharpPool, params: DegradeParams, patch_size: int, batch_size: int, seed: int,
                 video_share: float = 0.3, augment: bool = True, prefetch: int = 2):
        params.check()
        if patch_size % 4:
            raise ValueError("patch_size must be a multiple of 4")
        self.pool, self.params = pool, params
        self.patch_size, self.batch_size, self.seed = patch_size, batch_size, seed
        self.video_share = video_share if pool.clips else 0.0
        if not pool.photos:
            self.video_share = 1.0
        self.augment = augment
        self.prefetch = prefetch
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._next = -1
        self._stop = threading.Event()

    def sample(self, rng: np.random.Generator):
        p, size = self.params, self.patch_size
        if rng.random() < self.video_share:
            clip = self.pool.clips[int(rng.integers(len(self.pool.clips)))]
            item = video_sample(clip, size, p, rng)
        else:
            photo = self.pool.photos[int(rng.integers(len(self.pool.photos)))]
            item = photo_sample(photo, size, p, rng)
        return item

    def make(self, step: int) -> tuple[Batch, list[str]]:
        rng = np.random.default_rng([self.seed, 11, step])
        parts: list[list[np.ndarray]] = [[], [], []]
        names = []
        for _ in range(self.batch_size):
            lr, lr_sharp, hr, how = self.sample(rng)
            flip, rot = (int(rng.integers(0, 3)), int(rng.integers(0, 4))) if self.augment else (0, 0)
            for k, a in enumerate((lr, lr_sharp, hr)):
                parts[k].append(np.ascontiguousarray(flip_rot(a, flip, rot)))
            names.append(how)
        tensors = [torch.from_numpy(np.stack(x)).permute(0, 3, 1, 2).float().div_(255.0) for x in parts]
        return Batch(*tensors), names

    # ------------------------------------------------------------ prefetching
    def get(self, step: int) -> Batch:
        """Batch `step`; the batches after it are made in a background thread meanwhile."""
        if self._queue is None or step != self._next:
            self.close()
            self._start(step)
        got_step, batch = self._queue.get()
        if isinstance(batch, BaseException):
            raise batch
        assert got_step == step
        self._next = step + 1
        return batch

    def _start(self, step: int) -> None:
        self._stop.clear()
        self._queue = queue.Queue(maxsize=self.prefetch)
        self._next = step

        def run() -> None:
            s = step
            while not self._stop.is_set():
                try:
                    item = (s, self.make(s)[0])
                except BaseException as exc:  # handed to the consumer, which raises it
                    item = (s, exc)
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                s += 1

        self._thread = threading.Thread(target=run, name="online-batches", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=10)
            self._thread = None
        self._queue = None

    def __enter__(self) -> "OnlineBatches":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
