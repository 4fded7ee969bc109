"""The hardware of a scenario's pools (docs/model.md §17).

Each pool side (attention, FFN) gets its hardware exactly once, from one of:
- `hardware` (both sides, profile `hardware_profile`);
- `attention_hardware` / `ffn_hardware` (one side each: a catalogue name, a path or an inline
  table, profile `attention_hardware_profile` / `ffn_hardware_profile`, default
  `hardware_profile`, else "sustained");
- `[search] attention_hardware = [...]` / `ffn_hardware = [...]`: candidate lists (names or
  paths, the side's profile), from which AFD chooses every (attention, FFN) pairing and EP one
  hardware of either list.
A side given twice or not at all is an error, like every other problem: named with the file,
the field and what is allowed, all in one pass. `[overrides.hardware]` applies to every
hardware of the scenario. `[link] gbps` sets the link between the AFD pools.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from formulations.types import PROFILES, Hardware, Link
from solver.io import limits
from solver.io.references import resolve, table_of
from solver.io.schema import MAX_LIST_ITEMS, build, short, show
from solver.io.tables import hardware_from_table

SIDES = ("attention", "ffn")
POOL_KEYS = ("attention_hardware", "ffn_hardware")
"""Top-level keys of the split form (and the [search] keys of the candidate lists)."""
PROFILE_KEYS = ("attention_hardware_profile", "ffn_hardware_profile")
TOP_KEYS = (*POOL_KEYS, *PROFILE_KEYS, "link")


@dataclass(frozen=True)
class Pools:
    """What a scenario's hardware keys resolve to."""

    attention: tuple[Hardware, ...]
    """Attention-side candidates (one entry: fixed)."""
    ffn: tuple[Hardware, ...]
    link_gbps: float | None

    @property
    def choices(self) -> tuple[tuple[Hardware, Hardware], ...]:
        """Every (attention, FFN) pairing, attention-major; () when only one."""
        pairs = tuple((a, f) for a in self.attention for f in self.ffn)
        return pairs if len(pairs) > 1 else ()

    def representative(self) -> Hardware:
        """A hardware whose superpod setting sizes the AFD layouts most (limits check)."""
        for a, f in ((a, f) for a in self.attention for f in self.ffn):
            if a == f and a.superpod and not a.superpod_unbounded:
                return a
        return self.attention[0]


def _profiles(raw: dict[str, Any], origin: str, problems: list[str]) -> dict[str, str]:
    base = raw.get("hardware_profile", "sustained")
    base = base if base in PROFILES else "sustained"  # its own problem is reported elsewhere
    out = {}
    for side, key in zip(SIDES, PROFILE_KEYS, strict=True):
        value = raw.get(key, base)
        if value not in PROFILES:
            problems.append(
                f"{origin}: {key} = {show(value)}: must be one of {', '.join(PROFILES)}"
            )
            value = "sustained"
        out[side] = value
    return out


def _sources(raw: dict[str, Any], search: dict[str, Any], origin: str) -> tuple[dict, list[str]]:
    """Which key gives each side: "hardware", "fixed" or "list"; and the problems of the form."""
    problems: list[str] = []
    given: dict[str, list[str]] = {side: [] for side in SIDES}
    for side, key in zip(SIDES, POOL_KEYS, strict=True):
        if "hardware" in raw:
            given[side].append("hardware")
        if key in raw:
            given[side].append(key)
        if key in search:
            given[side].append(f"search.{key}")
    if "hardware" in raw:
        for key in PROFILE_KEYS:
            if key in raw:
                problems.append(
                    f"{origin}: {key}: applies to attention_hardware/ffn_hardware; with "
                    "hardware (both pools) set hardware_profile"
                )
    if not any(given.values()):
        problems.append(
            f"{origin}: hardware: missing required field (or attention_hardware and "
            "ffn_hardware, or [search] attention_hardware = [...] and ffn_hardware = [...])"
        )
        return {}, problems
    sources = {}
    for side, key in zip(SIDES, POOL_KEYS, strict=True):
        keys = given[side]
        pool = "FFN" if side == "ffn" else side
        if len(keys) > 1:
            problems.append(
                f"{origin}: {' and '.join(keys)}: the {pool} pool's hardware is given "
                f"{len(keys)} times; give hardware (both pools), or {key} (fixed) or "
                f"search.{key} (candidates) for each pool, once"
            )
        elif not keys:
            problems.append(
                f"{origin}: {key}: missing; the {pool} pool needs its hardware too: give {key} "
                f"= ... (or search.{key} = [...] candidates), or hardware for both pools"
            )
        else:
            sources[side] = keys[0]
    return sources, problems


def _one(
    ref: Any,
    field: str,
    profile: str,
    ctx: tuple[Path, str, dict[str, Any]],
    problems: list[str],
) -> Hardware | None:
    """One hardware reference or inline table of `field`, validated under `profile`."""
    base, origin, overrides = ctx
    found_problems: list[str] = []
    found = table_of("hardware", ref, base, origin, found_problems)
    problems += [p.replace(": hardware =", f": {field} =", 1) for p in found_problems]
    if found is None:
        return None
    table, where, section = found
    if section == "hardware":
        section = field  # an inline table: problems name its own key
    return hardware_from_table(table, profile, where, section, problems, overrides, origin)


def _candidates(
    entries: Any, key: str, profile: str, ctx: tuple[Path, str, dict[str, Any]], problems: list
) -> tuple[Hardware, ...]:
    """The hardware of one [search] list: names or paths, each resolved and validated."""
    _, origin, _ = ctx
    field = f"search.{key}"
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        problems.append(
            f"{origin}: {field} = {show(entries)}: must be a non-empty list of hardware names "
            'or paths, e.g. ["h20", "h800"]'
        )
        return ()
    if len(entries) > MAX_LIST_ITEMS:
        problems.append(f"{origin}: {field}: {len(entries):,} items; at most {MAX_LIST_ITEMS}")
        return ()
    out = []
    for i, ref in enumerate(entries):
        where = f"{field}[{i}]"
        if not isinstance(ref, str):
            problems.append(f"{origin}: {where} = {show(ref)}: must be a hardware name or path")
            continue
        if ref in entries[:i]:
            problems.append(f"{origin}: {where} = {short(ref)!r}: listed twice; keep one")
            continue
        hw = _one(ref, where, profile, ctx, problems)
        if hw is not None:
            out.append(hw)
    return tuple(out)


def _link(raw: Any, origin: str, problems: list[str]) -> float | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append(f"{origin}: link = {show(raw)} must be a table [link] with gbps = ...")
        return None
    link = build(Link, raw, origin, "link", problems)
    return None if link is None else link.gbps


def load_pools(
    raw: dict[str, Any],
    search: dict[str, Any],
    base: Path,
    origin: str,
    overrides: dict[str, Any],
    problems: list[str],
) -> Pools | None:
    """Resolve and validate every hardware of a scenario; None when any problem was found.

    Args:
        raw: the scenario table; search: its [search] table (the candidate lists are read here,
            the loader builds the rest of Search without them).
        overrides: the [overrides.hardware] fields, applied to every hardware.
    """
    start = len(problems)
    profiles = _profiles(raw, origin, problems)
    link = _link(raw.get("link"), origin, problems)
    sources, form = _sources(raw, search, origin)
    problems += form
    ctx = (base, origin, overrides)
    # Every key given is validated, even when the form is wrong: one pass finds everything.
    given: dict[str, tuple[Hardware, ...]] = {}
    if "hardware" in raw:
        profile = raw.get("hardware_profile", "sustained")
        profile = profile if profile in PROFILES else "sustained"
        hw = _one(raw["hardware"], "hardware", profile, ctx, problems)
        given["hardware"] = (hw,) if hw is not None else ()
    for side, key in zip(SIDES, POOL_KEYS, strict=True):
        if key in raw:
            hw = _one(raw[key], key, profiles[side], ctx, problems)
            given[key] = (hw,) if hw is not None else ()
        if key in search:
            given[f"search.{key}"] = _candidates(search[key], key, profiles[side], ctx, problems)
    sides = {side: given[source] for side, source in sources.items()}
    if len(problems) > start or set(sides) != set(SIDES) or not all(sides.values()):
        return None
    pools = Pools(sides["attention"], sides["ffn"], link)
    problems += _names(pools, origin)
    count = len(pools.attention) * len(pools.ffn)
    problems += [f"{origin}: {p}" for p in limits.pairing_problems(count)]
    return None if len(problems) > start else pools


def _names(pools: Pools, origin: str) -> list[str]:
    """Names must tell the candidates apart (result columns and deployment specs use them)."""
    if not pools.choices:
        return []
    by_name: dict[str, Hardware] = {}
    for hw in (*pools.attention, *pools.ffn):
        if by_name.setdefault(hw.name, hw) != hw:
            return [
                f"{origin}: search: two different hardware named {hw.name!r} (another profile "
                "or overrides on one side); give each candidate its own name"
            ]
    return []


__all__ = ["POOL_KEYS", "TOP_KEYS", "Pools", "load_pools", "resolve"]
