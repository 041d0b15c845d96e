"""gfn-train: train GFN on LR-GOPRO-style triplets with the reference's 3-step schedule (sheet §3).

    gfn-train --config configs/train_gopro.toml             # start (or continue: --resume)
    gfn-train --config configs/train_synthetic.toml --resume   # continue from <out>/last.pt, exactly
    gfn-train --resume runs/synth/last.pt --export-only        # write the weights file from a checkpoint

The loss is MSE(HR) + lambda * MSE(LR deblur) as in the reference ([optim] loss = "l1" or "charbonnier" swaps the
pixel loss of both terms); one Adam optimizer runs through all stages (its moments carry over, as in the reference)
and is saved in every checkpoint. Each stage sets the gate, lambda and its learning rate (step decay as the
reference, or cosine); its length is counted in epochs (passes over the patch set, as the reference) or in steps.
Differences from the reference on purpose: optimizer state survives a resume, the running loss is a float
(.item(), no autograd history), gradient-norm clipping is a setting (on by default), and runs are seeded.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import signal
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import tomllib
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..models.gfn import GFN, GFNConfig, ResBlock
from ..models.weights import load_state_strict, read_weights, save_weights
from .degrade import DegradeParams
from .sources import make_source
from .validation import Validator

logger = logging.getLogger(__name__)
CKPT_FORMAT = "gfn-stream/train-checkpoint/1"


# ---------------------------------------------------------------- config


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
    """A dataclass from a dict; unknown keys and wrong types are errors (ints are accepted for floats)."""
    if not isinstance(values, dict):
        raise ValueError(f"[{where}] must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown key(s) in [{where}]: {', '.join(unknown)}")
    defaults = cls()
    out = {}
    for key, value in values.items():
        want = type(getattr(defaults, key))
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if want is tuple and isinstance(value, list):
            kinds = [type(v) for v in getattr(defaults, key)]
            if len(value) != len(kinds):
                raise ValueError(f"[{where}] {key} needs {len(kinds)} values, got {value!r}")
            value = tuple(float(v) if k is float and isinstance(v, int) else v for k, v in zip(kinds, value))
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise ValueError(f"[{where}] {key} must be {want.__name__}, got {value!r}")
        out[key] = value
    return cls(**out)


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
    if cfg.run.precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"[run] precision must be auto, fp32, bf16 or fp16, not {cfg.run.precision!r}")
    if cfg.data.patch_size % 4:
        raise ValueError("[data] patch_size must be a multiple of 4")
    return cfg


def load_config(path: str | Path) -> TrainConfig:
    with open(path, "rb") as f:
        return config_from_dict(tomllib.load(f))


# ---------------------------------------------------------------- device, precision


def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_precision(requested: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype (None = fp32)."""
    if requested == "fp32":
        return None
    if requested == "bf16":
        return torch.bfloat16
    if requested == "fp16":
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_bf16() else None


# ---------------------------------------------------------------- loss, schedule, data order

CHARBONNIER_EPS = 1e-3


def pixel_loss(kind: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean pixel loss in fp32: mse, l1 or charbonnier (a smooth L1: sqrt(d^2 + eps^2))."""
    diff = out.float() - target
    if kind == "l1":
        return diff.abs().mean()
    if kind == "charbonnier":
        return torch.sqrt(diff * diff + CHARBONNIER_EPS**2).mean()
    return (diff * diff).mean()


LOSSES = ("mse", "l1", "charbonnier")



def stage_lengths(cfg: TrainConfig, steps_per_epoch: int) -> list[tuple[int, int]]:
    """(total steps, steps per decay unit) of each stage."""
    out = []
    for s in cfg.stage:
        unit = steps_per_epoch if s.epochs else 1
        out.append(((s.epochs or s.steps) * unit, unit))
    return out


def stage_lr(stage: Stage, step_in_stage: int, unit: int, length: int = 0) -> float:
    """The learning rate at a step of a stage (`length`: the stage's steps, needed by the cosine schedule)."""
    if stage.schedule == "cosine":
        t = min(1.0, step_in_stage / max(1, length))
        return stage.lr_min + 0.5 * (stage.lr - stage.lr_min) * (1.0 + math.cos(math.pi * t))
    if stage.decay_every <= 0:
        return stage.lr
    return stage.lr * stage.lr_decay ** ((step_in_stage // unit) // stage.decay_every)


def rng_state() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------- validation


def to_tensor(img: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float().div(255.0).to(device)


def to_image(t: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float -> uint8 (H, W, 3), clamped and rounded."""
    return (t[0].float().clamp(0, 1).mul(255.0).round().byte().permute(1, 2, 0).cpu().numpy())


def bicubic_up(lr: np.ndarray) -> np.ndarray:
    """torch bicubic x4 (a = -0.75, align_corners False), the baseline gfn-eval reports."""
    y = F.interpolate(to_tensor(lr, torch.device("cpu")), scale_factor=4, mode="bicubic", align_corners=False)
    return to_image(y)


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written last.pt


def load_checkpoint(path: str | Path) -> dict:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt.get("format") != CKPT_FORMAT:
        raise ValueError(f"{path}: not a gfn-train checkpoint")
    return ckpt


def model_config(cfg: TrainConfig, gated: bool) -> GFNConfig:
    m = cfg.model
    return GFNConfig(m.channels, m.deblur_blocks, m.sr_blocks, m.recon_blocks, gated=gated)


@torch.no_grad()
def identity_init(model: GFN, other_scale: float = 0.01) -> None:
    """Make feature channels 0-2 carry the RGB input through the network so the output starts as nearest 4x.

    SR head copies x into channels 0-2 (inputs are >= 0, so the LeakyReLUs pass them); every residual block,
    the SR tail and the deblur feature conv write nothing into those channels; both conv + pixel-shuffle steps
    replicate them to the 2x2 sub-pixels; conv3 copies them; conv4 reads them (its other weights are scaled by
    `other_scale` so the rest of the network still gets gradients from the start). The architecture is unchanged:
    this is only a starting point, every weight trains.
    """
    rgb = range(3)

    def center(conv: torch.nn.Conv2d) -> tuple[int, int]:
        return conv.kernel_size[0] // 2, conv.kernel_size[1] // 2

    def silence(conv: torch.nn.Conv2d) -> None:  # output channels 0-2 get nothing from this conv
        conv.weight[:3] = 0
        conv.bias[:3] = 0

    sr, rec = model.sr_features, model.reconstruct
    cy, cx = center(sr.head)
    silence(sr.head)
    for c in rgb:
        sr.head.weight[c, c, cy, cx] = 1.0
    for block in list(sr.blocks) + list(rec.blocks):
        silence(block.conv2)
    silence(sr.tail)
    silence(model.deblur.feature)
    for up in (rec.up1, rec.up2):  # PixelShuffle(2): out channel k, sub-pixel s <- conv channel 4k + s
        cy, cx = center(up)
        for c in rgb:
            up.weight[4 * c : 4 * c + 4] = 0
            up.bias[4 * c : 4 * c + 4] = 0
            up.weight[4 * c : 4 * c + 4, c, cy, cx] = 1.0
    cy, cx = center(rec.conv3)
    silence(rec.conv3)
    for c in rgb:
        rec.conv3.weight[c, c, cy, cx] = 1.0
    rec.conv4.weight.mul_(other_scale)
    rec.conv4.weight[:, :3] = 0
    rec.conv4.bias.zero_()
    cy, cx = center(rec.conv4)
    for c in rgb:
        rec.conv4.weight[c, c, cy, cx] = 1.0


def scale_residual_init(model: GFN, scale: float) -> None:
    """Multiply the second conv of every residual block by `scale` (after the reference init)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, ResBlock):
                m.conv2.weight.mul_(scale)


def export(model: GFN, path: Path, dtype: str, extra: dict) -> Path:
    """Write the weights file (config in its metadata, with the gate setting the model runs with now)."""
    shipped = GFN(GFNConfig(**{**model.config.to_dict(), "gated": bool(model.gated)}))
    load_state_strict(shipped, {k: v.detach().cpu().float() for k, v in model.state_dict().items()})
    return save_weights(shipped, path, dtype=torch.float16 if dtype == "fp16" else torch.float32, extra=extra)


# ---------------------------------------------------------------- training


def train(cfg: TrainConfig, resume: str | Path | None = None, quiet: bool = False) -> dict:
    """Run (or continue) the schedule; returns a summary. Deterministic for a given config and thread count."""
    out = Path(cfg.run.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    device = torch.device(
        cfg.run.device if cfg.run.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    amp = pick_precision(cfg.run.precision, device)
    channels_last = cfg.run.channels_last == "on" or (cfg.run.channels_last == "auto" and amp is not None)
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 and device.type == "cuda" else None

    random.seed(cfg.run.seed)
    np.random.seed(cfg.run.seed)
    torch.manual_seed(cfg.run.seed)
    data = make_source(cfg.data, cfg.degrade, cfg.run.seed)
    steps_per_epoch = data.steps_per_epoch
    lengths = stage_lengths(cfg, steps_per_epoch)
    total_steps = sum(n for n, _ in lengths)

    model = GFN(model_config(cfg, cfg.stage[0].gated))
    scale_residual_init(model, cfg.model.residual_init_scale)
    if cfg.model.identity_init:
        identity_init(model)
    if cfg.model.gate_init_one:
        with torch.no_grad():
            model.gate.conv2.weight.mul_(0.01)
            model.gate.conv2.bias.fill_(1.0)
    if cfg.model.init_from and not resume:
        source = Path(cfg.model.init_from)
        state = load_checkpoint(source)["model"] if source.suffix == ".pt" else read_weights(source)[1]
        load_state_strict(model, state, source=str(source))
        logger.info("initialised from %s", source)
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=cfg.stage[0].lr, betas=tuple(cfg.optim.betas), eps=cfg.optim.eps,
        weight_decay=cfg.optim.weight_decay,
    )
    step, best, elapsed = 0, -math.inf, 0.0
    if resume:
        ckpt = load_checkpoint(resume)
        load_state_strict(model, ckpt["model"], source=str(resume))
        optimizer.load_state_dict(ckpt["optimizer"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        data.load_state_dict(ckpt["data_order"], str(resume))
        set_rng_state(ckpt["rng"])
        step, best, elapsed = int(ckpt["step"]), float(ckpt["best_psnr"]), float(ckpt["elapsed"])
        logger.info("resumed %s at step %d", resume, step)

    validator = Validator(cfg.data, device)
    log_file = open(out / "log.jsonl", "a")

    def log(record: dict) -> None:
        log_file.write(json.dumps(record) + "\n")
        log_file.flush()

    if validator and step == 0:
        log({"step": 0, **validator.baseline(), "train_patches": data.size,
             "steps_per_epoch": steps_per_epoch, "total_steps": total_steps, "config": cfg.to_dict()})

    def position(s: int) -> tuple[int, int]:
        """(stage index, step within stage) of global step s (the step about to run)."""
        for i, (n, _) in enumerate(lengths):
            if s < n:
                return i, s
            s -= n
        return len(lengths), 0

    def checkpoint() -> None:
        stage_i, in_stage = position(step)
        save_checkpoint(out / "last.pt", {
            "format": CKPT_FORMAT, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None, "step": step, "stage": stage_i,
            "step_in_stage": in_stage, "config": cfg.to_dict(), "rng": rng_state(),
            "data_order": data.state_dict(), "best_psnr": best, "elapsed": elapsed,
        })

    def run_validation() -> float:
        nonlocal best
        score, record = validator.run(model)
        if score > best:
            best = score
            export(model, out / "best.safetensors", "fp32", {"step": step, "val_score": score, **record})
        log({"step": step, **record, "val_score": score, "best_psnr": best, "elapsed_s": round(elapsed, 1)})
        return score

    stop = {"flag": False}
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True)) if _main_thread() else None
    model.train()
    bar = tqdm(total=total_steps, initial=step, disable=quiet, dynamic_ncols=True, mininterval=5.0)
    running, count, t_log = 0.0, 0, time.perf_counter()
    try:
        while step < total_steps and not stop["flag"]:
            t0 = time.perf_counter()
            stage_i, in_stage = position(step)
            stage = cfg.stage[stage_i]
            model.gated = stage.gated
            lr = stage_lr(stage, in_stage, lengths[stage_i][1], lengths[stage_i][0])
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = data.batch(step)
            x, lr_sharp, hr = (t.to(device, non_blocking=True) for t in (batch.lr_blur, batch.lr_sharp, batch.hr))
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                out_hr, out_lr = model.forward_train(x)
            loss = pixel_loss(cfg.optim.loss, out_hr, hr)
            if stage.lambda_db > 0:  # leave the deblur head's grads None at lambda 0 (Adam then skips them)
                loss = loss + stage.lambda_db * pixel_loss(cfg.optim.loss, out_lr, lr_sharp)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            if cfg.optim.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            step += 1
            elapsed += time.perf_counter() - t0
            value = loss.item()  # a float: no autograd history kept (reference bug)
            running += value
            count += 1
            bar.update(1)
            bar.set_postfix(stage=stage.name or stage_i + 1, loss=f"{value:.5f}", lr=f"{lr:.1e}", refresh=False)
            if step % cfg.run.log_every == 0 or step == total_steps:
                now = time.perf_counter()
                log({"step": step, "stage": stage.name or stage_i + 1, "loss": running / count, "lr": lr,
                     "s_per_step": round((now - t_log) / count, 4), "elapsed_s": round(elapsed, 1)})
                running, count, t_log = 0.0, 0, now
            stage_end = position(step)[0] != stage_i
            if validator and ((cfg.run.val_every and step % cfg.run.val_every == 0) or stage_end):
                bar.set_postfix(val_psnr=f"{run_validation():.2f}", refresh=False)
            if step % cfg.run.ckpt_every == 0 or stage_end:
                checkpoint()
    except KeyboardInterrupt:
        stop["flag"] = True
    finally:
        bar.close()
        data.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    checkpoint()
    summary = {"step": step, "total_steps": total_steps, "best_psnr": best, "elapsed_s": round(elapsed, 1)}
    if step >= total_steps:
        summary["export"] = str(export_run(cfg, model, best))
    log({"done": step >= total_steps, **summary})
    log_file.close()
    return summary


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def export_run(cfg: TrainConfig, model: GFN, best: float) -> Path:
    """The run's weights file: the best-validation weights when there are any (export_best), else the model."""
    out = Path(cfg.run.out)
    target = Path(cfg.run.export) if cfg.run.export else out / "gfn.safetensors"
    src, extra = model, {"source": "last", "train_config": cfg.to_dict()}
    best_file = out / "best.safetensors"
    if cfg.run.export_best and best_file.is_file():
        conf, state, meta = read_weights(best_file)
        src = GFN(conf)
        load_state_strict(src, state)
        extra = {"source": "best", "val_psnr": best, **meta, "train_config": cfg.to_dict()}
    return export(src, target, cfg.run.export_dtype, extra)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="gfn-train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", help="TOML config (configs/train_gopro.toml); default: the one in the checkpoint")
    ap.add_argument("--resume", nargs="?", const="auto", help="checkpoint to continue from (default <out>/last.pt)")
    ap.add_argument("--export-only", action="store_true", help="only write the weights file from the checkpoint")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = load_config(args.config) if args.config else None
    resume = args.resume
    if resume == "auto":
        if cfg is None:
            ap.error("--resume without a path needs --config (to find <out>/last.pt)")
        resume = Path(cfg.run.out) / "last.pt"
        if not resume.is_file():
            logger.info("no %s yet: starting fresh", resume)
            resume = None
    if cfg is None:
        if not resume:
            ap.error("give --config or --resume CHECKPOINT")
        cfg = config_from_dict(load_checkpoint(resume)["config"])
    if args.export_only:
        if not resume:
            ap.error("--export-only needs a checkpoint (--resume)")
        ckpt = load_checkpoint(resume)
        model = GFN(model_config(cfg, cfg.stage[min(int(ckpt["stage"]), len(cfg.stage) - 1)].gated))
        load_state_strict(model, ckpt["model"])
        print(export_run(cfg, model, float(ckpt["best_psnr"])))
        return
    print(json.dumps(train(cfg, resume, quiet=args.quiet)))


if __name__ == "__main__":
    main()
