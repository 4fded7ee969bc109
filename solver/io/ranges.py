"""The `[uncertainty]` table of a scenario: hardware ranges to sample (docs/model.md §19.4).

    [uncertainty]
    ffn_efficiency = "0.45:0.65"          # or [0.45, 0.65]
    dispatch_scale_out_latency_us = "20:80"

Each key is a numeric Hardware field; `solve --uncertainty N` draws it uniformly in the range
for every sample, on every hardware of the scenario (as `[overrides.hardware]` applies to every
hardware). Both ends must be allowed values of the field and low <= high.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from formulations.types import Hardware
from solver.io import numbers
from solver.io.schema import coerce_field, short, show, unknown_key

MAX_RANGES = 64


def sampled_fields() -> list[str]:
    """Hardware fields a range may name: the real-valued ones (counts of GPUs are not sampled)."""
    hints = typing.get_type_hints(Hardware)
    return [
        f.name
        for f in dataclasses.fields(Hardware)
        if hints[f.name] is float and not f.metadata.get("info")
    ]


def _ends(value: Any) -> list[Any] | None:
    if isinstance(value, str):
        parts = value.split(":")
        if len(parts) != 2:
            return None
        out = [numbers.parse(part, "")[0] for part in parts]
        return None if None in out else out
    if isinstance(value, list) and len(value) == 2:
        return value
    return None


def uncertainty_ranges(
    raw: Any, origin: str, problems: list[str]
) -> tuple[tuple[str, float, float], ...]:
    """Validated (field, low, high) ranges of an `[uncertainty]` table (absent: none)."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        problems.append(f"{origin}: uncertainty = {show(raw)}: must be a table [uncertainty]")
        return ()
    if len(raw) > MAX_RANGES:
        problems.append(f"{origin}: uncertainty: {len(raw):,} ranges; at most {MAX_RANGES}")
        return ()
    allowed = sampled_fields()
    out = []
    for key, value in raw.items():
        where = f"{origin}: uncertainty.{short(str(key))}"
        if key not in allowed:
            problems.append(unknown_key(key, allowed, where))
            continue
        ends = _ends(value)
        if ends is None:
            problems.append(f'{where} = {show(value)}: a range "LOW:HIGH" or [LOW, HIGH]')
            continue
        good = []
        for end in ends:
            converted, problem = coerce_field(Hardware, key, end, where)
            if problem:
                problems.append(problem)
            else:
                good.append(float(converted))
        if len(good) == 2:
            if good[0] > good[1]:
                problems.append(f"{where}: low {good[0]:g} is above high {good[1]:g}")
            else:
                out.append((str(key), good[0], good[1]))
    return tuple(out)
