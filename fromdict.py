"""The one dict -> dataclass loader: gfn-stream's run settings (pipeline/config.py), gfn-train's config
(train/config.py) and the model config stored in a weights file (models/gfn.py GFNConfig.from_dict).

    section = build(ModelSettings, {"batch": 2}, "cfg.toml [model]", ConfigError)

Every key must be a field of the dataclass (an unknown key is an error, never dropped), every value must have the
field's declared type (bool is not an int; an int is accepted for a float and becomes one; a TOML array becomes a
tuple for a tuple field), and the defaults are the dataclass's own: nothing is restated here. Rules beyond types
(ranges, exclusions) stay with the code that builds the setting.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar, Union

T = TypeVar("T")


def build(cls: type[T], values: dict[str, Any], where: str, error: type[Exception] = ValueError) -> T:
    """An instance of dataclass `cls` from `values` (missing keys keep their defaults)."""
    return cls(**checked(cls, values, where, error))


def replace(target: T, values: dict[str, Any], where: str, error: type[Exception] = ValueError) -> T:
    """A copy of dataclass instance `target` with `values` applied (checked as by build)."""
    return dataclasses.replace(target, **checked(type(target), values, where, error))


def checked(cls: type, values: Any, where: str, error: type[Exception] = ValueError) -> dict[str, Any]:
    """`values` with names and types checked against the fields of `cls`; ints converted for float fields."""
    if not isinstance(values, dict):
        raise error(f"{where} must be a table")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls) if f.init]
    out = {}
    for key, value in values.items():
        if key not in known:
            raise error(f"{where}: unknown key {key!r} (known: {', '.join(known)})")
        try:
            out[key] = _convert(value, hints[key])
        except _Mismatch:
            raise error(f"{where}: {key} must be {_describe(hints[key])}, got {value!r}") from None
    return out


class _Mismatch(Exception):
    pass


def _convert(value: Any, hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is type(None):
                continue
            try:
                return _convert(value, option)
            except _Mismatch:
                continue
        raise _Mismatch
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if hint in (int, float, str) and isinstance(value, bool):
        raise _Mismatch
    if hint is float and isinstance(value, (int, float)):
        return float(value)
    if hint in (int, str):
        if isinstance(value, hint):
            return value
        raise _Mismatch
    if origin is list and isinstance(value, list):
        return [_convert(v, args[0]) for v in value] if args else list(value)
    if origin is tuple and isinstance(value, (list, tuple)):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0]) for v in value)
        if len(value) != len(args):
            raise _Mismatch
        return tuple(_convert(v, a) for v, a in zip(value, args))
    if origin is dict and isinstance(value, dict):
        return {_convert(k, args[0]): _convert(v, args[1]) for k, v in value.items()} if args else dict(value)
    raise _Mismatch


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        named = [_describe(a) for a in args if a is not type(None)]
        return " or ".join(named + (["nothing"] if type(None) in args else []))
    if origin is tuple:
        return f"{len(args)} values ({', '.join(_describe(a) for a in args)})"
    if origin in (list, dict):
        return f"a {'list' if origin is list else 'table'} of {', '.join(_describe(a) for a in args)}"
    return getattr(hint, "__name__", str(hint))
