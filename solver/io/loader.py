"""Load instance files: TOML in, a validated `Instance` out.

An instance (scenario) file names a model and a hardware platform (or inlines
them), a hardware profile, a `[workload]` and a `[search]`, plus optional
`[overrides.model]` / `[overrides.hardware]`. References resolve by name in an
`instances/` folder (the instance file's own, or one above it, or the shipped
one) or as a path relative to the instance file. Nothing in a file is ever
executed or evaluated: TOML is parsed with the standard library and every
value is type- and range-checked against `formulations.types`.

Validation is one pass: every problem of the scenario, its model and hardware
files, its overrides and its expert loads is reported at once, unknown names
included, and a model or hardware file obeys the same rules whether it is
validated alone (`validate_model_file`, `validate_hardware_file`) or as part of
a scenario.

Hardware profiles:
    sustained (default)  datasheet peaks times the `[efficiency]` factors
    datasheet            datasheet peaks, efficiency 1
    paper                the `[paper]` values of the AFD analysis, efficiency 1,
                         superpod traffic on scale-up whatever the deployment size
`[efficiency]`, `[paper]` and `gemm_calibration` are checked whatever the profile.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path
from typing import Any

from formulations.types import PROFILES, Instance, Model, Search, Workload
from solver.errors import InputError
from solver.io import checks
from solver.io.files import parse_assignments, parse_value, read_toml
from solver.io.loads import LoadsError, check_expert_loads
from solver.io.pools import POOL_KEYS, load_pools
from solver.io.pools import TOP_KEYS as POOL_TOP_KEYS
from solver.io.ranges import uncertainty_ranges
from solver.io.references import SHIPPED, is_file, resolve, table_of
from solver.io.schema import build_partial, short, unknown_key
from solver.io.tables import (
    file_kind,
    model_from_table,
    validate_hardware_file,
    validate_model_file,
)

__all__ = [
    "SHIPPED",
    "resolve",
    "apply_overrides",
    "file_kind",
    "instance_from_table",
    "load_instance",
    "parse_assignments",
    "parse_value",
    "read_toml",
    "validate_hardware_file",
    "validate_model_file",
]

TOP_KEYS = (
    "name",
    "description",
    "model",
    "hardware",
    "hardware_profile",
    *POOL_TOP_KEYS,
    "workload",
    "search",
    "overrides",
    "uncertainty",
)
SECTIONS = ("model", "hardware", "workload", "search", "link", "uncertainty")


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any], origin: str) -> dict[str, Any]:
    """Put dotted overrides into a raw instance table (model./hardware. go to [overrides])."""
    raw = copy.deepcopy(raw)
    problems = []
    for key, value in overrides.items():
        parts = key.split(".")
        if parts[0] in ("model", "hardware") and len(parts) > 1:
            parts = ["overrides", *parts]
        elif parts[0] not in TOP_KEYS:
            problems.append(
                f"{origin}: {short(key)}: unknown section '{short(parts[0])}'; "
                f"allowed: {', '.join(SECTIONS)}"
            )
            continue
        table = raw
        for part in parts[:-1]:
            nxt = table.setdefault(part, {})
            if not isinstance(nxt, dict):
                problems.append(f"{origin}: {short(key)}: '{part}' is not a table")
                break
            table = nxt
        else:
            table[parts[-1]] = value
    if problems:
        raise InputError(problems)
    return raw


# ---- instances ----


def _resolve_loads(
    workload: Workload, model: Model | None, base: Path, origin: str, problems: list[str]
) -> Workload:
    """Make a loads CSV path absolute (relative to the instance file) and check the loads."""
    loads = str(workload.expert_loads)
    where = f"{origin}: workload.expert_loads"
    if workload.expert_imbalance != 1.0:
        problems.append(
            f"{origin}: workload.expert_imbalance and workload.expert_loads: give one of them "
            "(the loads determine the imbalance)"
        )
    is_path = loads.endswith(".csv") or "/" in loads or is_file(base / loads)
    if is_path:
        path = Path(loads) if Path(loads).is_absolute() else base / loads
        if not is_file(path):
            problems.append(f"{where} = {short(loads)!r}: no file {short(str(path))}")
            return workload
        workload = dataclasses.replace(workload, expert_loads=str(path.resolve()))
    if model is not None:
        try:
            check_expert_loads(str(workload.expert_loads), model)
        except LoadsError as exc:
            problems.append(f"{where}: {exc}")
    return workload


def load_instance(
    path: str | os.PathLike[str], overrides: dict[str, Any] | None = None
) -> Instance:
    """Read, resolve and validate an instance file (with optional dotted overrides)."""
    path = Path(path)
    origin = str(path)
    raw = read_toml(path)
    if overrides:
        raw = apply_overrides(raw, overrides, origin)
    return instance_from_table(raw, path.parent, origin, default_name=path.stem, path=str(path))


def _top_level(raw: dict[str, Any], origin: str, problems: list[str]) -> tuple[str, dict, dict]:
    """Checks of the instance table itself; (profile, model overrides, hardware overrides)."""
    for key in raw:
        if key not in TOP_KEYS:
            problems.append(unknown_key(key, list(TOP_KEYS), f"{origin}: {short(key)}"))
    for key in ("model", "workload"):  # the hardware keys are checked with the pools
        if key not in raw:
            problems.append(f"{origin}: {key}: missing required field")
    for key in ("name", "description"):
        if key in raw and not isinstance(raw[key], str):
            problems.append(f"{origin}: {key} = {short(repr(raw[key]))} must be a string")
    profile = raw.get("hardware_profile", "sustained")
    if profile not in PROFILES:
        problems.append(
            f"{origin}: hardware_profile = {short(repr(profile))}: must be one of "
            f"{', '.join(PROFILES)}"
        )
        profile = "sustained"  # still check the hardware, under every profile
    over = raw.get("overrides", {})
    tables: dict[str, dict] = {"model": {}, "hardware": {}}
    if not isinstance(over, dict):
        problems.append(
            f"{origin}: overrides must be a table with [overrides.model] and [overrides.hardware]"
        )
        over = {}
    for key, value in over.items():
        if key not in tables:
            problems.append(
                f"{origin}: overrides.{short(key)}: only [overrides.model] and "
                "[overrides.hardware] are allowed"
            )
        elif not isinstance(value, dict):
            problems.append(
                f"{origin}: overrides.{key} = {short(repr(value))}: must be a table "
                f"[overrides.{key}] of {key} fields"
            )
        else:
            tables[key] = value
    return profile, tables["model"], tables["hardware"]


def instance_from_table(
    raw: dict[str, Any],
    base: Path,
    origin: str,
    default_name: str = "instance",
    path: str | None = None,
) -> Instance:
    """Validate a raw instance table; raise `InputError` listing every problem."""
    problems: list[str] = []
    _, model_over, hardware_over = _top_level(raw, origin, problems)
    model = None
    if "model" in raw and (found := table_of("models", raw["model"], base, origin, problems)):
        model = model_from_table(*found, problems, model_over, origin)
    search_raw = raw.get("search", {})
    lists = {
        k: search_raw[k] for k in POOL_KEYS if isinstance(search_raw, dict) and k in search_raw
    }
    pools = load_pools(raw, lists, base, origin, hardware_over, problems)
    ranges = uncertainty_ranges(raw.get("uncertainty"), origin, problems)
    hardware = None if pools is None else pools.representative()
    views: dict[str, Any] = {}
    built: dict[str, Any] = {}
    for key, cls in (("workload", Workload), ("search", Search)):
        table = raw.get(key, {} if key == "search" else None)
        if table is None:
            continue
        if not isinstance(table, dict):
            problems.append(f"{origin}: {key} = {short(repr(table))} must be a table [{key}]")
            continue
        if key == "search":  # the candidate lists are the pools' (above)
            table = {k: v for k, v in table.items() if k not in POOL_KEYS}
        built[key], views[key] = build_partial(cls, table, origin, key, problems)
    workload, search = built.get("workload"), built.get("search")
    if "search" in views:
        problems += [f"{origin}: {p}" for p in checks.check_search(views["search"])]
        if search is not None:
            problems += [
                f"{origin}: {p}"
                for p in checks.check_search_size(search, model, views.get("workload"), hardware)
            ]
    if "workload" in views and "search" in views:
        problems += [
            f"{origin}: {p}"
            for p in checks.check_workload_search(views["workload"], views["search"])
        ]
    if model is not None and "workload" in views:
        problems += [
            f"{origin}: {p}" for p in checks.check_model_workload(model, views["workload"])
        ]
    if workload is not None and workload.expert_loads is not None:
        workload = _resolve_loads(workload, model, base, origin, problems)
    if problems or model is None or pools is None or workload is None or search is None:
        raise InputError(list(dict.fromkeys(problems)) or [f"{origin}: invalid instance"])
    choices = pools.choices
    attention, ffn = choices[0] if choices else (pools.attention[0], pools.ffn[0])
    return Instance(
        raw.get("name", default_name),
        model,
        attention,
        workload,
        search,
        path,
        ffn_hardware=None if ffn == attention else ffn,
        link_gbps=pools.link_gbps,
        hardware_choices=choices,
        uncertainty=ranges,
    )
