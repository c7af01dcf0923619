"""Typed plug-in options: a method's or task's `Options` dataclass, filled from TOML/CLI `key=value` pairs."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from bench.core.errors import BenchError


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """For plug-ins that take no options."""


def parse_options(cls: type, raw: dict[str, Any], owner: str) -> Any:
    """Build `cls` from raw values; unknown keys and values of the wrong type are errors."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        known = ", ".join(fields) or "(none)"
        raise BenchError(f"{owner} has no option {', '.join(map(repr, unknown))}; its options: {known}")
    hints = typing.get_type_hints(cls)
    values = {name: coerce(value, hints[name], f"{owner} option {name!r}") for name, value in raw.items()}
    try:
        return cls(**values)
    except BenchError as exc:  # the options' own check (a range, a combination): say whose options they are
        raise BenchError(f"{owner}: {exc}") from None


def coerce(value: Any, hint: Any, what: str) -> Any:
    """Turn a CLI string (or TOML value) into the annotated type: int, float, bool, str, Optional, Literal."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, what)
            except BenchError as exc:
                errors.append(str(exc))
        raise BenchError(errors[0] if errors else f"{what}: cannot use {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise BenchError(f"{what} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin in (list, tuple):
        items = value.split(",") if isinstance(value, str) else list(value)
        item_type = args[0] if args else str
        converted = [coerce(item.strip() if isinstance(item, str) else item, item_type, what) for item in items if item != ""]
        return tuple(converted) if origin is tuple else converted
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if hint is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        if hint in (int, float, str):
            return hint(value)
    except (TypeError, ValueError):
        raise BenchError(f"{what} must be {getattr(hint, '__name__', hint)}, got {value!r}") from None
    return value
