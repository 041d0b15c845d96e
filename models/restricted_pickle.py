"""Read a PyTorch checkpoint (legacy or zip format, or a .zip download around one) without running its code.

A pickle can name any importable callable, so `torch.load(weights_only=False)` on a downloaded file is arbitrary
code execution. Here torch's own loaders (legacy and zip) read the storages, but every pickle they open goes through
`RestrictedUnpickler`, whose `find_class` admits only an allowlist: torch's tensor rebuild functions (behind
type-checking wrappers), storage types, `OrderedDict`/`set`, and inert stand-ins for the `torch.nn` layer classes
and the GFN reference classes. A stand-in (`PickledModule`) records the pickled attribute dict and nothing else, so
no module code, hook or `__setstate__` of the checkpoint runs. Anything else (`posix.system`, `builtins.eval`,
`subprocess.*`, ...) raises `UnsafePickleError` at the GLOBAL opcode, before the REDUCE that would call it.
TorchScript zips (which torch.load would hand to torch.jit.load) and the pre-0.2 tar format are refused before
torch sees them. Used by models/convert.py (gfn-convert).
"""

from __future__ import annotations

import io
import pickle
import types
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import torch

from .weights import WeightsError

MAX_MEMBER_BYTES = 1 << 30  # legacy pickles and a .pkl inside a .zip download are read into memory (real: ~49 MB)


class ConvertError(WeightsError):
    """The input is not a convertible official GFN checkpoint."""


class UnsafePickleError(ConvertError, pickle.UnpicklingError):
    """The pickle names something outside the allowlist: refused before anything runs."""


# ------------------------------------------------------------------------------------------- unpickling
class PickledModule:
    """Inert record of a pickled nn.Module: the class it claims to be and its attribute dict, no behaviour."""

    ref_class = "?"
    dump_patches = False  # torch's legacy loader reads this on source mismatch; never write patch files

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots) form
            state = state[0]
        if not isinstance(state, dict):
            raise UnsafePickleError(f"pickled {self.ref_class} carries a {type(state).__name__} state")
        self.state = state

    def get(self, key, default=None):
        return getattr(self, "state", {}).get(key, default)


def _stand_in(module: str, name: str) -> type:
    # __module__ points nowhere importable, so torch's legacy source check cannot find (or patch) a source
    return type(name, (PickledModule,), {"ref_class": f"{module}.{name}", "__module__": "<gfn-convert stand-in>"})


TORCH_LAYERS = {
    "torch.nn.modules.conv": ("Conv2d", "ConvTranspose2d"),
    "torch.nn.modules.activation": ("ReLU", "LeakyReLU"),
    "torch.nn.modules.pixelshuffle": ("PixelShuffle",),
    "torch.nn.modules.container": ("Sequential",),
}
V2_CLASSES = (
    "Net", "_DeblurringMoudle", "_SRMoudle", "_GateMoudle", "_ReconstructMoudle", "_ResBLockDB", "_ResBlockSR"
)
V1_CLASSES = ("Net", "_EDNet", "_Residual_Block_DB", "_Residual_Block_SR")
REFERENCE_MODULES = {
    "networks.GFN_4x": V2_CLASSES, "GFN_4x": V2_CLASSES, "networks.GFN_x4": V1_CLASSES, "GFN_x4": V1_CLASSES
}
V1_MODULES = ("networks.GFN_x4", "GFN_x4")
STORAGES = ("FloatStorage", "HalfStorage", "DoubleStorage", "BFloat16Storage")


def _tensor(storage, storage_offset, size, stride, *_ignored):
    """`torch._utils._rebuild_tensor(_v2)`, with its arguments type-checked and hooks/metadata dropped."""
    ok = (
        isinstance(storage, torch.storage.TypedStorage)
        and isinstance(storage_offset, int)
        and isinstance(size, (tuple, torch.Size))
        and isinstance(stride, tuple)
        and all(isinstance(v, int) for v in (*size, *stride))
    )
    if not ok:
        raise UnsafePickleError("malformed tensor record in pickle")
    return torch._utils._rebuild_tensor(storage, storage_offset, tuple(size), stride)


def _parameter(data=None, *_ignored):
    """Parameter / `_rebuild_parameter(_with_state)`: keep the tensor, drop hooks and state."""
    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError("malformed parameter record in pickle")
    return data.detach()


def _allowlist() -> dict[tuple[str, str], object]:
    allowed: dict[tuple[str, str], object] = {
        ("collections", "OrderedDict"): OrderedDict,
        ("builtins", "set"): set,
        ("__builtin__", "set"): set,  # protocol-2 name
        ("torch._utils", "_rebuild_tensor"): _tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _tensor,
        ("torch._utils", "_rebuild_parameter"): _parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _parameter,
        ("torch.nn.parameter", "Parameter"): _parameter,  # torch 0.4 pickled Parameter(data, requires_grad)
        ("torch.nn.backends.thnn", "_get_thnn_function_backend"): lambda: None,  # torch 0.4 Module._backend
    }
    for module in ("torch", "torch.cuda"):
        allowed.update({(module, s): torch.serialization.StorageType(s) for s in STORAGES})
    for module, names in (*TORCH_LAYERS.items(), *REFERENCE_MODULES.items()):
        allowed.update({(module, n): _stand_in(module, n) for n in names})
    return allowed


ALLOWED = _allowlist()


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only allowlisted globals; any other GLOBAL raises before the pickle can call it."""

    def find_class(self, module, name):
        try:
            return ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise UnsafePickleError(
                f"refused to unpickle {module}.{name}: not a tensor, layer or GFN reference class "
                "(a tampered or foreign pickle; nothing was executed)"
            ) from None


def _restricted_load(file, **kwargs):
    return RestrictedUnpickler(file, **kwargs).load()


# What torch.load expects of `pickle_module`: a name, an Unpickler class and load().
RESTRICTED_PICKLE = types.SimpleNamespace(
    __name__="gfn_restricted_pickle", Unpickler=RestrictedUnpickler, load=_restricted_load
)


def _torch_load(source) -> object:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # legacy files: "couldn't retrieve source code for container"
            return torch.load(source, map_location="cpu", pickle_module=RESTRICTED_PICKLE, weights_only=False)
    except UnsafePickleError:
        raise
    except Exception as exc:  # torch and pickle raise many types for a damaged file
        raise ConvertError(f"cannot read the PyTorch checkpoint: {type(exc).__name__}: {exc}") from None


def read_checkpoint(path: str | Path) -> object:
    """The unpickled content of an official checkpoint (stand-ins and tensors), read safely."""
    path = Path(path)
    if not path.is_file():
        raise ConvertError(f"input not found: {path}" if not path.exists() else f"input is not a file: {path}")
    with open(path, "rb") as f:
        return _read(f, str(path), nested=False)


def _read(f, name: str, nested: bool) -> object:
    head = f.read(4)
    f.seek(0)
    if head == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(f) as z:
                infos = [i for i in z.infolist() if not i.filename.startswith("__MACOSX/")]
                names = [i.filename for i in infos]
                if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
                    raise ConvertError(f"{name}: a TorchScript archive, not a pickled GFN (refused: it holds code)")
                if sum(n.count("/") == 1 and n.endswith("/data.pkl") for n in names) == 1:
                    f.seek(0)
                    return _torch_load(f)
                inner = [i for i in infos if i.filename.lower().endswith((".pkl", ".pth", ".pt"))]
                if len(inner) != 1 or nested:
                    raise ConvertError(f"{name}: a zip archive that holds no single PyTorch checkpoint")
                if inner[0].file_size > MAX_MEMBER_BYTES:
                    raise ConvertError(f"{name}: {inner[0].filename} is implausibly large for GFN")
                data = z.read(inner[0])
        except zipfile.BadZipFile as exc:
            raise ConvertError(f"{name}: damaged zip archive ({exc})") from None
        return _read(io.BytesIO(data), f"{name}:{inner[0].filename}", nested=True)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # a pickle: torch's legacy format
        # from memory: torch then skips its pre-0.2 tar attempt, which would extract tar members to disk
        return _torch_load(f if isinstance(f, io.BytesIO) else io.BytesIO(f.read(MAX_MEMBER_BYTES)))
    raise ConvertError(f"{name}: not a PyTorch checkpoint (neither a torch zip archive nor a legacy torch pickle)")
