"""`size`: the cheapest fleet serving every workload: candidates, plan, shortages and prices.

Pipeline: candidates of every workload class on every pairing (`solver.sizing.candidates`:
every AFD/EP unit count's best deployment, undominated per pool; TP frontier chains) ->
candidates per workload (`solver.sizing.problem`) -> the fleet program
(`formulations.fleet`, solved by `solver.sizing.solve`) -> the same program restricted to
each architecture -> shadow prices of the inventories (re-solved with one more node each) ->
for an infeasible fleet, the workloads no deployment serves and the fewest GPUs missing per
hardware.

Exact over every deployment of the search ranges (docs/model.md §18.1, §18.5): every
deployment is matched by a candidate of its workload with no more GPUs on any hardware and at
least as much of the demand covered, pools on different hardware counted apart, so the fleet
program over the candidates has the optimum over all plans. `optimal` needs that proof (the
candidate search complete) and the fleet program's; otherwise the plan is `feasible` with the
`gap` to a proven bound, or a null gap when the candidate search was cut short. Assumed:
replicas serve their tokens/s independently; a deployment costs its GPUs times the price per
GPU-hour (no other granularity than `search.unit_gpus`, no network or power cost).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from formulations import archspec
from formulations.fleet import FleetProblem
from formulations.program import IntegerProgram
from formulations.types import ARCHITECTURES, BACKENDS, Search
from solver.backends import Status
from solver.io import arguments
from solver.io.fleet import Fleet, load_fleet
from solver.sizing.candidates import compute_frontiers, pairings, workload_class
from solver.sizing.periods import size_periods
from solver.sizing.problem import build_problem
from solver.sizing.solve import FleetSolve, solve_fleet, solve_shortage
from solver.sizing.tables import (
    PLAN_COLUMNS,
    SHORTAGE_COLUMNS,
    Offer,
    frame,
    hardware_table,
    plan_table,
)


@dataclass
class SizeResult:
    """A sized fleet: status, costs, plan, hardware use, shortages, and how it was found."""

    fleet: Fleet
    status: str
    cost_per_hour: float | None
    ep_only_cost_per_hour: float | None
    afd_only_cost_per_hour: float | None
    plan: pd.DataFrame
    hardware: pd.DataFrame
    shortages: pd.DataFrame
    program: IntegerProgram | None = None
    """The fleet program as solved (for `--export`)."""
    only_costs: dict[str, float | None] = field(default_factory=dict)
    """Per architecture: the same program with that architecture's candidates alone (`ep` and
    `afd` are also the two fields above, the JSON contract's first keys)."""
    stats: dict[str, Any] = field(default_factory=dict)
    """Timings (s) and counts: frontiers_s, fleet_s, total_s, candidates, kept, method."""
    gap: float | None = None
    """(cost - proven lower bound) / cost: 0 when `optimal`; None when no bound is known (a
    candidate search the time limit cut short) or there is no plan."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of `size --format json`."""
        from solver import report

        return {
            "status": self.status,
            "cost_per_hour": self.cost_per_hour,
            "ep_only_cost_per_hour": self.ep_only_cost_per_hour,
            "afd_only_cost_per_hour": self.afd_only_cost_per_hour,
            "plan": report.records(self.plan),
            "hardware": report.records(self.hardware),
            "shortages": report.records(self.shortages),
            # appended (issue 15): every other architecture's cost alone
            **{
                f"{a}_only_cost_per_hour": c
                for a, c in self.only_costs.items()
                if a not in (archspec.EP.name, archspec.AFD.name)
            },
            "gap": self.gap,  # appended (issue 14)
        }


def _subset(problem: FleetProblem, architecture: str) -> tuple[FleetProblem, list[int]]:
    keep = [i for i, c in enumerate(problem.candidates) if c.architecture == architecture]
    return problem.restrict(keep), keep


# ---- prices of inventory ----------------------------------------------------------------


def shadow_prices(
    problem: FleetProblem, base: FleetSolve, node_gpus: int, backend: str, time_limit_s: float
) -> dict[str, float | None]:
    """$/h saved per GPU of inventory when one node (`node_gpus` GPUs) is added, by re-solving.

    Exact, not an LP dual: the fleet program is re-solved with that hardware's
    inventory raised by one node, and the saving divided by the node's GPUs.
    Unlimited hardware has none (null). When the workloads' own optima already
    fit (the decomposition), no inventory binds and every price is 0.
    """
    out: dict[str, float | None] = {}
    for p in problem.pools:
        if p.inventory_gpus is None or base.cost_per_hour is None:
            out[p.hardware] = None
        elif base.method == "decomposition":
            out[p.hardware] = 0.0
        else:
            more = problem.with_inventory(p.hardware, p.inventory_gpus + node_gpus)
            again = solve_fleet(more, backend, time_limit_s, build_program=False)
            saving = base.cost_per_hour - (again.cost_per_hour or base.cost_per_hour)
            out[p.hardware] = max(0.0, saving) / node_gpus
    return out


# ---- the whole pipeline -----------------------------------------------------------------


def _restricted_cost(
    problem: FleetProblem,
    architecture: str,
    archs: tuple[str, ...],
    backend: str,
    limit: float,
    main: FleetSolve,
) -> float | None:
    if architecture not in archs:
        return None
    used = [c for c, x in zip(problem.candidates, main.replicas or [], strict=True) if x > 0]
    if main.status == Status.OPTIMAL and all(c.architecture == architecture for c in used):
        # The optimum already uses that architecture alone: restricting cannot make it cheaper.
        return main.cost_per_hour
    sub, _ = _subset(problem, architecture)
    return solve_fleet(sub, backend, limit, build_program=False).cost_per_hour


def _shortage_rows(
    fleet: Fleet,
    problem: FleetProblem,
    offers: list[Offer],
    reasons: dict[int, list[str]],
    elastic: FleetSolve | None,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for w, why in reasons.items():
        name = fleet.workloads[w].name
        tpot = fleet.workloads[w].workload.tpot_ms
        rows.append(
            {
                "workload": name,
                "hardware": None,
                "missing_gpus": None,
                "reason": f"no deployment meets TPOT {tpot:g} ms on any listed hardware: "
                + "; ".join(why),
            }
        )
    if elastic is not None and elastic.replicas is not None:
        for h, missing in elastic.shortage.items():
            if missing <= 0:
                continue
            users = sorted(
                {
                    fleet.workloads[offers[i].workload].name
                    for i, x in enumerate(elastic.replicas)
                    if x > 0 and problem.candidates[i].gpus_on(h) > 0
                }
            )
            inventory = problem.pool(h).inventory_gpus or 0
            rows.append(
                {
                    "workload": ", ".join(users),
                    "hardware": h,
                    "missing_gpus": missing,
                    "reason": f"{h}: the cheapest plan with the fewest missing GPUs needs "
                    f"{inventory + missing} GPUs, inventory {inventory}",
                }
            )
    return rows


def _drop_workloads(
    problem: FleetProblem, offers: list[Offer], drop: set[int]
) -> tuple[FleetProblem, list[Offer], list[int]]:
    """The fleet without the workloads in `drop` (renumbered), its offers, and the kept indices."""
    kept_w = [w for w in range(len(problem.demands)) if w not in drop]
    new_index = {w: i for i, w in enumerate(kept_w)}
    keep = [i for i, c in enumerate(problem.candidates) if c.workload not in drop]
    cands = tuple(
        dataclasses.replace(
            problem.candidates[i], workload=new_index[problem.candidates[i].workload]
        )
        for i in keep
    )
    demands = tuple(problem.demands[w] for w in kept_w)
    return FleetProblem(demands, problem.pools, cands), [offers[i] for i in keep], keep


FLEET_BACKENDS = tuple(b for b in BACKENDS if b != "enumerate")
"""Backends of the fleet program (enumeration walks deployments, not fleets)."""

DEFAULT_LIMIT_S = 3600.0
"""`size` without --time-limit: an hour for the whole sizing (each solve within the fleet's
search.time_limit_s), so no frontier outlives it however large the demands."""


def size(
    fleet: str | os.PathLike[str] | Fleet,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    backend: str | None = "highs",
    time_limit_s: float | None = None,
    progress: bool | None = None,
) -> SizeResult:
    """Size a fleet: the cheapest plan meeting every demand within every inventory.

    Args:
        fleet: a fleet file or a loaded `Fleet`.
        workers: local worker processes for the frontiers (default all cores; 1 in process).
        scheduler: `tcp://HOST:PORT` of a Dask scheduler for the frontiers.
        backend: highs, cbc or cpsat for the fleet program.
        time_limit_s: the whole sizing's wall time: the frontier solves (each also within the
            fleet's search.time_limit_s) and the fleet programs share it; default
            `DEFAULT_LIMIT_S`. Frontiers cut short make the plan `feasible`, not optimal.
        progress: progress bar for the frontiers (None: only on a terminal).
    """
    start = time.perf_counter()
    workers = arguments.workers(workers)
    scheduler = arguments.scheduler(scheduler)
    chosen = arguments.backend(backend, "backend", FLEET_BACKENDS)
    time_limit_s = arguments.time_limit(time_limit_s)
    progress = arguments.optional_flag(progress, "progress")
    if not isinstance(fleet, Fleet):
        fleet = load_fleet(arguments.path(fleet, "fleet", "a fleet file path or a Fleet"))
    backend = chosen or "highs"
    defaults = Search()
    archs_raw = fleet.search.get("architectures", ARCHITECTURES)
    archs = (archs_raw,) if isinstance(archs_raw, str) else tuple(archs_raw)
    total = DEFAULT_LIMIT_S if time_limit_s is None else float(time_limit_s)
    per_solve = float(fleet.search.get("time_limit_s", defaults.time_limit_s))
    node_gpus = int(fleet.search.get("unit_gpus", defaults.unit_gpus))
    say = _Say(progress)
    n_classes = len({workload_class(fleet, i) for i in range(len(fleet.workloads))})
    say(
        f"candidates: every deployment of {n_classes} workload class(es) on "
        f"{len(pairings(fleet, archs))} pairing(s), by enumeration of the search ranges (AFD, "
        "EP) or frontier chains (TP)"
    )
    frontiers, classes = compute_frontiers(
        fleet,
        archs,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        deadline=time.time() + total,
    )

    def limit_left() -> float:
        # What the fleet programs may still take (a solve gets at least a moment to report).
        return max(min(per_solve, total - (time.perf_counter() - start)), 0.05)

    frontiers_s = time.perf_counter() - start
    proven = all(f.proven for fs in frontiers.values() for f in fs)
    problem, offers, reasons = build_problem(fleet, frontiers, classes)
    stats: dict[str, Any] = {
        "frontiers_s": frontiers_s,
        "frontier_points": sum(len(f.rows) for fs in frontiers.values() for f in fs),
        "candidates": len(problem.candidates),
        "classes": len(classes),
    }
    if fleet.periods > 1:  # demand over time (docs/model.md §18.6)
        fields = size_periods(
            fleet, problem, offers, reasons, archs, backend, limit_left, node_gpus, proven, progress
        )
        stats.update(fields.pop("stats"), total_s=time.perf_counter() - start)
        return SizeResult(fleet, **fields, stats=stats)
    t0 = time.perf_counter()
    say(
        f"fleet program: {len(problem.candidates)} candidates of {len(fleet.workloads)} "
        f"workload(s), proving the cheapest plan ({backend})"
    )
    main = solve_fleet(problem, backend, limit_left()) if not reasons else None
    stats["fleet_s"] = time.perf_counter() - t0
    if main is not None and main.replicas is not None:
        # `optimal` needs both proofs: every candidate search complete, the program solved.
        status = main.status if proven else Status.FEASIBLE
        say("shadow prices of the inventories and each architecture alone")
        shadow = shadow_prices(problem, main, node_gpus, backend, limit_left())
        only = {
            a: _restricted_cost(problem, a, archs, backend, limit_left(), main)
            for a in archspec.NAMES
        }
        result = SizeResult(
            fleet,
            str(status),
            main.cost_per_hour,
            only[archspec.EP.name],
            only[archspec.AFD.name],
            plan_table(fleet, problem, offers, main.replicas),
            hardware_table(problem, main.replicas, shadow),
            frame([], SHORTAGE_COLUMNS),
            main.program,
            only_costs=only,
        )
        stats.update(kept=main.kept, method=main.method)
        result.gap = _gap(main, proven)
    elif main is not None and main.status not in (Status.INFEASIBLE,):
        # Time limit without an incumbent, or a backend error: nothing to show.
        result = SizeResult(
            fleet,
            str(main.status),
            None,
            None,
            None,
            frame([], PLAN_COLUMNS),
            hardware_table(problem, None, {}),
            frame([], SHORTAGE_COLUMNS),
            main.program,
        )
    else:
        result = _infeasible(fleet, problem, offers, reasons, backend, limit_left(), main)
    stats["total_s"] = time.perf_counter() - start
    result.stats = stats
    return result


def _gap(main: FleetSolve, proven: bool) -> float | None:
    """The plan's relative gap to its proven bound (None without one: docs/model.md §18.5)."""
    cost, bound = main.cost_per_hour, main.bound_per_hour
    if not proven or cost is None or bound is None or cost <= 0:
        return None
    if main.status == Status.OPTIMAL:
        return 0.0
    return max(0.0, (cost - bound) / cost)


class _Say:
    """Progress lines on stderr (`size: ...`), by default only on a terminal."""

    def __init__(self, progress: bool | None) -> None:
        self.on = sys.stderr.isatty() if progress is None else progress

    def __call__(self, text: str) -> None:
        if self.on:
            print(f"size: {text}", file=sys.stderr, flush=True)


def _infeasible(
    fleet: Fleet,
    problem: FleetProblem,
    offers: list[Offer],
    reasons: dict[int, list[str]],
    backend: str,
    limit: float,
    main: FleetSolve | None,
) -> SizeResult:
    """Name what cannot be served: workloads without deployments, GPUs missing per hardware."""
    servable, servable_offers, _ = _drop_workloads(problem, offers, set(reasons))
    elastic = solve_shortage(servable, backend, limit) if servable.demands else None
    sub_fleet = dataclasses.replace(
        fleet, workloads=tuple(w for i, w in enumerate(fleet.workloads) if i not in reasons)
    )
    rows = _shortage_rows(fleet, problem, offers, reasons, None)
    if elastic is not None:
        rows += _shortage_rows(sub_fleet, servable, servable_offers, {}, elastic)
    plan = (
        plan_table(sub_fleet, servable, servable_offers, elastic.replicas)
        if elastic is not None and elastic.replicas is not None
        else frame([], PLAN_COLUMNS)
    )
    used = elastic.replicas if elastic is not None else None
    return SizeResult(
        fleet,
        str(Status.INFEASIBLE),
        None,
        None,
        None,
        plan,
        hardware_table(servable, used, {}),
        frame(rows, SHORTAGE_COLUMNS),
        main.program if main is not None else None,
    )
