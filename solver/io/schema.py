"""Validate raw TOML tables into the frozen dataclasses of `formulations.types`.

The dataclass fields are the schema: their type annotations give the types,
their `spec` metadata the units and allowed ranges. Every problem in a table
is collected, each naming the file, the dotted field and what is allowed, so
a user fixes a file in one pass.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import types
import typing
from typing import Any

from formulations.types import IntRange


def _describe(meta: dict[str, Any]) -> str:
    parts = []
    if meta.get("choices"):
        parts.append("one of " + ", ".join(repr(c) for c in meta["choices"]))
    if meta.get("gt") is not None:
        parts.append(f"> {meta['gt']:g}")
    if meta.get("ge") is not None:
        parts.append(f">= {meta['ge']:g}")
    if meta.get("le") is not None:
        parts.append(f"<= {meta['le']:g}")
    return " and ".join(parts)


def _type_name(tp: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    if tp in names:
        return names[tp]
    if tp is IntRange:
        return "an integer or a table {min = ..., max = ...}"
    return "a list of strings" if typing.get_origin(tp) is tuple else str(tp)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _coerce(value: Any, tp: Any, where: str, meta: dict[str, Any]) -> tuple[Any, str | None]:
    """(value converted to `tp`, or an error message)."""
    if tp is bool:
        return (
            (value, None) if isinstance(value, bool) else (None, f"{where} must be true or false")
        )
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                return None, f"{where} = {value!r} must be an integer"
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"{where} = {value!r} must be a number"
        value = float(value)
        if not math.isfinite(value):
            return None, f"{where} = {value!r} must be finite"
    elif tp is str:
        if not isinstance(value, str):
            return None, f"{where} = {value!r} must be a string"
    elif tp is IntRange:
        return _int_range(value, where, meta)
    elif typing.get_origin(tp) is tuple:
        inner = typing.get_args(tp)[0]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            return None, f"{where} must be a list"
        if inner is str:
            if not all(isinstance(v, str) for v in value):
                return None, f"{where} must be a list of strings"
            return tuple(value), None
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, list) or len(item) != 2:
                return None, f"{where}[{i}] must be a pair [x, y]"
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in item):
                return None, f"{where}[{i}] must hold two numbers"
            out.append((float(item[0]), float(item[1])))
        return tuple(out), None
    problem = _check_range(value, where, meta)
    return (None, problem) if problem else (value, None)


def _check_range(value: Any, where: str, meta: dict[str, Any]) -> str | None:
    allowed = _describe(meta)
    bad = (
        (meta.get("choices") and value not in meta["choices"])
        or (meta.get("gt") is not None and not value > meta["gt"])
        or (meta.get("ge") is not None and not value >= meta["ge"])
        or (meta.get("le") is not None and not value <= meta["le"])
    )
    return f"{where} = {value!r} is out of range: must be {allowed}" if bad else None


def _int_range(value: Any, where: str, meta: dict[str, Any]) -> tuple[Any, str | None]:
    default = meta.get("default_range")
    # Whole floats (e.g. from a log-spaced sweep) count as integers.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool):
        return None, f"{where} must be an integer or a table {{min = ..., max = ...}}"
    if isinstance(value, int):
        lo = hi = value
    elif (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        lo, hi = value
    elif isinstance(value, dict):
        extra = set(value) - {"min", "max"}
        if extra:
            return None, f"{where}: unknown key(s) {sorted(extra)}; allowed: min, max"
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
            return None, f"{where}: min and max must be integers"
        lo = value.get("min", default.lo if default else 0)
        hi = value.get("max", default.hi if default else lo)
    else:
        return (
            None,
            f"{where} = {value!r} must be an integer (pinned) or a table {{min = ..., max = ...}}",
        )
    if lo > hi:
        return None, f"{where}: min {lo} is above max {hi}"
    floor = meta.get("ge")
    if floor is not None and lo < floor:
        return None, f"{where}: min {lo} is out of range: must be >= {floor:g}"
    return IntRange(int(lo), int(hi)), None


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """Resolved field annotations of a dataclass (costly to resolve: cached per class)."""
    return typing.get_type_hints(cls)


def build(cls: type, raw: dict[str, Any], file: str, section: str, problems: list[str]) -> Any:
    """Validate `raw` into `cls`; append problems ("file: section.field ...") and None on error."""
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    prefix = f"{file}: {section}." if section else f"{file}: "
    kwargs: dict[str, Any] = {}
    start = len(problems)
    for key in raw:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"{prefix}{key}: unknown field{hint}; allowed: {', '.join(fields)}")
    for name, f in fields.items():
        meta = dict(f.metadata)
        if isinstance(f.default, IntRange):
            meta["default_range"] = f.default
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                doc = meta.get("doc", "")
                problems.append(f"{prefix}{name}: missing required field ({doc})")
            continue
        tp, optional = _unwrap_optional(hints[name])
        value = raw[name]
        if value is None and optional:
            kwargs[name] = None
            continue
        converted, problem = _coerce(value, tp, f"{prefix}{name}", meta)
        if problem:
            problems.append(problem)
        else:
            kwargs[name] = converted
    if len(problems) > start:
        return None
    return cls(**kwargs)


def field_doc(cls: type) -> list[tuple[str, str, str, str]]:
    """(field, type, default, doc with allowed range) for help text and the README."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        tp, _ = _unwrap_optional(hints[f.name])
        default = "required" if f.default is dataclasses.MISSING else repr(f.default)
        allowed = _describe(dict(f.metadata))
        doc = f.metadata.get("doc", "") + (f" ({allowed})" if allowed else "")
        rows.append((f.name, _type_name(tp), default, doc))
    return rows
