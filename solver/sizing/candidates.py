"""Candidate deployments of a fleet: every workload class's deployments on every pairing.

AFD and EP (docs/model.md §18.1): every unit count's best deployment of the search ranges
(`solver.sizing.grid`, the forward model over the whole grid), less the unit counts another
one beats on every pool's GPUs and on tokens/s; pools on different hardware are compared
apart, since they are priced and counted apart (§17).

TP: the frontier chain by total GPUs (one hardware). f(k) = the `total_tokens` optimum with
`search.max_gpus = k`; the `min_gpus` optimum for the class's largest demand gives the largest
size worth having (K), then each `total_tokens` solve at `max_gpus = k` returns a deployment
with k' <= k GPUs and f(k') tokens/s, so f is flat on [k', k] and the next solve is at k' - g.

Work is shared: workloads that differ only in their demand (same model, same workload keys,
same search) share one point per pairing; each workload then keeps what its own demand needs
(`solver.sizing.problem`). Points run in parallel on the sweep engine, one per (workload
class, pairing, architecture).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from formulations import archspec, branches
from formulations.types import IntRange
from solver.io.fleet import Fleet

ROW_KEYS = (
    "architecture",
    "status",
    "attention_nodes",
    "ffn_nodes",
    "nodes",
    "tp_groups",
    "tensor_parallel",
    "gpus",
    "sequences_per_gpu",
    "tokens_per_s",
    "tpot_ms",
    "binding",
    "solve_s",
)


@dataclass(frozen=True)
class Pairing:
    """Where one deployment runs: attention pool hardware, FFN pool hardware, architecture.

    EP has one pool (attention = FFN hardware); AFD's pools may differ (docs/model.md §17).
    """

    attention_hardware: str
    ffn_hardware: str
    architecture: str

    @property
    def label(self) -> str:
        """`h20+h800` for AFD pools on different hardware, else the hardware's name."""
        a, f = self.attention_hardware, self.ffn_hardware
        return a if a == f else f"{a}+{f}"


def pairings(fleet: Fleet, architectures: tuple[str, ...]) -> list[Pairing]:
    """EP on each hardware; AFD on every ordered (attention, FFN) pair of the fleet's hardware
    (same hardware only when the fleet sets `mixed_pools = false`)."""
    out = []
    for a in fleet.hardware:
        for f in fleet.hardware:
            for arch in architectures:
                same = a.name == f.name
                if same or (archspec.get(arch).own_ffn_hardware and fleet.mixed_pools):
                    out.append(Pairing(a.name, f.name, arch))
    return out


def workload_class(fleet: Fleet, index: int) -> str:
    """What makes two workloads share a frontier: everything but their name and demand."""
    w = fleet.workloads[index]
    raw = {k: v for k, v in w.raw.items() if k != "demand_tokens_per_s"}
    return json.dumps({"model": w.model, "workload": raw}, sort_keys=True)


@dataclass(frozen=True)
class Frontier:
    """The frontier of one workload class on one pairing, smallest deployment first."""

    pairing: Pairing
    rows: list[dict[str, Any]]
    """Feasible deployments (ROW_KEYS plus `attention_gpus`, `ffn_gpus`), by GPUs."""
    reason: str | None = None
    """Why there is no deployment (when `rows` is empty)."""
    proven: bool = True
    """Every solve behind it was proven optimal (no time limit reached)."""


# ---- worker side ------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _instance(origin: str, scenario_json: str) -> Any:
    from solver.io.loader import instance_from_table

    return instance_from_table(json.loads(scenario_json), Path(origin).parent, origin)


def _solve(
    inst: Any, arch: str, objective: str, max_gpus: int | None, deadline: float | None = None
) -> dict[str, Any]:
    """One frontier solve, within the scenario's time limit and the sizing's `deadline` (a
    `time.time()` value: frontiers run in other processes, so a wall-clock time)."""
    from solver import report
    from solver.api import solve

    search = dataclasses.replace(inst.search, objective=objective, max_gpus=max_gpus)
    limit = inst.search.time_limit_s
    if deadline is not None:
        limit = min(limit, deadline - time.time())
    if limit <= 0:
        return {**{k: None for k in ROW_KEYS}, "architecture": arch, **CUT}
    rows = report.records(
        solve(inst.replace(search=search), architectures=[arch], time_limit_s=limit)
    )
    return {k: rows[0].get(k) for k in ROW_KEYS}


CUT = {"status": "time_limit", "binding": "the sizing's time limit cut this frontier short"}
"""The row that ends a frontier the time limit cut short (it is then not proven)."""


def _size_cap(inst: Any, arch: str) -> int:
    """The largest deployment the search ranges allow (GPUs)."""
    s = inst.search
    spec = archspec.get(arch)
    units = sum(getattr(s, p.search_field).hi for p in spec.pools)
    # The largest unit a branch may use (TP: the largest allowed group size, not the range's).
    cap = units * max((b.unit_gpus for b in branches.of(inst, arch)), default=s.unit_gpus)
    return min(cap, s.max_gpus) if s.max_gpus is not None else cap


def frontier_point(origin: str, point: dict[str, Any]) -> list[dict[str, Any]]:
    """One frontier (the sweep engine's point function): the deployments, largest first.

    An empty frontier is one row with status `infeasible` and the reason in `binding`.
    """
    arch = point["architecture"]
    inst = _instance(origin, json.dumps(point["scenario"], sort_keys=True))
    deadline = point.get("deadline")
    g = inst.search.unit_gpus
    spec = archspec.get(arch)
    if spec.independent_units:
        # Copies of one unit are the fleet's replicas: one unit of each size is the frontier,
        # from the largest size down (docs/model.md §18.1).
        one = IntRange(1, 1)
        inst = inst.replace(
            search=dataclasses.replace(inst.search, **{spec.serving.search_field: one})
        )
        g = min((b.unit_gpus for b in branches.of(inst, arch)), default=g)
    ok = ("optimal", "feasible")
    top = _solve(inst, arch, "min_gpus", inst.search.max_gpus, deadline)
    if top["status"] not in ok:
        # The demand is beyond one deployment (or nothing meets the target): the largest one.
        top = _solve(inst, arch, "total_tokens", _size_cap(inst, arch), deadline)
        if top["status"] not in ok:
            return [top]
    rows = [top]
    _say(point, f"frontier by total GPUs from {top['gpus']} GPUs down, one proof per point")
    # One solve per frontier point: their number grows with the demand, so the loop stops at
    # the deadline and says so (the frontier, and the plan built on it, are then not proven).
    while rows[-1]["gpus"] - g >= g:
        row = _solve(inst, arch, "total_tokens", rows[-1]["gpus"] - g, deadline)
        if row["status"] == "time_limit":
            rows.append({**row, **CUT})
            break
        if row["status"] not in ok:
            break
        rows.append(row)
    return rows


def candidates_point(origin: str, point: dict[str, Any]) -> list[dict[str, Any]]:
    """One pairing's candidates (the sweep engine's point function), docs/model.md §18.1.

    AFD and EP: every unit count's best deployment (`solver.sizing.grid`), less those another
    one beats on every pool's GPUs and on tokens/s; pools on different hardware are compared
    apart. TP: the frontier chain by total GPUs (`frontier_point`). A grid the deadline cut
    ends in a `CUT` row (not proven).
    """
    from solver.sizing.grid import GRIDS, undominated, unit_grid

    arch = point["architecture"]
    if arch not in GRIDS:
        return frontier_point(origin, point)
    inst = _instance(origin, json.dumps(point["scenario"], sort_keys=True))
    rows, complete = unit_grid(inst, arch, point.get("deadline"))
    mixed = point["attention_hardware"] != point["ffn_hardware"]
    out = [{**{k: None for k in ROW_KEYS}, **r} for r in undominated(rows, 2 if mixed else 1)]
    what = "pools apart" if mixed else "total GPUs"
    _say(point, f"{len(out)} candidates undominated ({what}) of {len(rows)} unit counts, every "
         "deployment of the ranges" + ("" if complete else ": cut by the time limit"))  # fmt: skip
    if not complete:
        return [*out, {**{k: None for k in ROW_KEYS}, "architecture": arch, **CUT}]
    if not out:
        reason = "no deployment of the search ranges meets the TPOT target and fits"
        return [{**{k: None for k in ROW_KEYS}, "architecture": arch, "status": "infeasible",
                 "binding": reason}]  # fmt: skip
    return out


# ---- parent side ------------------------------------------------------------------------


def frontier_points(
    fleet: Fleet, architectures: tuple[str, ...]
) -> tuple[list[dict[str, Any]], dict[int, list[int]]]:
    """Engine points (one per class and pairing) and, per class, the workloads in it."""
    classes: dict[str, list[int]] = {}
    for i in range(len(fleet.workloads)):
        classes.setdefault(workload_class(fleet, i), []).append(i)
    points: list[dict[str, Any]] = []
    for c, (_, members) in enumerate(classes.items()):
        first = fleet.workloads[members[0]]
        demand = max(fleet.workloads[i].demand_tokens_per_s for i in members)
        for p in pairings(fleet, architectures):
            scenario = fleet.scenario_table(first, p.attention_hardware, p.ffn_hardware)
            scenario["workload"]["demand_tokens_per_s"] = demand
            scenario["name"] = f"{fleet.name}/class{c}/{p.label}"
            points.append(
                {
                    "point": len(points),
                    "class": c,
                    "architecture": p.architecture,
                    "attention_hardware": p.attention_hardware,
                    "ffn_hardware": p.ffn_hardware,
                    "scenario": scenario,
                    "label": f"{_class_name(fleet, members)} on {p.label} "
                    f"{archspec.label(p.architecture)}",
                }
            )
    return points, {c: members for c, members in enumerate(classes.values())}


def _class_name(fleet: Fleet, members: list[int]) -> str:
    first = fleet.workloads[members[0]].name
    return first if len(members) == 1 else f"{first} (+{len(members) - 1} of its class)"


def _say(point: dict[str, Any], text: str) -> None:
    """One progress line on stderr for a point that asks for it (`size` on a terminal)."""
    if point.get("say"):
        print(f"size: {point.get('label', '')}: {text}", file=sys.stderr, flush=True)


COUNT_KEYS = (*archspec.POOL_COLUMNS, archspec.UNIT_GPUS_COLUMN, "gpus", "sequences_per_gpu")


def _frontier(point: dict[str, Any], rows: list[dict[str, Any]]) -> Frontier:
    pairing = Pairing(point["attention_hardware"], point["ffn_hardware"], point["architecture"])
    good = [r for r in rows if r.get("status") in ("optimal", "feasible")]
    if not good:
        bad = rows[0] if rows else {}
        reason = bad.get("binding") or bad.get("reason") or bad.get("status") or "no result"
        return Frontier(pairing, [], reason=str(reason), proven=bad.get("status") != "time_limit")
    out = []
    for r in sorted(good, key=lambda r: (r["gpus"], -r["tokens_per_s"])):
        r = {k: (int(v) if k in COUNT_KEYS and v is not None else v) for k, v in r.items()}
        # GPUs split like the units: the serving pool's share runs attention (EP: all).
        spec = archspec.get(pairing.architecture)
        units = sum(r[p.column] for p in spec.pools)
        r["attention_gpus"] = r["gpus"] * r[spec.serving.column] // units
        r["ffn_gpus"] = r["gpus"] - r["attention_gpus"]
        out.append(r)
    # A frontier cut short ends in a time_limit row: not proven.
    proven = all(r.get("status") == "optimal" for r in rows)
    return Frontier(pairing, out, proven=proven)


def compute_frontiers(
    fleet: Fleet,
    architectures: tuple[str, ...],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool | None = None,
    point_fn: Callable[[str, dict[str, Any]], list[dict[str, Any]]] = candidates_point,
    deadline: float | None = None,
) -> tuple[dict[int, list[Frontier]], dict[int, list[int]]]:
    """Every class's frontiers on every pairing, solved in parallel on the sweep engine.

    Args:
        deadline: a `time.time()` value the frontier solves stop at (None: none).

    Returns (frontiers by class, workload positions by class).
    """
    from solver.analysis.engine import run_points

    points, classes = frontier_points(fleet, architectures)
    if deadline is not None:
        points = [{**p, "deadline": deadline} for p in points]
    if sys.stderr.isatty() if progress is None else progress:
        # A line per point as it finishes (workload, pairing, what it proved), not a bare bar.
        points, progress = [{**p, "say": True} for p in points], False
    with tempfile.TemporaryDirectory(prefix="afd-size-") as tmp:
        table = run_points(
            fleet.path,
            points,
            point_fn,
            tmp,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
        )
    by_point: dict[int, list[dict[str, Any]]] = {}
    for rec in table.to_dict(orient="records"):
        by_point.setdefault(int(rec["point"]), []).append(rec)
    frontiers: dict[int, list[Frontier]] = {c: [] for c in classes}
    for p in points:
        rows = [_row(r) for r in by_point.get(p["point"], [])]
        frontiers[p["class"]].append(_frontier(p, rows))
    return frontiers, classes


def _row(rec: dict[str, Any]) -> dict[str, Any]:
    """A stored row back as plain values (the store's table is wide, with NaN for gaps)."""
    import math

    out = {}
    for k, v in rec.items():
        if isinstance(v, float) and math.isnan(v):
            v = None
        out[k] = v
    if out.get("status") is None:
        out["status"] = "error"
    # Keys that clash with the point's own keys come back as <key>_result.
    if "architecture_result" in out:
        out["architecture"] = out.pop("architecture_result")
    return out
