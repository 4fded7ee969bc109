"""Load fleet files (`instances/fleets/<name>.toml`): workloads, hardware with prices, a search.

A fleet file lists workloads (`[[workload]]`: a unique name, a model, a demand
in tokens/s and any scenario `[workload]` key) and hardware (`[[hardware]]`: a
catalogue name or path, a price per GPU-hour, an optional inventory and a
profile), plus an optional `[search]` table that applies to every workload and
`mixed_pools` (default true): whether AFD may put its attention and FFN pools
on different listed hardware (docs/model.md §17).
It is validated like an instance file: every problem at once, each naming the
file, the entry and the field with what is allowed.

Every (workload, hardware pairing) is a scenario; `scenario_table` writes it as
the raw table an instance file would hold, so the sweep engine's workers can
build the `Instance` from plain JSON.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from formulations.fleet import COST_UNITS_PER_DOLLAR
from formulations.types import PROFILES, Instance, Search, Workload, spec
from solver.errors import InputError
from solver.io import checks, numbers
from solver.io.loader import instance_from_table, read_toml, resolve
from solver.io.schema import build

FLEET_KEYS = (
    "name",
    "description",
    "mixed_pools",
    "workload",
    "hardware",
    "search",
    # appended (issue 14): demand over time (docs/model.md §18.6)
    "period_hours",
    "price_model",
)
MAX_WORKLOADS = 100_000
# Fleet sizing sets these itself: one frontier point per GPU count (see solver.sizing).
SIZING_SEARCH_KEYS = ("objective",)


MIN_PRICE = 1.0 / COST_UNITS_PER_DOLLAR
"""The smallest price per GPU-hour the fleet program counts (1/100 of a cent): a price below it
would round to nothing and every plan would look free."""


@dataclass(frozen=True)
class FleetHardware:
    """One `[[hardware]]` entry of a fleet file."""

    name: str = spec("hardware catalogue name or path of a hardware file")
    price_per_gpu_hour: float = spec(
        "price of one GPU for one hour ($), counted to 1/100 of a cent",
        ge=MIN_PRICE,
        le=1000.0,
    )
    inventory_gpus: int | None = spec(
        "GPUs available (unlimited when absent)", default=None, ge=0, le=10_000_000
    )
    profile: str = spec("hardware profile", default="sustained", choices=PROFILES)


@dataclass(frozen=True)
class FleetWorkloadHead:
    """The keys of a `[[workload]]` entry that are not scenario `[workload]` keys."""

    name: str = spec("workload name, unique in the fleet")
    model: str = spec("model catalogue name or path of a model file")


DEMAND_MAX = float(
    {f.name: f for f in dataclasses.fields(Workload)}["demand_tokens_per_s"].metadata["le"]
)
"""Upper bound on a demand (tokens/s): the scenario field's own (one bound, one place)."""


@dataclass(frozen=True)
class FleetDemand:
    """The demand of a `[[workload]]` entry: required in a fleet, bounded above."""

    demand_tokens_per_s: float = spec(
        "output tokens/s the fleet must serve for this workload", gt=0.0, le=DEMAND_MAX
    )


MAX_PERIODS = 8_760
"""Periods a demand list may hold: hourly for a year."""
PRICE_MODELS = ("peak", "per_period")
"""`peak`: hardware bought once, priced by the most GPUs in use at any period; `per_period`:
rented, priced by the GPUs in use in each period (docs/model.md §18.6)."""
PERIOD_HOURS = numbers.Bounds(gt=0.0, le=8_760.0)


@dataclass(frozen=True)
class FleetWorkload:
    name: str
    model: str
    workload: Workload
    raw: dict[str, Any]
    """The scenario `[workload]` keys as written, a demand list replaced by its largest value
    (what the candidates must cover)."""
    periods: tuple[float, ...] = ()
    """The demand of every period (tokens/s); empty: the one `demand_tokens_per_s`."""

    @property
    def demands_tokens_per_s(self) -> tuple[float, ...]:
        """One demand per period (one period for a scalar demand)."""
        return self.periods or (self.demand_tokens_per_s,)

    @property
    def demand_tokens_per_s(self) -> float:
        assert self.workload.demand_tokens_per_s is not None
        return self.workload.demand_tokens_per_s


@dataclass(frozen=True)
class Fleet:
    """A validated fleet file."""

    name: str
    path: str
    workloads: tuple[FleetWorkload, ...]
    hardware: tuple[FleetHardware, ...]
    search: dict[str, Any]
    """The raw `[search]` table (validated), applied to every scenario."""
    mixed_pools: bool = True
    """AFD may run attention on one listed hardware and FFN on another."""
    period_hours: float = 1.0
    """Length of one demand period (hours)."""
    price_model: str = "peak"
    """How periods are priced: one of `PRICE_MODELS`."""

    @property
    def periods(self) -> int:
        """Number of demand periods (1 when every demand is a scalar)."""
        return len(self.workloads[0].demands_tokens_per_s) if self.workloads else 1

    @property
    def base(self) -> Path:
        return Path(self.path).parent

    def hardware_named(self, name: str) -> FleetHardware:
        for h in self.hardware:
            if h.name == name:
                return h
        raise KeyError(name)

    def scenario_table(
        self, workload: FleetWorkload, attention_hardware: str, ffn_hardware: str
    ) -> dict[str, Any]:
        """The raw instance table of one workload on one hardware pairing (attention and FFN
        pools on different hardware: `attention_hardware` / `ffn_hardware` keys, each with
        its entry's profile)."""
        att = self.hardware_named(attention_hardware)
        ffn = self.hardware_named(ffn_hardware)
        table: dict[str, Any] = {
            "name": f"{self.name}/{workload.name}/{att.name}",
            "model": workload.model,
        }
        if att.name == ffn.name:
            table.update(hardware=att.name, hardware_profile=att.profile)
        else:
            table["name"] += f"+{ffn.name}"
            table.update(
                attention_hardware=att.name,
                attention_hardware_profile=att.profile,
                ffn_hardware=ffn.name,
                ffn_hardware_profile=ffn.profile,
            )
        table.update(workload=dict(workload.raw), search=dict(self.search))
        return table

    def instance(self, workload: FleetWorkload, hardware: str) -> Instance:
        """The scenario of `workload` on `hardware` as an `Instance`."""
        table = self.scenario_table(workload, hardware, hardware)
        return instance_from_table(table, self.base, self.path)


def _entries(raw: Any, key: str, origin: str, problems: list[str]) -> list[dict[str, Any]]:
    if raw is None:
        problems.append(f"{origin}: {key}: missing; give at least one [[{key}]] entry")
        return []
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        problems.append(f"{origin}: {key} must be an array of tables [[{key}]]")
        return []
    if not raw:
        problems.append(f"{origin}: {key}: empty; give at least one [[{key}]] entry")
    if len(raw) > MAX_WORKLOADS:
        problems.append(f"{origin}: {key}: {len(raw)} entries; at most {MAX_WORKLOADS}")
        return []
    return raw


def _unique_name(
    entry: dict[str, Any], i: int, kind: str, seen: dict[str, int], origin: str
) -> str | None:
    """A problem if the entry's name was used by an earlier entry of the same kind."""
    name = entry.get("name")
    if not isinstance(name, str):
        return None
    if name in seen:
        return (
            f"{origin}: {kind}[{i}].name = {name!r}: not unique (also {kind}[{seen[name]}]); "
            f"give each {kind} a different name"
        )
    seen[name] = i
    return None


def _hardware(
    entries: list[dict[str, Any]], origin: str, base: Path, problems: list[str]
) -> list[FleetHardware]:
    out: list[FleetHardware] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        section = f"hardware[{i}]"
        start = len(problems)
        hw = build(FleetHardware, entry, origin, section, problems)
        duplicate = _unique_name(entry, i, "hardware", seen, origin)
        if duplicate:
            problems.append(duplicate)
        elif isinstance(entry.get("name"), str):
            found: list[str] = []
            resolve("hardware", entry["name"], base, origin, found)
            problems.extend(p.replace(": hardware =", f": {section}.name =") for p in found)
        if hw is not None and len(problems) == start:
            out.append(hw)
    return out


def _workloads(
    entries: list[dict[str, Any]], origin: str, base: Path, problems: list[str]
) -> list[Any]:
    out = []
    seen: dict[str, int] = {}
    head_keys = {f.name for f in dataclasses.fields(FleetWorkloadHead)}
    for i, entry in enumerate(entries):
        section = f"workload[{i}]"
        start = len(problems)
        head = build(
            FleetWorkloadHead,
            {k: v for k, v in entry.items() if k in head_keys},
            origin,
            section,
            problems,
        )
        raw = {k: v for k, v in entry.items() if k not in head_keys}
        periods: tuple[float, ...] = ()
        if isinstance(raw.get("demand_tokens_per_s"), list):
            periods = _demand_list(raw["demand_tokens_per_s"], f"{origin}: {section}", problems)
            raw["demand_tokens_per_s"] = max(periods, default=1.0)
        demand = {k: raw[k] for k in ("demand_tokens_per_s",) if k in raw}
        build(FleetDemand, demand, origin, section, problems)
        workload = build(Workload, raw, origin, section, problems)
        duplicate = _unique_name(entry, i, "workload", seen, origin)
        if duplicate:
            problems.append(duplicate)
        if isinstance(entry.get("model"), str):
            found_model: list[str] = []
            resolve("models", entry["model"], base, origin, found_model)
            problems.extend(p.replace(": model =", f": {section}.model =") for p in found_model)
        if len(problems) == start and head is not None and workload is not None:
            out.append((head, workload, raw, periods))
    return out


def _demand_list(values: list[Any], where: str, problems: list[str]) -> tuple[float, ...]:
    """A demand per period: 1 to `MAX_PERIODS` numbers, each > 0 and <= `DEMAND_MAX`."""
    field_name = f"{where}.demand_tokens_per_s"
    if not values or len(values) > MAX_PERIODS:
        problems.append(
            f"{field_name}: {len(values):,} periods; give 1 to {MAX_PERIODS:,} values "
            "(one per period) or one number"
        )
        return ()
    bounds = numbers.Bounds(gt=0.0, le=DEMAND_MAX)
    out = []
    for i, value in enumerate(values):
        number, problem = numbers.convert(value, f"{field_name}[{i}]", bounds=bounds)
        if problem:
            problems.append(problem)
            return ()
        out.append(float(number))
    return tuple(out)


def _periods(
    raw: dict[str, Any], workloads: list[Any], origin: str, problems: list[str]
) -> tuple[float, str]:
    """`period_hours` and `price_model`, and every workload giving the same number of periods."""
    hours, problem = numbers.convert(
        raw.get("period_hours", 1.0), f"{origin}: period_hours", bounds=PERIOD_HOURS
    )
    if problem:
        problems.append(problem)
    model = raw.get("price_model", "peak")
    if model not in PRICE_MODELS:
        problems.append(
            f"{origin}: price_model = {numbers.show(model)}: must be one of "
            + ", ".join(map(repr, PRICE_MODELS))
        )
    counts = {len(periods or (0,)) for *_, periods in workloads}
    if len(counts) > 1:
        problems.append(
            f"{origin}: workload[*].demand_tokens_per_s: lists of different lengths "
            f"({', '.join(map(str, sorted(counts)))} periods); give every workload the same "
            "number of periods (a single number counts as one)"
        )
    return (float(hours) if hours is not None else 1.0), str(model)


def _search(raw: Any, origin: str, problems: list[str]) -> dict[str, Any] | None:
    """The raw `[search]` table once valid, else None (its problems appended)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{origin}: search must be a table [search]")
        return None
    start = len(problems)
    for key in SIZING_SEARCH_KEYS:
        if key in raw:
            problems.append(
                f"{origin}: search.{key}: not allowed in a fleet file; sizing chooses the "
                "deployments by their throughput at each GPU count"
            )
    for key in ("attention_hardware", "ffn_hardware"):
        if key in raw:
            problems.append(
                f"{origin}: search.{key}: not allowed in a fleet file; the [[hardware]] entries "
                "are the candidates (set mixed_pools = false to keep AFD's pools on one hardware)"
            )
    search = build(
        Search,
        {
            k: v
            for k, v in raw.items()
            if k not in (*SIZING_SEARCH_KEYS, "attention_hardware", "ffn_hardware")
        },
        origin,
        "search",
        problems,
    )
    if search is not None:
        problems.extend(f"{origin}: {p}" for p in checks.check_search(search))
    return dict(raw) if len(problems) == start else None


def _check_scenarios(
    workloads: list[Any],
    hardware: list[FleetHardware],
    search: dict[str, Any],
    origin: str,
    base: Path,
    problems: list[str],
) -> None:
    """Build one scenario per distinct model and one per hardware, so every file is checked."""
    if not hardware or not workloads:
        return
    tables = []
    done: set[str] = set()
    for i, (head, _, raw, _) in enumerate(workloads):
        if head.model not in done:
            done.add(head.model)
            tables.append((f"{origin}: workload[{i}]", head.model, hardware[0], raw))
    first = workloads[0]
    tables += [(origin, first[0].model, hw, first[2]) for hw in hardware[1:]]
    for where, model, hw, raw in tables:
        table = {
            "model": model,
            "hardware": hw.name,
            "hardware_profile": hw.profile,
            "workload": raw,
            "search": search,
        }
        try:
            instance_from_table(table, base, where)
        except InputError as exc:
            problems.extend(exc.problems)


def load_fleet(path: str | os.PathLike[str]) -> Fleet:
    """Read and validate a fleet file; `InputError` lists every problem at once."""
    path = Path(path)
    origin = str(path)
    raw = read_toml(path)
    problems: list[str] = []
    for key in raw:
        if key not in FLEET_KEYS:
            problems.append(f"{origin}: {key}: unknown field; allowed: {', '.join(FLEET_KEYS)}")
    name = raw.get("name", path.stem)
    if not isinstance(name, str):
        problems.append(f"{origin}: name must be a string")
        name = path.stem
    workload_entries = _entries(raw.get("workload"), "workload", origin, problems)
    hardware_entries = _entries(raw.get("hardware"), "hardware", origin, problems)
    search = _search(raw.get("search"), origin, problems)
    mixed = raw.get("mixed_pools", True)
    if not isinstance(mixed, bool):
        problems.append(f"{origin}: mixed_pools = {mixed!r} must be true or false")
        mixed = True
    hardware = _hardware(hardware_entries, origin, path.parent, problems)
    workloads = _workloads(workload_entries, origin, path.parent, problems)
    if search is not None:
        _check_scenarios(workloads, hardware, search, origin, path.parent, problems)
    period_hours, price_model = _periods(raw, workloads, origin, problems)
    if problems:
        raise InputError(list(dict.fromkeys(problems)))
    return Fleet(
        name=name,
        path=origin,
        workloads=tuple(
            FleetWorkload(head.name, head.model, workload, raw, periods)
            for head, workload, raw, periods in workloads
        ),
        hardware=tuple(hardware),
        search=search or {},
        mixed_pools=mixed,
        period_hours=period_hours,
        price_model=price_model,
    )
