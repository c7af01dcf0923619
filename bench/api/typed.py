"""Typed dataclasses to and from JSON, and their JSON schema: the record's shape is written once, as its
dataclasses (bench.api.record), and its serialisation, its reader and its schema all follow from them.

Supported field types: str, int, float, bool, Any, X | None, Literal[...], list[T], tuple[T, ...],
dict[str, T] and nested dataclasses. Field metadata:
  "schema": extra JSON-schema keywords for the field (a minimum, a pattern, an enum's own wording);
  "omit_none": the field is left out of the JSON when it is None (a key that only some runs write, so that
  the records those runs wrote before it existed read and write unchanged);
  "transient": the field is not part of the JSON at all (where the object was read from, say): never
  written, never read, not in the schema.
A dataclass's `__schema__` class attribute adds keywords to its object schema (e.g. dependentRequired).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any, Literal, Union

from bench.core.errors import BenchError

_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def optional(**schema: Any) -> Any:
    """A field that is None unless a run writes it, and absent from the JSON when None."""
    return dataclasses.field(default=None, metadata={"omit_none": True, "schema": schema})


def transient() -> Any:
    """A field that lives in memory only (None until set): not written, not read, not in the schema."""
    return dataclasses.field(default=None, compare=False, repr=False, metadata={"transient": True})


def _fields(tp: Any) -> list[dataclasses.Field]:
    """A dataclass's fields that are part of its JSON form."""
    return [f for f in dataclasses.fields(tp) if not f.metadata.get("transient")]


def constrained(**schema: Any) -> Any:
    """A required field with extra JSON-schema keywords (minimum, pattern, ...)."""
    return dataclasses.field(metadata={"schema": schema})


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def to_dict(obj: Any) -> Any:
    """The JSON form of a dataclass (fields in declaration order; `omit_none` fields left out when None)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in _fields(obj):
            value = getattr(obj, f.name)
            if value is None and f.metadata.get("omit_none"):
                continue
            out[f.name] = to_dict(value)
        return out
    if isinstance(obj, dict):
        return {key: to_dict(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(value) for value in obj]
    return obj


def from_dict(cls: type, data: Any, where: str) -> Any:
    """A `cls` from its JSON form; a missing, unknown or mistyped field raises BenchError naming it."""
    return _convert(cls, data, where)


def _args(tp: Any) -> tuple[Any, ...]:
    return typing.get_args(tp)


def _item_types(tp: Any, n: int, where: str) -> list[Any]:
    """The type of each of the n items of a list, a tuple[T, ...] or a fixed tuple[A, B]."""
    args = _args(tp)
    if typing.get_origin(tp) is list or (len(args) == 2 and args[1] is Ellipsis):
        return [args[0]] * n
    if n != len(args):
        raise BenchError(f"{where}: expected {len(args)} items, got {n}")
    return list(args)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _convert(tp: Any, value: Any, where: str) -> Any:
    if tp is Any:
        return value
    if _is_union(tp):
        options = _args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(option, value, where)
            except BenchError as exc:
                errors.append(str(exc))
        raise BenchError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of its types")
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value not in _args(tp):
            raise BenchError(f"{where}: {value!r} is not one of {', '.join(map(repr, _args(tp)))}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise BenchError(f"{where}: expected a list, got {type(value).__name__}")
        kinds = _item_types(tp, len(value), where)
        items = [_convert(kind, v, f"{where}[{i}]") for i, (kind, v) in enumerate(zip(kinds, value, strict=True))]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise BenchError(f"{where}: expected an object, got {type(value).__name__}")
        item = _args(tp)[1]
        return {k: _convert(item, v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise BenchError(f"{where}: expected an object, got {type(value).__name__}")
        hints, names = _hints(tp), {f.name for f in _fields(tp)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise BenchError(f"{where}: unknown field {', '.join(unknown)}")
        missing = [f.name for f in _fields(tp) if f.name not in value
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise BenchError(f"{where}: missing field {', '.join(missing)}")
        return tp(**{k: _convert(hints[k], v, f"{where}.{k}") for k, v in value.items()})
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BenchError(f"{where}: expected a number, got {value!r}")
        return value  # an int stays an int, as json.loads gave it: writing it back gives the same text
    if tp in _SCALARS:
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise BenchError(f"{where}: expected {_SCALARS[tp]}, got {value!r}")
        return value
    raise TypeError(f"unsupported field type {tp!r}")


def json_schema(tp: Any) -> dict[str, Any]:
    """The JSON schema (draft 2020-12 keywords) of a field type or dataclass."""
    if tp is Any:
        return {}
    if _is_union(tp):
        options = [o for o in _args(tp) if o is not type(None)]
        nullable = len(options) < len(_args(tp))
        if len(options) == 1 and options[0] in _SCALARS:
            return {"type": [_scalar(options[0]), "null"] if nullable else _scalar(options[0])}
        return {"anyOf": [json_schema(o) for o in options] + ([{"type": "null"}] if nullable else [])}
    origin = typing.get_origin(tp)
    if origin is Literal:
        return {"enum": list(_args(tp))}
    if origin is list or (origin is tuple and _args(tp)[1:] == (Ellipsis,)):
        return {"type": "array", "items": json_schema(_args(tp)[0])}
    if origin is tuple:
        items = [json_schema(a) for a in _args(tp)]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    if origin is dict:
        return {"type": "object", "additionalProperties": json_schema(_args(tp)[1])}
    if dataclasses.is_dataclass(tp):
        hints, fields = _hints(tp), _fields(tp)
        return {
            **getattr(tp, "__schema__", {}),
            "type": "object",
            "required": [f.name for f in fields
                         if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING],
            "properties": {f.name: {**json_schema(hints[f.name]), **f.metadata.get("schema", {})} for f in fields},
            "additionalProperties": False,
        }
    if tp in _SCALARS:
        return {"type": _scalar(tp)}
    raise TypeError(f"unsupported field type {tp!r}")


def _scalar(tp: Any) -> str:
    return _SCALARS[tp]
