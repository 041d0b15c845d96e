"""gfn-train's settings: typed sections read from TOML, each default stated once, unknown keys an error.

    [model] [data] [degrade] [optim] [run] and [[stage]] tables; see configs/train_*.toml.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import tomllib

from .. import fromdict
from .degrade import DegradeParams

LOSSES = ("mse", "l1", "charbonnier")


@dataclass
class ModelSection:
    channels: int = 64
    deblur_blocks: int = 6
    sr_blocks: int = 8
    recon_blocks: int = 8
    # conv2 of every residual block starts at this multiple of the reference init. 1.0 = the reference, whose
    # un-normalised residual stacks start with outputs ~1e3-1e4 (loss ~1e7: the "gradient explosion" of issue #24);
    # 0.1 starts near identity blocks with outputs ~0.4.
    residual_init_scale: float = 0.1
    # true: feature channels 0-2 start as an exact path x -> nearest-neighbour 4x upscale of x (see
    # identity_init), so training starts from a plain upscale instead of learning to copy the image first
    identity_init: bool = True
    # true: the gate starts as ~1 everywhere (conv2 weights x0.01, bias 1), so switching it on after gate-off
    # stages starts from the fusion those stages trained (sr + deblur) instead of a random gate map
    gate_init_one: bool = True
    # true: HR = bicubic(x) + network (GFNConfig.bicubic_skip). Starting from weights without the skip, the last
    # conv is zeroed, so training starts exactly at bicubic with every feature the source weights learned.
    bicubic_skip: bool = False
    luma_residual: bool = False  # with bicubic_skip: detail on luma only, colours bicubic's (GFNConfig)
    # start from these weights instead (a weights file or a gfn-train checkpoint; same config); ignored on resume
    init_from: str = ""


@dataclass
class DataSection:
    train: str = "data/lr-gopro/train"  # patch set made by gfn-make-dataset
    val: str = ""  # folder with LR_Blur/ and HR/ PNGs ("" = no validation)
    patch_size: int = 256  # HR crop side (LR input = patch_size / 4); <= the set's hr_size
    batch_size: int = 16
    augment: bool = True  # random flip of one axis + rot90, as the reference
    val_images: int = 0  # images used by each periodic validation (0 = all)
    val_crop: int = 0  # centre crop of the LR validation input, in LR px (0 = whole image)
    # "patches": the fixed patch set `train` (gfn-make-dataset); "online": sharp photos and clips degraded on
    # the fly per batch ([degrade]), so no sample repeats (stages then count steps, not epochs)
    source: str = "patches"
    photos: list[str] = field(default_factory=list)  # online: folders/files of sharp photos
    clips: list[str] = field(default_factory=list)  # online: sharp-ish clips (frame averaging, real motion)
    holdout: list[str] = field(default_factory=list)  # online: photo/clip names or stems never trained on
    video_share: float = 0.3  # online: share of samples from clips
    # a quality suite (gfn-eval --build-suite) to validate on instead of `val`: checkpoints are ranked by
    # their worst gain over bicubic across the suite's conditions; suite_limit / suite_crop make it quick
    suite: str = ""
    suite_limit: int = 4
    suite_crop: int = 96


@dataclass
class OptimSection:
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.0
    grad_clip: float = 0.5  # max gradient norm (0 = off); guards the early gradient explosions (issue #24)
    # pixel loss of both terms: "mse" (the reference), "l1", or "charbonnier" (sqrt(d^2 + eps^2), eps = 1e-3)
    loss: str = "mse"
    # extra weight on the 4x4 block means of the HR error (the pixel loss of avg_pool(out) vs avg_pool(hr)): a
    # colour or level offset over a smooth area costs (1 + w) times its MSE, texture errors about the MSE. Plain MSE
    # lets a 1-level colour shift through (it is ~1e-5 against a loss of ~3e-3) that costs 2 dB on a smooth photo.
    lowpass_weight: float = 0.0


@dataclass
class RunSection:
    out: str = "runs/gopro"  # checkpoints, log.jsonl, best.safetensors
    seed: int = 0
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (fp16 = CUDA with GradScaler)
    channels_last: str = "auto"  # auto (on with bf16/fp16) | on | off
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # torch CPU threads (0 = torch's default)
    log_every: int = 50  # steps between log.jsonl lines
    val_every: int = 1000  # steps between validations (0 = only at stage ends)
    ckpt_every: int = 500  # steps between checkpoints (also at each stage end)
    export: str = ""  # final weights file ("" = <out>/gfn.safetensors)
    export_dtype: str = "fp16"  # fp16 | fp32
    export_best: bool = True  # export the best-validation weights rather than the last (when validated)


@dataclass
class Stage:
    name: str = ""
    gated: bool = False
    lambda_db: float = 0.5
    epochs: int = 0  # length in passes over the patch set ...
    steps: int = 0  # ... or in optimizer steps (exactly one of the two)
    lr: float = 1e-4
    lr_decay: float = 0.5  # lr * lr_decay ** (position // decay_every), position in the stage's unit
    decay_every: int = 0  # 0 = constant lr
    # "step" (the reference: lr_decay every decay_every units) or "cosine" (lr -> lr_min over the stage)
    schedule: str = "step"
    lr_min: float = 0.0


@dataclass
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    degrade: DegradeParams = field(default_factory=DegradeParams)
    optim: OptimSection = field(default_factory=OptimSection)
    run: RunSection = field(default_factory=RunSection)
    stage: list[Stage] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def reference_stages() -> list[Stage]:
    """The released model's 3-step schedule (sheet §3)."""
    return [
        Stage("step1", gated=False, lambda_db=0.5, epochs=25, lr=1e-4, lr_decay=0.5, decay_every=7),
        Stage("step2", gated=False, lambda_db=0.5, epochs=60, lr=1e-4, lr_decay=0.1, decay_every=30),
        Stage("step3", gated=True, lambda_db=0.0, epochs=55, lr=5e-5, lr_decay=0.1, decay_every=25),
    ]


def _build(cls, values: dict, where: str):
    """A dataclass from a dict through the shared loader (fromdict.py): unknown keys and wrong types are errors."""
    return fromdict.build(cls, values, f"[{where}]")


def config_from_dict(raw: dict) -> TrainConfig:
    unknown = sorted(set(raw) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise ValueError(f"unknown config section(s): {', '.join(unknown)}")
    cfg = TrainConfig(
        model=_build(ModelSection, raw.get("model", {}), "model"),
        data=_build(DataSection, raw.get("data", {}), "data"),
        degrade=_build(DegradeParams, raw.get("degrade", {}), "degrade"),
        optim=_build(OptimSection, raw.get("optim", {}), "optim"),
        run=_build(RunSection, raw.get("run", {}), "run"),
        stage=[_build(Stage, s, f"stage {i + 1}") for i, s in enumerate(raw.get("stage", []))] or reference_stages(),
    )
    for i, s in enumerate(cfg.stage):
        if (s.epochs > 0) == (s.steps > 0):
            raise ValueError(f"stage {i + 1} ({s.name}): give exactly one of epochs or steps")
    cfg.degrade.check()
    if cfg.data.source not in ("patches", "online"):
        raise ValueError(f"[data] source must be patches or online, not {cfg.data.source!r}")
    if cfg.data.source == "online" and any(s.epochs for s in cfg.stage):
        raise ValueError("[data] source = online has no epochs: give every stage in steps")
    for i, s in enumerate(cfg.stage):
        if s.schedule not in ("step", "cosine"):
            raise ValueError(f"stage {i + 1} ({s.name}): schedule must be step or cosine, not {s.schedule!r}")
    if cfg.optim.loss not in LOSSES:
        raise ValueError(f"[optim] loss must be one of {', '.join(LOSSES)}, not {cfg.optim.loss!r}")
    if cfg.optim.lowpass_weight < 0:
        raise ValueError("[optim] lowpass_weight must be >= 0")
    if cfg.run.precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"[run] precision must be auto, fp32, bf16 or fp16, not {cfg.run.precision!r}")
    if cfg.data.patch_size % 4:
        raise ValueError("[data] patch_size must be a multiple of 4")
    return cfg


def load_config(path: str | Path) -> TrainConfig:
    with open(path, "rb") as f:
        return config_from_dict(tomllib.load(f))
