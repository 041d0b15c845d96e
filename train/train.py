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
import random
import signal
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..models.gfn import GFN, SCALE
from ..models.precision import cpu_has_bf16
from ..models.weights import load_state_strict, read_weights
from .config import Stage, TrainConfig, config_from_dict, load_config
from .model_init import identity_init, model_config, scale_residual_init, start_residual_at_zero
from .sources import make_source
from .state import CKPT_FORMAT, export, export_run, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .validation import Validator

logger = logging.getLogger(__name__)





# ---------------------------------------------------------------- precision, loss, schedule


def pick_precision(requested: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of training (None = fp32)."""
    if requested == "fp32":
        return None
    if requested == "bf16":
        return torch.bfloat16
    if requested == "fp16":
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_bf16() else None


CHARBONNIER_EPS = 1e-3


def pixel_loss(kind: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean pixel loss in fp32: mse, l1 or charbonnier (a smooth L1: sqrt(d^2 + eps^2))."""
    diff = out.float() - target
    if kind == "l1":
        return diff.abs().mean()
    if kind == "charbonnier":
        return torch.sqrt(diff * diff + CHARBONNIER_EPS**2).mean()
    return (diff * diff).mean()



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
    if cfg.model.bicubic_skip:
        start_residual_at_zero(model)  # the skip already is the plain upscale identity_init would build
    elif cfg.model.identity_init:
        identity_init(model)
    if cfg.model.gate_init_one:
        with torch.no_grad():
            model.gate.conv2.weight.mul_(0.01)
            model.gate.conv2.bias.fill_(1.0)
    if cfg.model.init_from and not resume:
        source = Path(cfg.model.init_from)
        if source.suffix == ".pt":
            ckpt = load_checkpoint(source)
            state, source_skip = ckpt["model"], config_from_dict(ckpt["config"]).model.bicubic_skip
        else:
            source_cfg, state, _ = read_weights(source)
            source_skip = source_cfg.bicubic_skip
        load_state_strict(model, state, source=str(source))
        if cfg.model.bicubic_skip and not source_skip:
            start_residual_at_zero(model)
            logger.info("initialised from %s (no bicubic skip there: last conv zeroed, starts at bicubic)", source)
        else:
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
            if cfg.optim.lowpass_weight > 0:
                loss = loss + cfg.optim.lowpass_weight * pixel_loss(
                    cfg.optim.loss, F.avg_pool2d(out_hr.float(), SCALE), F.avg_pool2d(hr, SCALE))
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
