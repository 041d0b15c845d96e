"""Convert the GFN authors' official checkpoint into a gfn-stream weights file, without running its code.

    gfn-convert GFN_epoch_55.pkl gfn_official.safetensors        # add -y to overwrite

Accepted input: the v2 release `GFN_epoch_55.pkl` (jacquelinelala/GFN `networks/GFN_4x.py`), a whole model
pickled with `torch.save(model)`, in the legacy (torch <= 1.5, magic-number) format or the zip format; the
downloaded `GFN_epoch_55.pkl.zip` wrapper is unpacked in memory; a plain state_dict with the reference key names
also works. The output is `save_weights` of the default `GFNConfig` (gated=True): 168 tensors, 12,210,438
parameters. Every reference key is renamed through an explicit table (`V2_LAYERS`), every shape and the conv
hyper-parameters are checked, and the LeakyReLU slopes stored on the pickled activation modules are compared
with ours (a mismatch is an error: it would be a different network).

v1 (`GFN_4x.pth`, `networks/GFN_x4.py`, `torch.load(f)["model"]`) is refused on purpose, with an error naming
the differences: its layers do not fit the v2 network this package implements. `conv_input.weight` is 9x9
(v2's SR head is 7x7), the SR head and `ednet.0.conv_input` have no activation (v2: LeakyReLU 0.2), the
reconstruction blocks `residual2.*` use LeakyReLU 0.2 (v2: ReLU), `upscale4x.2` has slope 0.2 (v2: 0.1) and
`attention_model.0.weight` reads (x, deblur, sr) channels (v2: deblur, x, sr). Renaming tensors would give a
net that loads but computes something else, so no partial mapping is offered.

Security: the checkpoint is a pickle, read through models/restricted_pickle.py (an allowlist unpickler: no code
of the file runs; anything outside the allowlist is refused before it could be called).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import torch

from .gfn import GFN, GFNConfig, count_parameters
from .restricted_pickle import V1_MODULES, ConvertError, PickledModule, UnsafePickleError, read_checkpoint
from .weights import WeightsError, load_state_strict, save_weights

__all__ = ["ConvertError", "UnsafePickleError", "convert", "load_official", "main", "read_checkpoint"]


# ------------------------------------------------------------------------------------------- key tables
def _blocks(ref: str, ours: str, n: int) -> list[tuple[str, str]]:
    """Reference residual blocks keep their convs at layers.0 / layers.2; ours at conv1 / conv2."""
    return [(f"{ref}.{i}.layers.{a}", f"{ours}.{i}.conv{b}") for i in range(n) for a, b in ((0, 1), (2, 2))]


_C = GFNConfig()
# (reference layer, our layer) for every weight-bearing layer; each has .weight and .bias.
V2_LAYERS: list[tuple[str, str]] = [
    ("deblurMoudle.0.conv1", "deblur.head"),
    *_blocks("deblurMoudle.0.resBlock1", "deblur.scale1", _C.deblur_blocks),
    ("deblurMoudle.0.conv2.0", "deblur.down1"),
    *_blocks("deblurMoudle.0.resBlock2", "deblur.scale2", _C.deblur_blocks),
    ("deblurMoudle.0.conv3.0", "deblur.down2"),
    *_blocks("deblurMoudle.0.resBlock3", "deblur.scale3", _C.deblur_blocks),
    ("deblurMoudle.0.deconv1.0", "deblur.up1"),
    ("deblurMoudle.0.deconv2.0", "deblur.up2"),
    ("deblurMoudle.0.deconv2.2", "deblur.feature"),
    ("deblurMoudle.0.convout.0", "deblur.out1"),
    ("deblurMoudle.0.convout.2", "deblur.out2"),
    ("srMoudle.0.conv1", "sr_features.head"),
    *_blocks("srMoudle.0.resBlock", "sr_features.blocks", _C.sr_blocks),
    ("srMoudle.0.conv2", "sr_features.tail"),
    ("geteMoudle.0.conv1", "gate.conv1"),
    ("geteMoudle.0.conv2", "gate.conv2"),
    *_blocks("reconstructMoudle.0.resBlock", "reconstruct.blocks", _C.recon_blocks),
    ("reconstructMoudle.0.conv1", "reconstruct.up1"),
    ("reconstructMoudle.0.conv2", "reconstruct.up2"),
    ("reconstructMoudle.0.conv3", "reconstruct.conv3"),
    ("reconstructMoudle.0.conv4", "reconstruct.conv4"),
]
V2_KEYS = {f"{r}.{p}": f"{o}.{p}" for r, o in V2_LAYERS for p in ("weight", "bias")}

# (reference activation module, our activation module; None = an F.relu inside our forward)
V2_ACTIVATIONS: list[tuple[str, str | None]] = [
    ("deblurMoudle.0.relu", "deblur.head_act"),
    *[
        (f"deblurMoudle.0.resBlock{s}.{i}.layers.1", f"deblur.scale{s}.{i}.act")
        for s in (1, 2, 3)
        for i in range(_C.deblur_blocks)
    ],
    *[(f"deblurMoudle.0.{m}.1", None) for m in ("conv2", "conv3", "deconv1", "deconv2", "convout")],
    ("srMoudle.0.relu", "sr_features.head_act"),
    *[(f"srMoudle.0.resBlock.{i}.layers.1", f"sr_features.blocks.{i}.act") for i in range(_C.sr_blocks)],
    ("geteMoudle.0.relu", "gate.act"),
    *[(f"reconstructMoudle.0.resBlock.{i}.layers.1", f"reconstruct.blocks.{i}.act") for i in range(_C.recon_blocks)],
    ("reconstructMoudle.0.relu1", "reconstruct.act1"),
    ("reconstructMoudle.0.relu2", "reconstruct.act2"),
    ("reconstructMoudle.0.relu3", "reconstruct.act3"),
]
V2_SHUFFLES = [
    ("reconstructMoudle.0.pixelShuffle1", "reconstruct.shuffle1"),
    ("reconstructMoudle.0.pixelShuffle2", "reconstruct.shuffle2"),
]
CONV_HPARAMS = ("stride", "padding", "dilation", "groups", "output_padding")

V1_DIFFERENCES = (
    "GFN v1 checkpoint (networks/GFN_x4.py, GFN_4x.pth) is not convertible: v1 is a different architecture from "
    "the v2 network gfn-stream implements: conv_input.weight is {sr_head} (v2 SR head: [64, 3, 7, 7]); "
    "conv_input and ednet.0.conv_input have no activation (v2: LeakyReLU 0.2); residual2.*.conv1/conv2 are "
    "LeakyReLU-0.2 blocks (v2 reconstruction: ReLU); upscale4x.2 has slope 0.2 (v2 reconstruct.act1: 0.1); "
    "attention_model.0.weight reads (x, deblur, sr) channels (v2: deblur, x, sr). Use the v2 release GFN_epoch_55.pkl"
)


def _walk(module: PickledModule, prefix: str, tensors: dict, modules: dict, depth: int = 0) -> None:
    if depth > 16 or id(module) in {id(m) for m in modules.values()}:
        raise ConvertError("pickled module tree is malformed (too deep or cyclic)")
    modules[prefix.rstrip(".")] = module
    for group in ("_parameters", "_buffers"):
        for name, t in (module.get(group) or {}).items():
            if t is None:
                continue
            if not isinstance(t, torch.Tensor):
                raise ConvertError(f"{prefix}{name} is a {type(t).__name__}, not a tensor")
            tensors[prefix + name] = t
    for name, child in (module.get("_modules") or {}).items():
        if child is not None:
            if not isinstance(child, PickledModule):
                raise ConvertError(f"{prefix}{name} is a {type(child).__name__}, not a module")
            _walk(child, f"{prefix}{name}.", tensors, modules, depth + 1)


def _flatten(obj: object) -> tuple[dict[str, torch.Tensor], dict[str, PickledModule]]:
    """(reference state dict, reference module objects by path; empty for a bare state dict)."""
    if isinstance(obj, dict) and "model" in obj:
        obj = obj["model"]
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if isinstance(obj, PickledModule):
        if obj.ref_class.rsplit(".", 1)[0] in V1_MODULES:
            raise ConvertError(_v1_message(_only_tensors(obj)))
        tensors, modules = {}, {}
        _walk(obj, "", tensors, modules)
        return tensors, modules
    if isinstance(obj, dict) and obj and all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items()):
        if any(k.startswith(("ednet.", "attention_model.")) for k in obj):
            raise ConvertError(_v1_message(obj))
        return dict(obj), {}
    raise ConvertError(f"not a GFN checkpoint: it holds a {type(obj).__name__}, not a pickled GFN model")


def _only_tensors(module: PickledModule) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    _walk(module, "", tensors, {})
    return tensors


def _v1_message(tensors: dict[str, torch.Tensor]) -> str:
    t = tensors.get("conv_input.weight")
    return V1_DIFFERENCES.format(sr_head=list(t.shape) if t is not None else "9x9 in the v1 code")


def _slope(m: torch.nn.Module) -> float | None:
    if isinstance(m, torch.nn.ReLU):
        return 0.0
    if isinstance(m, torch.nn.LeakyReLU):
        return float(m.negative_slope)
    return None


def _ref_slope(m: PickledModule) -> float | None:
    kind = m.ref_class.rsplit(".", 1)[1]
    if kind == "ReLU":
        return 0.0
    if kind == "LeakyReLU" and isinstance(m.get("negative_slope"), (int, float)):
        return float(m.get("negative_slope"))
    return None


def _check_modules(model: GFN, modules: dict[str, PickledModule]) -> int:
    """Compare layer kinds, conv hyper-parameters, slopes and shuffle factors; returns the activations checked."""
    ours = dict(model.named_modules())
    problems = []
    for ref, mine in V2_LAYERS:
        m, o = modules[ref], ours[mine]
        if m.ref_class.rsplit(".", 1)[1] != type(o).__name__:
            problems.append(f"{ref} is {m.ref_class}, ours {mine} is {type(o).__name__}")
        for hp in CONV_HPARAMS:
            if m.get(hp) is not None and hasattr(o, hp):
                got, want = m.get(hp), getattr(o, hp)
                if (tuple(got) if isinstance(got, (list, tuple)) else got) != want:
                    problems.append(f"{ref}.{hp} = {got}, ours {want}")
    for ref, mine in V2_ACTIVATIONS:
        want = 0.0 if mine is None else _slope(ours[mine])
        got = _ref_slope(modules[ref]) if ref in modules else None
        if got is None or abs(got - want) > 1e-9:
            what = modules[ref].ref_class if ref in modules else "missing"
            problems.append(f"activation {ref} ({what}, slope {got}) vs ours {mine or 'F.relu'} (slope {want})")
    for ref, mine in V2_SHUFFLES:
        got = modules[ref].get("upscale_factor") if ref in modules else None
        if got != ours[mine].upscale_factor:
            problems.append(f"{ref}.upscale_factor = {got}, ours {ours[mine].upscale_factor}")
    if problems:
        raise ConvertError(f"checkpoint layers differ from the v2 network: {'; '.join(problems[:6])}")
    return len(V2_ACTIVATIONS)


def load_official(path: str | Path) -> tuple[GFN, dict]:
    """A default-config GFN holding an official v2 checkpoint's weights, and facts about the conversion."""
    tensors, modules = _flatten(read_checkpoint(path))
    unknown = sorted(set(tensors) - set(V2_KEYS))
    missing = sorted(set(V2_KEYS) - set(tensors))
    if unknown or missing:
        raise ConvertError(
            "not a GFN v2 checkpoint: "
            + "; ".join(
                f"{what} reference keys: {', '.join(keys[:6])}{' ...' if len(keys) > 6 else ''}"
                for what, keys in (("unknown", unknown), ("missing", missing))
                if keys
            )
        )
    model = GFN(GFNConfig(gated=True))
    own = model.state_dict()
    wrong = [
        f"{r} {list(tensors[r].shape)} vs {o} {list(own[o].shape)}"
        for r, o in V2_KEYS.items()
        if tensors[r].shape != own[o].shape
    ]
    if wrong:
        raise ConvertError(f"shape mismatch: {'; '.join(wrong[:6])}")
    load_state_strict(model, {o: tensors[r].float() for r, o in V2_KEYS.items()}, source=str(path))
    slopes = _check_modules(model, modules) if modules else 0
    return model.eval(), {"tensors": len(V2_KEYS), "parameters": count_parameters(model), "slopes_checked": slopes}


def convert(src: str | Path, dst: str | Path, overwrite: bool = False) -> dict:
    """Write `dst` (safetensors) from the official checkpoint `src`; the file appears whole or not at all."""
    src, dst = Path(src), Path(dst)
    if dst.exists() and not overwrite:
        raise ConvertError(f"output exists: {dst} (pass -y to overwrite)")
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise ConvertError("input and output are the same file")
    model, info = load_official(src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    extra = {
        "converted_from": src.name,
        "source_sha256": digest,
        "reference": "jacquelinelala/GFN networks/GFN_4x.py (v2)",
    }
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    try:
        save_weights(model, tmp, extra=extra)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return {**info, "output": str(dst), "source_sha256": digest}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gfn-convert",
        description="Convert the official GFN v2 checkpoint (GFN_epoch_55.pkl) to gfn-stream safetensors weights.",
    )
    parser.add_argument("input", help="official checkpoint: GFN_epoch_55.pkl (or the .pkl.zip download)")
    parser.add_argument("output", help="weights file to write, e.g. gfn_official.safetensors")
    parser.add_argument("-y", "--yes", action="store_true", help="overwrite the output if it exists")
    args = parser.parse_args(argv)
    try:
        info = convert(args.input, args.output, overwrite=args.yes)
    except (WeightsError, OSError) as exc:
        print(f"gfn-convert: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # no tracebacks for a bad input file
        print(f"gfn-convert: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    slopes = (
        f"{info['slopes_checked']} activation slopes match"
        if info["slopes_checked"]
        else "no activation modules to check (bare state dict)"
    )
    print(f"wrote {info['output']}: GFN v2, {info['tensors']} tensors, {info['parameters']:,} parameters; {slopes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
