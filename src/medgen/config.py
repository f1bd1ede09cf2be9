"""Typed dataclass configs loaded from TOML/JSON with unknown keys rejected."""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from medgen.exceptions import InputError, SettingError
from medgen.fileio import read_text
from medgen.validate import finite, shown

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

T = TypeVar("T")


def to_dict(config: Any) -> dict[str, Any]:
    """The config as plain JSON-able data (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def from_dict(cls: type[T], data: dict[str, Any], source: str = "config") -> T:
    """Build dataclass `cls` from `data`; unknown keys, wrong types and non-finite numbers get
    one clear line."""
    if not isinstance(data, dict):
        raise InputError(source, f"expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields))
        raise InputError(source, f"unknown key {unknown[0]!r} (known: {known})")
    kwargs = {
        name: _convert(hints[name], value, f"{source}.{name}") for name, value in data.items()
    }
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, InputError) as exc:
        raise InputError(source, str(exc)) from None


def read_table(path: str | Path) -> dict[str, Any]:
    """The top-level table of a TOML or JSON file (InputError if it cannot be read or parsed)."""
    path = Path(path)
    text = read_text(path)
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise InputError(path, f"not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(path, f"expected a table, got {type(data).__name__}")
    return data


def load_config(cls: type[T], path: str | Path) -> T:
    """Read a TOML or JSON file into dataclass `cls` (unknown keys rejected)."""
    return from_dict(cls, read_table(path), source=str(path))


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return from_dict(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise InputError(where, f"expected a list, got {shown(value)}")
        item = args[0] if args else Any
        if (len(args) == 2 and args[1] is Ellipsis) or len(args) == 1:
            return tuple(_convert(item, v, where) for v in value)
        if len(value) != len(args):
            raise InputError(where, f"expected {len(args)} values, got {len(value)}")
        return tuple(_convert(a, v, where) for a, v in zip(args, value, strict=True))
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(where, f"expected a table, got {shown(value)}")
        return {str(k): _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if hint is float:
        try:
            return finite(where, value)
        except SettingError as err:  # a file's key, not a setting the command line names
            raise InputError(where, err.problem) from None
    if hint is int or hint is bool or hint is str:
        if type(value) is not hint:
            raise InputError(where, f"expected {hint.__name__}, got {shown(value)}")
        return value
    return value
