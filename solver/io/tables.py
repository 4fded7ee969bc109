"""Model and hardware tables (a file, or an inline `[model]` / `[hardware]` of a scenario).

One function per kind validates a table together with the scenario's overrides, by the
same rules whether the file is checked alone (`validate_model_file`,
`validate_hardware_file`) or inside a scenario. A hardware table is checked under every
profile: its `[efficiency]`, `[latency]`, `[paper]`, `gemm_calibration` and `[calibration]`
whatever the profile in use, and it may not set what a profile sets (`*_efficiency`,
`*_latency_us`, `profile`, `superpod_unbounded`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from formulations.types import LATENCY_STAGES, PROFILES, Hardware, Model
from solver.errors import InputError
from solver.io import checks
from solver.io.files import read_toml
from solver.io.fit_record import EFFICIENCY_KEYS, fit_record
from solver.io.schema import Partial, build_partial, coerce_field, short, unknown_key

LATENCY_KEYS = LATENCY_STAGES
HARDWARE_TABLES = ("efficiency", "latency", "paper", "gemm_calibration", "calibration")
# Set by the profile, never by a hardware file (an `ffn_efficiency` at the top of a file
# would otherwise override even the paper profile's efficiency of 1).
PROFILE_KEYS = (
    {f"{k}_efficiency": ("efficiency", k) for k in EFFICIENCY_KEYS}
    | {f"{k}_latency_us": ("latency", k) for k in LATENCY_KEYS}
    | {"profile": None, "superpod_unbounded": None}
)
HARDWARE_FILE_KEYS = sorted(
    {f.name for f in dataclasses.fields(Hardware)}
    - set(PROFILE_KEYS)
    - {"gemm_calibration", "calibration"}
)


def _overrides(
    cls: type, section: str, overrides: dict[str, Any], origin: str, problems: list[str]
) -> dict[str, Any]:
    """Valid override values of `cls` fields; problems are reported against the instance file."""
    names = [f.name for f in dataclasses.fields(cls) if f.name not in ("profile", "calibration")]
    good = {}
    for key, value in overrides.items():
        where = f"{origin}: {section}.{short(key)}"
        if key == "profile":
            problems.append(f"{where}: set hardware_profile instead")
        elif key not in names:
            problems.append(unknown_key(key, names, where))
        else:
            converted, problem = coerce_field(cls, key, value, where)
            if problem:
                problems.append(problem)
            else:
                good[key] = converted
    return good


def _with_overrides(messages: list[str], merged: list[str], where: str, origin: str) -> list[str]:
    """Cross-field problems of the file, then those only the overrides cause."""
    out = [f"{where}: {m}" for m in messages]
    out += [f"{where}: {m} (with the overrides of {origin})" for m in merged if m not in messages]
    return out


# ---- models ----


def model_from_table(
    table: dict[str, Any],
    where: str,
    section: str,
    problems: list[str],
    overrides: dict[str, Any] | None = None,
    origin: str | None = None,
) -> Model | None:
    """Validate a model table (a file or an inline `[model]`), with the scenario's overrides."""
    start = len(problems)
    _, view = build_partial(Model, table, where, section, problems)
    good = _overrides(Model, "model", overrides or {}, origin or where, problems)
    own = checks.check_model(view)
    merged = checks.check_model(Partial({**view.values(), **good})) if good else own
    problems += _with_overrides(own, merged, where, origin or where)
    if len(problems) > start:
        return None
    return Model(**{**view.values(), **good})


def validate_model_file(path: str | Path) -> Model:
    """A model file alone, by the rules it obeys inside a scenario."""
    path = Path(path)
    table = read_toml(path)
    table.setdefault("name", path.stem)
    problems: list[str] = []
    model = model_from_table(table, str(path), "", problems)
    if model is None:
        raise InputError(problems)
    return model


# ---- hardware ----


def _profile_key(where: str, key: str) -> str:
    what = PROFILE_KEYS[key]
    if what is not None:
        fix = f"put it in [{what[0]}] as {what[1]} = ... (used by the sustained profile)"
    elif key == "profile":
        fix = "choose the profile with hardware_profile in the scenario"
    else:
        fix = "the paper profile sets it for superpods"
    return f"{where}{key}: not allowed in a hardware file: {fix}"


def _sub_table(
    name: str, raw: Any, allowed: dict[str, str], prefix: str, problems: list[str]
) -> dict[str, Any]:
    """Valid entries of [efficiency], [latency] or [paper]: key -> Hardware field value."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{prefix}{name} = {short(repr(raw))}: must be a table [{name}]")
        return {}
    good = {}
    for key, value in raw.items():
        where = f"{prefix}{name}.{short(key)}"
        if key not in allowed:
            problems.append(unknown_key(key, list(allowed), where))
            continue
        converted, problem = coerce_field(Hardware, allowed[key], value, where)
        if problem:
            problems.append(problem)
        else:
            good[allowed[key]] = converted
    return good


def _calibration(raw: Any, prefix: str, problems: list[str]) -> tuple[tuple[float, float], ...]:
    where = f"{prefix}gemm_calibration"
    if raw is None:
        return ()
    if not isinstance(raw, dict) or set(raw) != {"tokens_per_expert", "tflops"}:
        problems.append(
            f"{where} must be a table with tokens_per_expert = [...] and tflops = [...]"
        )
        return ()
    tpe, tflops = raw["tokens_per_expert"], raw["tflops"]
    if not (isinstance(tpe, list) and isinstance(tflops, list) and len(tpe) == len(tflops) >= 2):
        problems.append(f"{where}: two lists of the same length (>= 2) expected")
        return ()
    pairs, problem = coerce_field(
        Hardware, "gemm_calibration", [[x, y] for x, y in zip(tpe, tflops, strict=True)], where
    )
    if problem:
        problems.append(problem)
        return ()
    bad = checks.calibration_problems(pairs)
    problems += [f"{prefix}{p}" for p in bad]
    return () if bad else pairs


def hardware_from_table(
    table: dict[str, Any],
    profile: str,
    where: str,
    section: str,
    problems: list[str],
    overrides: dict[str, Any] | None = None,
    origin: str | None = None,
) -> Hardware | None:
    """Validate a hardware table under every profile; return it under `profile`."""
    start = len(problems)
    prefix = f"{where}: {section}." if section else f"{where}: "
    table = dict(table)
    extra = {k: table.pop(k, None) for k in HARDWARE_TABLES}
    for key in [k for k in table if k in PROFILE_KEYS]:
        problems.append(_profile_key(prefix, key))
        del table[key]
    _, view = build_partial(Hardware, {**table, "profile": "datasheet"}, where, section, problems)
    efficiency = _sub_table(
        "efficiency",
        extra["efficiency"],
        {k: f"{k}_efficiency" for k in EFFICIENCY_KEYS},
        prefix,
        problems,
    )
    latency = _sub_table(
        "latency",
        extra["latency"],
        {k: f"{k}_latency_us" for k in LATENCY_KEYS},
        prefix,
        problems,
    )
    paper = _sub_table(
        "paper", extra["paper"], {k: k for k in HARDWARE_FILE_KEYS}, prefix, problems
    )
    calibration = _calibration(extra["gemm_calibration"], prefix, problems)
    fit = fit_record(extra["calibration"], prefix, problems)
    good = _overrides(Hardware, "hardware", overrides or {}, origin or where, problems)
    bad = checks.calibration_problems(good.get("gemm_calibration", ()))
    problems += [f"{origin or where}: hardware.{p}" for p in bad]

    def compose(name: str, over: dict[str, Any]) -> dict[str, Any]:
        fields = view.values()
        if name == "paper":
            fields.update(paper)
            fields["superpod_unbounded"] = bool(fields.get("superpod", False))
        elif name == "sustained":
            fields.update(efficiency)
            fields.update(latency)
            if calibration:
                fields["gemm_calibration"] = calibration
        fields["profile"] = name
        fields["calibration"] = fit
        return {**fields, **over}

    own: dict[str, list[str]] = {}
    for name in PROFILES:
        for message in checks.run(checks.HARDWARE_PROFILE_RULES, Partial(compose(name, {}))):
            own.setdefault(message, []).append(name)
    messages = [
        m if len(p) == len(PROFILES) else f"{m} ({' and '.join(p)} profile)" for m, p in own.items()
    ]
    merged = checks.run(checks.HARDWARE_PROFILE_RULES, Partial(compose(profile, good)))
    problems += _with_overrides(
        messages, [m for m in merged if m not in own], where, origin or where
    )
    if len(problems) > start:
        return None
    return Hardware(**compose(profile, good))


def validate_hardware_file(path: str | Path) -> Hardware:
    """A hardware file alone: every profile and every table of it."""
    path = Path(path)
    table = read_toml(path)
    table.setdefault("name", path.stem)
    problems: list[str] = []
    hw = hardware_from_table(table, "sustained", str(path), "", problems)
    if hw is None:
        raise InputError(problems)
    return hw


def file_kind(raw: dict[str, Any], path: Path) -> str:
    """ "fleet", "instance", "hardware" or "model": what a TOML file holds, by its keys and
    folder (a fleet lists `[[workload]]` or `[[hardware]]` entries: arrays, not tables)."""
    if any(isinstance(raw.get(k), list) for k in ("workload", "hardware")):
        return "fleet"
    if any(k in raw for k in ("workload", "search", "overrides", "hardware_profile")) or any(
        isinstance(raw.get(k), (str, dict)) for k in ("model", "hardware")
    ):
        return "instance"
    hardware_keys = {"hbm_gb", "fp8_tflops", "scaleup_gbps", *HARDWARE_TABLES}
    if path.parent.name == "hardware" or hardware_keys & set(raw):
        return "hardware"
    return "model"
