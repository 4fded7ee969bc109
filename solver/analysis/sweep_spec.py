"""Parse `--vary KEY=SPEC` options and expand them into sweep points.

A point is a dict of dotted overrides (`{"workload.tpot_ms": 50.0}`) applied to
one instance file. This module only checks the *shape* of keys; whether a field
exists and accepts the value is the instance schema's business.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from solver.io import numbers

SECTIONS = ("model", "hardware", "workload", "search", "link")

# Guards against a typo such as `0:1e9:1` silently building a billion points.
MAX_VALUES_PER_VARY = 100_000

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INT = re.compile(r"[+-]?\d+\Z")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")

Value = int | float | str


def parse_key(key: str) -> str:
    """Validate a dotted field name such as `workload.tpot_ms`.

    Raises:
        ValueError: if the key is not `section.field[.sub...]` with a known section.
    """
    key = key.strip()
    parts = key.split(".")
    if len(parts) < 2 or not all(_IDENTIFIER.match(p) for p in parts):
        raise ValueError(
            f"bad --vary key {key!r}: expected a dotted field name like 'workload.tpot_ms' "
            "(identifiers separated by dots)"
        )
    if parts[0] not in SECTIONS:
        raise ValueError(
            f"bad --vary key {key!r}: section {parts[0]!r} is not one of {', '.join(SECTIONS)}"
        )
    return key


def parse_value(text: str) -> Value:
    """Turn one list item into an int, a float or (if not a number) a string."""
    text = text.strip()
    if _INT.match(text):
        return numbers.integer_text(text)
    if _NUMBER.match(text):
        return float(text)
    return text


def _decimal(text: str, what: str, spec: str) -> Decimal:
    text = text.strip()
    if not _NUMBER.match(text):
        raise ValueError(f"bad --vary spec {spec!r}: {what} {text!r} is not a number")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # unreachable given the regex, kept as a guard
        raise ValueError(f"bad --vary spec {spec!r}: {what} {text!r} is not a number") from exc


def _check_count(count: int, spec: str) -> None:
    if count > MAX_VALUES_PER_VARY:
        raise ValueError(
            f"bad --vary spec {spec!r}: {count} values exceeds the limit of "
            f"{MAX_VALUES_PER_VARY}; check the step"
        )


def _parse_range(spec: str) -> list[Value]:
    parts = spec.split(":")
    if len(parts) != 3:
        raise ValueError(f"bad --vary spec {spec!r}: a range is START:STOP:STEP (e.g. 20:200:10)")
    start, stop, step = (
        _decimal(t, w, spec) for t, w in zip(parts, ("start", "stop", "step"), strict=True)
    )
    if step == 0:
        raise ValueError(f"bad --vary spec {spec!r}: step must not be zero")
    if (stop - start) * step < 0:
        raise ValueError(
            f"bad --vary spec {spec!r}: step {step} never reaches stop {stop} from start {start}"
        )
    # Decimal arithmetic on the literal text makes the grid exact (0.1 steps do not
    # drift), so "stop is included when it lands on the grid" needs no tolerance.
    count = int((stop - start) / step) + 1
    _check_count(count, spec)
    as_int = all(_INT.match(p.strip()) for p in parts)
    values: list[Value] = []
    for i in range(count):
        v = start + step * i
        values.append(int(v) if as_int else float(v))
    return values


def _parse_log(spec: str) -> list[Value]:
    parts = spec.split(":")
    if len(parts) != 4:
        raise ValueError(
            f"bad --vary spec {spec!r}: a log range is log:START:STOP:COUNT (e.g. log:10:1000:12)"
        )
    start = float(_decimal(parts[1], "start", spec))
    stop = float(_decimal(parts[2], "stop", spec))
    count, problem = numbers.parse(parts[3], "COUNT", integer=True)
    if problem:
        raise ValueError(f"bad --vary spec {spec!r}: {problem}")
    if start <= 0 or stop <= 0:
        raise ValueError(f"bad --vary spec {spec!r}: log ranges need START > 0 and STOP > 0")
    if count < 2:
        raise ValueError(f"bad --vary spec {spec!r}: COUNT must be at least 2")
    _check_count(count, spec)
    lo, hi = math.log10(start), math.log10(stop)
    values: list[Value] = [start]
    for i in range(1, count - 1):
        # 12 significant digits keep e.g. log:1:1024:11 on 2.0, 4.0, ... instead of
        # 2.0000000000000004, so point keys stay readable and reproducible.
        values.append(float(f"{10 ** (lo + (hi - lo) * i / (count - 1)):.12g}"))
    values.append(stop)
    return values


def parse_spec(spec: str) -> list[Value]:
    """Expand one SPEC: a list `25,50,100`, a range `20:200:10` or `log:10:1000:12`.

    Raises:
        ValueError: on an empty spec, an empty list item, a malformed range or
            duplicate values.
    """
    text = spec.strip()
    if not text:
        raise ValueError("bad --vary spec '': expected a list, START:STOP:STEP or log:...")
    if text.startswith("log:"):
        values = _parse_log(text)
    elif ":" in text:
        values = _parse_range(text)
    else:
        items = text.split(",")
        if any(not item.strip() for item in items):
            raise ValueError(f"bad --vary spec {spec!r}: empty item in the list")
        values = [parse_value(item) for item in items]
    seen: set[str] = set()
    for v in values:
        k = json.dumps(v)
        if k in seen:
            raise ValueError(f"bad --vary spec {spec!r}: value {v!r} appears twice")
        seen.add(k)
    return values


def parse_vary(text: str) -> tuple[str, list[Value]]:
    """Parse one `KEY=SPEC` option into `(key, values)`.

    Raises:
        ValueError: with a message naming the offending option.
    """
    if "=" not in text:
        raise ValueError(f"bad --vary {text!r}: expected KEY=SPEC, e.g. workload.tpot_ms=25,50")
    key, spec = text.split("=", 1)
    return parse_key(key), parse_spec(spec)


def build_points(varies: list[tuple[str, list[Any]]], grid: bool = True) -> list[dict[str, Any]]:
    """Expand parsed `--vary` options into sweep points, in a deterministic order.

    Args:
        varies: `(key, values)` pairs in command-line order.
        grid: True for the full Cartesian grid (the first key varies slowest);
            False to zip the lists (all must have the same length). With a single
            key both give its values one at a time.

    Raises:
        ValueError: on a repeated key, an empty value list or (zip) unequal lengths.
    """
    keys = [k for k, _ in varies]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ValueError(f"--vary given more than once for {', '.join(dupes)}")
    for key, values in varies:
        if not values:
            raise ValueError(f"--vary {key} has no values")
    if not varies:
        return []
    value_lists = [list(values) for _, values in varies]
    if grid:
        combos = list(itertools.product(*value_lists))
    else:
        lengths = {len(v) for v in value_lists}
        if len(lengths) != 1:
            detail = ", ".join(f"{k}: {len(v)}" for k, v in varies)
            raise ValueError(f"zipped --vary lists must have equal lengths ({detail})")
        combos = list(zip(*value_lists, strict=True))
    return [dict(zip(keys, combo, strict=True)) for combo in combos]


def _plain(value: Any) -> Any:
    # numpy scalars (and anything with .item()) become plain Python numbers.
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"point value {value!r} of type {type(value).__name__} is not JSON-able")


def point_key(point: dict[str, Any]) -> str:
    """Canonical, stable text of a point: its primary key in the result store.

    Keys are sorted and floats use `repr` (shortest round-trip), so the same point
    always maps to the same key across runs and machines. `50` and `50.0` differ on
    purpose: an int field and a float field are different overrides.

    Raises:
        ValueError: if a value is NaN or infinite.
    """
    try:
        return json.dumps(
            point, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_plain
        )
    except ValueError as exc:
        raise ValueError(f"point {point!r} has a NaN or infinite value") from exc
