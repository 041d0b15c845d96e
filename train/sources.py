"""Where training batches come from: a fixed patch set on disk, or sharp material degraded on the fly.

Both give `batch(step)`, a checkpointable `state_dict()`, and `steps_per_epoch` (None for the online source,
whose stages count steps). The trainer does not know which one it has.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from .dataset import Batch, PatchDataset, make_batch
from .degrade import DegradeParams
from .online import OnlineBatches, SharpPool

logger = logging.getLogger(__name__)


class DataOrder:
    """Shuffled passes over the patch set; its generator also draws the crops and augmentations."""

    def __init__(self, n: int, seed: int):
        self.n = n
        self.rng = np.random.default_rng([seed, 7])
        self.perm = self.rng.permutation(n)
        self.pos = 0
        self.epoch = 0

    def next(self, batch: int) -> np.ndarray:
        if self.pos + batch > self.n:  # drop the remainder, new pass
            self.perm = self.rng.permutation(self.n)
            self.pos = 0
            self.epoch += 1
        out = self.perm[self.pos : self.pos + batch]
        self.pos += batch
        return out

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "perm": torch.from_numpy(self.perm.astype(np.int64)),
                "pos": self.pos, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.perm = state["perm"].numpy()
        self.pos, self.epoch = int(state["pos"]), int(state["epoch"])


class PatchSource:
    """The patch set of gfn-make-dataset, in shuffled passes (the reference's epochs)."""

    def __init__(self, data, seed: int):
        self.data = data
        self.dataset = PatchDataset(data.train)
        if len(self.dataset) < data.batch_size:
            raise ValueError(f"{data.train}: {len(self.dataset)} patches, fewer than one batch")
        self.size = len(self.dataset)
        self.steps_per_epoch: int | None = self.size // data.batch_size
        self.order = DataOrder(self.size, seed)

    def batch(self, step: int) -> Batch:
        return make_batch(self.dataset, self.order.next(self.data.batch_size), self.order.rng, self.data.patch_size,
                          self.data.augment)

    def state_dict(self) -> dict:
        return self.order.state_dict()

    def load_state_dict(self, state: dict | None, where: str) -> None:
        if state is None or len(state["perm"]) != self.size:
            got = "an online run" if state is None else f"{len(state['perm'])} patches"
            raise ValueError(f"{where} was trained on {got}, {self.data.train} has {self.size} patches: "
                             "resume needs the same patch set")
        self.order.load_state_dict(state)

    def close(self) -> None:
        pass


class OnlineSource:
    """Fresh degradations of the sharp photos and clips every batch; batch k is a function of (seed, k) only."""

    def __init__(self, data, degrade: DegradeParams, seed: int):
        pool = SharpPool.load(data.photos, data.clips, data.holdout)
        self.batches = OnlineBatches(pool, degrade, data.patch_size, data.batch_size, seed,
                                     video_share=data.video_share, augment=data.augment)
        self.size = len(pool.photos) + sum(len(c) for c in pool.clips)  # photo scales + clip frames
        self.steps_per_epoch: int | None = None

    def batch(self, step: int) -> Batch:
        return self.batches.get(step)

    def state_dict(self) -> None:
        return None  # nothing to keep: the step is the state

    def load_state_dict(self, state: dict | None, where: str) -> None:
        if state is not None:
            raise ValueError(f"{where} was trained on a patch set; this config trains online")

    def close(self) -> None:
        self.batches.close()


def make_source(data, degrade: DegradeParams, seed: int) -> PatchSource | OnlineSource:
    if data.source == "online":
        return OnlineSource(data, degrade, seed)
    return PatchSource(data, seed)
