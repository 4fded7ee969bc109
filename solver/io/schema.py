"""Validate raw TOML tables into the frozen dataclasses of `formulations.types`.

The dataclass fields are the schema: their type annotations give the types,
their `spec` metadata the units and allowed ranges. Every problem in a table
is collected, each naming the file, the dotted field and what is allowed, so
a user fixes a file in one pass. Numbers must be finite and inside their
declared range (every numeric field has an upper bound), integers may be given
as whole floats, and strings and lists are capped in size.

Cross-field rules (`solver.io.checks`) need the fields they read to be valid;
`build_partial` hands them a `Partial` view of the valid fields, and a rule that
reads a field which failed its own check is skipped rather than guessed at.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import numbers as pynumbers
import types
import typing
from typing import Any

from formulations.types import IntRange
from solver.io import numbers
from solver.io.limits import MAX_TEXT_CHARS

MAX_LIST_ITEMS = 64
"""Longest list a field takes (architectures, calibration points, unverified facts)."""


class Unjudged(Exception):
    """A cross-field rule read a field that failed its own check: the rule is skipped."""


class Partial:
    """Attribute view of the valid fields of a table; reading an invalid one raises Unjudged."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__["_values"] = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise Unjudged(name) from None

    def values(self) -> dict[str, Any]:
        return dict(self.__dict__["_values"])


def show(value: Any, width: int = 60) -> str:
    """`repr(value)`, shortened so a huge value never floods an error line (`numbers.show`)."""
    return numbers.show(value, width)


def short(key: str, width: int = 60) -> str:
    """A key for an error line, shortened if a file gives a huge one."""
    return key if len(key) <= width else f"{key[: width - 3]}... ({len(key):,} chars)"


def number(x: float) -> str:
    """A bound as people write it: 10,000 or 1e+10 or 0.5."""
    return numbers.bound_text(x)


def bounds_of(meta: dict[str, Any]) -> numbers.Bounds:
    """The numeric bounds a field's `spec` metadata declares."""
    return numbers.Bounds(gt=meta.get("gt"), ge=meta.get("ge"), le=meta.get("le"))


def _describe(meta: dict[str, Any]) -> str:
    parts = []
    if meta.get("choices"):
        parts.append("one of " + ", ".join(repr(c) for c in meta["choices"]))
    if meta.get("gt") is not None:
        parts.append(f"> {number(meta['gt'])}")
    if meta.get("ge") is not None:
        parts.append(f">= {number(meta['ge'])}")
    if meta.get("le") is not None:
        parts.append(f"<= {number(meta['le'])}")
    return " and ".join(parts)


def _type_name(tp: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    if tp in names:
        return names[tp]
    if tp is IntRange:
        return "an integer or a table {min = ..., max = ...}"
    if typing.get_origin(tp) is tuple and typing.get_args(tp)[0] is str:
        return "a list of strings"
    return "a list of [x, y] pairs" if typing.get_origin(tp) is tuple else str(tp)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _is_number(value: Any) -> bool:
    return isinstance(value, pynumbers.Real) and not isinstance(value, bool)


def _as_int(value: Any, where: str) -> tuple[int | None, str | None]:
    """An int from an int or a whole finite float (any size), or an error message."""
    return numbers.convert(value, where, integer=True)


def _coerce(value: Any, tp: Any, where: str, meta: dict[str, Any]) -> tuple[Any, str | None]:
    """(value converted to `tp`, or an error message)."""
    if tp is bool:
        if isinstance(value, bool):
            return value, None
        return None, f"{where} = {show(value)} must be true or false"
    if tp in (int, float):
        return numbers.convert(value, where, integer=tp is int, bounds=bounds_of(meta))
    if tp is str:
        if not isinstance(value, str):
            return None, f"{where} = {show(value)} must be a string"
        if len(value) > MAX_TEXT_CHARS:
            return None, f"{where}: {len(value):,} characters; at most {MAX_TEXT_CHARS:,}"
    elif tp is IntRange:
        return _int_range(value, where, meta)
    elif typing.get_origin(tp) is tuple:
        return _sequence(value, typing.get_args(tp)[0], where)
    problem = _check_range(value, where, meta)
    return (None, problem) if problem else (value, None)


def _sequence(value: Any, inner: Any, where: str) -> tuple[Any, str | None]:
    if isinstance(value, str) and inner is str:
        value = [value]
    if not isinstance(value, list):
        return None, f"{where} = {show(value)} must be {_type_name(tuple[inner, ...])}"
    if len(value) > MAX_LIST_ITEMS:
        return None, f"{where}: {len(value):,} items; at most {MAX_LIST_ITEMS}"
    if inner is str:
        bad = [v for v in value if not isinstance(v, str) or len(v) > MAX_TEXT_CHARS]
        if bad:
            return None, f"{where} = {show(value)} must be a list of strings"
        return tuple(value), None
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, list) or len(item) != 2:
            return None, f"{where}[{i}] = {show(item)} must be a pair [x, y]"
        if not all(_is_number(v) for v in item):
            return None, f"{where}[{i}] = {show(item)} must hold two numbers"
        pair = [numbers.convert(v, where)[0] for v in item]
        if None in pair:  # NaN, an infinity, or an integer beyond the largest float
            return None, f"{where}[{i}] = {show(item)} must hold finite numbers"
        out.append((float(pair[0]), float(pair[1])))
    return tuple(out), None


def _check_range(value: Any, where: str, meta: dict[str, Any], given: Any = None) -> str | None:
    allowed = _describe(meta)
    bad = (
        (meta.get("choices") and value not in meta["choices"])
        or (meta.get("gt") is not None and not value > meta["gt"])
        or (meta.get("ge") is not None and not value >= meta["ge"])
        or (meta.get("le") is not None and not value <= meta["le"])
    )
    shown = show(value if given is None else given)
    return f"{where} = {shown} is out of range: must be {allowed}" if bad else None


def _int_range(value: Any, where: str, meta: dict[str, Any]) -> tuple[Any, str | None]:
    default = meta.get("default_range")
    shape = (
        f"{where} = {show(value)} must be an integer (pinned) or a table {{min = ..., max = ...}}"
    )
    if isinstance(value, bool):
        return None, shape
    if _is_number(value):
        ends = {"min": value, "max": value}
    elif isinstance(value, list):
        if len(value) != 2:
            return None, shape
        ends = {"min": value[0], "max": value[1]}
    elif isinstance(value, dict):
        extra = set(value) - {"min", "max"}
        if extra:
            return None, f"{where}: unknown key(s) {show(sorted(extra))}; allowed: min, max"
        ends = dict(value)
    else:
        return None, shape
    whole: dict[str, int] = {}
    for key, given in ends.items():
        end, problem = _as_int(given, f"{where}.{key}" if isinstance(value, dict) else where)
        if problem:
            return None, problem
        assert end is not None
        whole[key] = end
    lo = whole.get("min", default.lo if default else 0)
    hi = whole.get("max", default.hi if default else lo)
    floor, ceiling = meta.get("ge"), meta.get("le")
    given_lo, given_hi = show(ends.get("min", lo)), show(ends.get("max", hi))
    if floor is not None and lo < floor:
        return None, f"{where}: min {given_lo} is out of range: must be >= {number(floor)}"
    if ceiling is not None and hi > ceiling:
        return None, f"{where}: max {given_hi} is out of range: must be <= {number(ceiling)}"
    if lo > hi:
        return None, f"{where}: min {lo} is above max {hi}"
    return IntRange(int(lo), int(hi)), None


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """Resolved field annotations of a dataclass (costly to resolve: cached per class)."""
    return typing.get_type_hints(cls)


def field_meta(cls: type, name: str) -> dict[str, Any]:
    """The `spec` metadata of one field (with its default range, for IntRange fields)."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    meta = dict(f.metadata)
    if isinstance(f.default, IntRange):
        meta["default_range"] = f.default
    return meta


def coerce_field(cls: type, name: str, value: Any, where: str) -> tuple[Any, str | None]:
    """One field of `cls` from a raw value: (converted value, or an error message)."""
    tp, optional = _unwrap_optional(_hints(cls)[name])
    if value is None and optional:
        return None, None
    return _coerce(value, tp, where, field_meta(cls, name))


def unknown_key(key: str, allowed: list[str], where: str) -> str:
    """The message for a key that is not a field, with the closest match if any."""
    close = difflib.get_close_matches(str(key), allowed, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{where}: unknown field{hint}; allowed: {', '.join(allowed)}"


def build_partial(
    cls: type, raw: dict[str, Any], file: str, section: str, problems: list[str]
) -> tuple[Any, Partial]:
    """Validate `raw` into `cls`; append problems ("file: section.field ...").

    Returns:
        The object (None if any field failed) and a `Partial` of the valid fields
        (defaults included) for cross-field rules.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    prefix = f"{file}: {section}." if section else f"{file}: "
    kwargs: dict[str, Any] = {}
    start = len(problems)
    for key in raw:
        if key not in fields:
            problems.append(unknown_key(key, list(fields), f"{prefix}{short(key)}"))
    for name, f in fields.items():
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                doc = f.metadata.get("doc", "")
                problems.append(f"{prefix}{name}: missing required field ({doc})")
            elif f.default is not dataclasses.MISSING:
                kwargs[name] = f.default
            continue
        converted, problem = coerce_field(cls, name, raw[name], f"{prefix}{name}")
        if problem:
            problems.append(problem)
        else:
            kwargs[name] = converted
    view = Partial(kwargs)
    if len(problems) > start:
        return None, view
    return cls(**kwargs), view


def build(cls: type, raw: dict[str, Any], file: str, section: str, problems: list[str]) -> Any:
    """Validate `raw` into `cls`; append problems ("file: section.field ...") and None on error."""
    return build_partial(cls, raw, file, section, problems)[0]


def field_doc(cls: type) -> list[tuple[str, str, str, str]]:
    """(field, type, default, doc with allowed range) for help text and the README."""
    hints = _hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        tp, _ = _unwrap_optional(hints[f.name])
        default = "required" if f.default is dataclasses.MISSING else repr(f.default)
        allowed = _describe(dict(f.metadata))
        doc = f.metadata.get("doc", "") + (f" ({allowed})" if allowed else "")
        rows.append((f.name, _type_name(tp), default, doc))
    return rows


def bounds_rows(cls: type, section: str) -> list[tuple[str, str, str]]:
    """(dotted field, allowed range, what it is) for every numeric field of `cls`."""
    hints = _hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        tp, _ = _unwrap_optional(hints[f.name])
        meta = dict(f.metadata)
        if tp not in (int, float, IntRange) or not _describe(meta):
            continue
        kind = {int: "integer", float: "number", IntRange: "integer range"}[tp]
        doc = str(meta.get("doc", "")).replace("|", "/")
        rows.append((f"{section}.{f.name}", f"{kind} {_describe(meta)}", doc))
    return rows


def bounds_markdown() -> str:
    """The README's table of allowed ranges, generated from `formulations.types`."""
    from formulations.types import Hardware, Link, Model, Search, Workload

    lines = ["| field | allowed | what |", "| --- | --- | --- |"]
    for cls, section in (
        (Model, "model"),
        (Hardware, "hardware"),
        (Workload, "workload"),
        (Search, "search"),
        (Link, "link"),
    ):
        lines += [
            f"| `{name}` | {allowed} | {doc} |" for name, allowed, doc in bounds_rows(cls, section)
        ]
    return "\n".join(lines)
