"""Typed, validated parameter tables: config sections and every plugin's parameters.

A parameter class is a frozen attrs class whose fields are made with `param()`. `build()` turns a
TOML/dict table into an instance: unknown keys name the nearest valid ones, values are converted by
the field's annotation, and every failure names the full config key and what is allowed.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, get_args, get_origin

import attrs

from .errors import ConfigError

__all__ = [
    "param",
    "build",
    "describe",
    "to_table",
    "positive",
    "non_negative",
    "in_range",
    "one_of",
    "probability",
    "at_least",
]

_MISSING = attrs.NOTHING


def param(default: Any = _MISSING, *, doc: str, unit: str = "", validator=None, factory=None):
    """An attrs field carrying its documentation and unit (shown by `dps scenarios` and docs)."""
    kwargs: dict[str, Any] = {"metadata": {"doc": doc, "unit": unit}}
    if validator is not None:
        kwargs["validator"] = validator
    if factory is not None:
        kwargs["factory"] = factory
    elif default is not _MISSING:
        kwargs["default"] = default
    return attrs.field(**kwargs)


# --- validators: each raises ValueError with a sentence that completes "config key 'x' ..." ----


def positive(_inst, attribute, value):
    """Value must be > 0."""
    if value is not None and not value > 0:
        raise ValueError(f"must be > 0, got {value!r}")


positive.range = "> 0"  # type: ignore[attr-defined]


def non_negative(_inst, attribute, value):
    """Value must be >= 0."""
    if value is not None and not value >= 0:
        raise ValueError(f"must be >= 0, got {value!r}")


non_negative.range = ">= 0"  # type: ignore[attr-defined]


def probability(_inst, attribute, value):
    """Value must lie in [0, 1]."""
    if value is not None and not 0 <= value <= 1:
        raise ValueError(f"must be in [0, 1], got {value!r}")


probability.range = "[0, 1]"  # type: ignore[attr-defined]


def at_least(n):
    """Value must be >= n."""

    def check(_inst, attribute, value):
        if value is not None and value < n:
            raise ValueError(f"must be >= {n}, got {value!r}")

    check.range = f">= {n}"  # type: ignore[attr-defined]
    return check


def in_range(lo=None, hi=None, *, lo_open=False, hi_open=False):
    """Value must lie between lo and hi (either may be None; open or closed ends)."""
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    text = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"

    def check(_inst, attribute, value):
        if value is None:
            return
        ok = True
        if lo is not None:
            ok &= value > lo if lo_open else value >= lo
        if hi is not None:
            ok &= value < hi if hi_open else value <= hi
        if not ok:
            raise ValueError(f"must be in {text}, got {value!r}")

    check.range = text  # type: ignore[attr-defined]
    return check


def one_of(*choices):
    """Value must be one of the given choices."""

    def check(_inst, attribute, value):
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(map(repr, choices))}; got {value!r}")

    check.range = ", ".join(map(repr, choices))  # type: ignore[attr-defined]
    return check


# --- conversion by annotation --------------------------------------------------------------------


def _plural(name: str) -> str:
    """'a number' -> 'numbers', 'a list of numbers' -> 'lists of numbers', else 'values, each ...'."""
    noun = name.removeprefix("a ").removeprefix("an ")
    if noun.startswith("list of "):
        return "lists of " + noun.removeprefix("list of ")
    if noun in ("number", "integer", "string", "table"):
        return noun + "s"
    return f"values, each {name}"


def _type_name(tp) -> str:
    origin = get_origin(tp)
    if tp is float:
        return "a number"
    if tp is int:
        return "an integer"
    if tp is bool:
        return "true or false"
    if tp is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(map(repr, get_args(tp)))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if tp is type(None):
        return "absent"
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(_type_name(args[0]))}"
        return f"a list of {len(args)} values"
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return "a table"
    return getattr(tp, "__name__", str(tp))


class _Bad(Exception):
    pass


def _convert(value, tp):
    """Convert a TOML/JSON value to annotation `tp`; raise _Bad if it does not fit."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise _Bad
    if origin in (typing.Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return _convert(value, arg)
            except _Bad:
                continue
        raise _Bad
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in get_args(tp)):
            return value
        raise _Bad
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Bad
    if tp is int:
        if isinstance(value, bool):
            raise _Bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            return int(value)
        raise _Bad
    if tp is float:
        if isinstance(value, bool):
            raise _Bad
        if isinstance(value, (int, float)):
            v = float(value)
            if math.isnan(v):
                raise _Bad
            return v
        if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "-inf"):
            return float(value)
        raise _Bad
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Bad
    if origin is tuple:
        if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
            raise _Bad
        items = list(value)
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0]) for v in items)
        if len(items) != len(args):
            raise _Bad
        return tuple(_convert(v, a) for v, a in zip(items, args, strict=False))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise _Bad
        args = get_args(tp)
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, vt) for k, v in value.items()}
    # unknown annotation: accept as is
    return value


def _hints(cls) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # unresolvable annotation: fall back to no conversion
        return {}


def build(cls, table: Mapping[str, Any] | None, where: str, *, ignore: tuple[str, ...] = ()):
    """Make an instance of attrs class `cls` from `table`; errors name `where`.key."""
    table = dict(table or {})
    for key in ignore:
        table.pop(key, None)
    fields = {f.name: f for f in attrs.fields(cls)}
    hints = _hints(cls)
    prefix = f"{where}." if where else ""
    unknown = [k for k in table if k not in fields]
    if unknown:
        key = unknown[0]
        allowed = sorted(fields)
        near = difflib.get_close_matches(str(key), allowed, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(map(repr, near))}?" if near else ""
        listing = ", ".join(allowed) if allowed else "(none: this section takes no keys)"
        raise ConfigError(f"unknown config key '{prefix}{key}'{hint} Allowed keys: {listing}")
    values = {}
    for name, f in fields.items():
        if name not in table:
            if f.default is attrs.NOTHING:
                raise ConfigError(f"missing config key '{prefix}{name}': {f.metadata.get('doc', '')}")
            continue
        raw = table[name]
        tp = hints.get(name, Any)
        try:
            value = _convert(raw, tp)
        except _Bad:
            raise ConfigError(f"config key '{prefix}{name}' must be {_type_name(tp)}, got {raw!r}") from None
        if f.validator is not None:
            try:
                f.validator(None, f, value)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"config key '{prefix}{name}' {exc}") from None
        values[name] = value
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"config section '{where}': {exc}") from None


def to_table(obj) -> dict[str, Any]:
    """The JSON-ready table of a parameter instance (tuples become lists)."""

    def plain(v):
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, Mapping):
            return {k: plain(x) for k, x in v.items()}
        return v

    return {f.name: plain(getattr(obj, f.name)) for f in attrs.fields(type(obj))}


def describe(cls) -> list[dict[str, Any]]:
    """Name, type, default, unit and doc of every parameter of `cls` (for listings and docs)."""
    hints = _hints(cls)
    rows = []
    for f in attrs.fields(cls):
        if f.default is attrs.NOTHING:
            default = "(required)"
        elif isinstance(f.default, attrs.Factory):  # type: ignore[arg-type]
            default = f.default.factory()
        else:
            default = f.default
        rows.append(
            {
                "name": f.name,
                "type": _type_name(hints.get(f.name, Any)),
                "default": default,
                "unit": f.metadata.get("unit", ""),
                "range": getattr(f.validator, "range", ""),
                "doc": f.metadata.get("doc", ""),
            }
        )
    return rows
