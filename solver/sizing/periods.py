"""`size` with demand over time: the multi-period fleet program and its plan (docs/model.md §18.6).

The candidates are today's (they cover each workload's largest demand); the
program is `formulations.fleet_periods`, solved by `solver.sizing.period_solve`.
Inventory shadow prices are exact under both price models (the program re-solved
with one more node of the hardware, as in §18.4); an infeasible fleet gets the
fewest GPUs missing at its worst period, then the cheapest plan with that shortage.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from formulations import archspec
from formulations.fleet import FleetProblem
from formulations.fleet_periods import (
    PeriodProblem,
    check_plan,
    hardware_cost_per_hour,
    peak_gpus,
)
from solver.backends import Status
from solver.io.fleet import Fleet
from solver.sizing.period_solve import PeriodSolve, solve_period_shortage, solve_periods
from solver.sizing.tables import (
    HARDWARE_COLUMNS,
    PLAN_COLUMNS,
    SHORTAGE_COLUMNS,
    Offer,
    frame,
    plan_table,
)


def period_problem(fleet: Fleet, problem: FleetProblem) -> PeriodProblem:
    demands = tuple(zip(*(w.demands_tokens_per_s for w in fleet.workloads), strict=True))
    return PeriodProblem(problem, demands, fleet.price_model, fleet.period_hours)


# ---- tables ----------------------------------------------------------------------------------


def period_plan(
    fleet: Fleet, problem: FleetProblem, offers: list[Offer], replicas: list[list[int]]
) -> pd.DataFrame:
    """Today's plan rows for every period, with a `period` column appended (1, 2, ...)."""
    frames = [
        plan_table(fleet, problem, offers, xs).assign(period=t + 1) for t, xs in enumerate(replicas)
    ]
    if not frames:
        return frame([], (*PLAN_COLUMNS, "period"))
    out = pd.concat(frames, ignore_index=True)
    return out.astype({"period": "Int64"})


def period_hardware(
    problem: PeriodProblem, replicas: list[list[int]] | None, shadow: dict[str, float | None]
) -> pd.DataFrame:
    """Today's hardware rows: GPUs at the peak, $/h by the price model."""
    peak = peak_gpus(problem, replicas) if replicas is not None else {}
    cost = hardware_cost_per_hour(problem, replicas) if replicas is not None else {}
    rows = [
        {
            "hardware": p.hardware,
            "gpus": peak.get(p.hardware),
            "inventory_gpus": p.inventory_gpus,
            "cost_per_hour": cost.get(p.hardware),
            "shadow_price_per_gpu_hour": shadow.get(p.hardware),
        }
        for p in problem.fleet.pools
    ]
    return frame(rows, HARDWARE_COLUMNS).astype({"inventory_gpus": "Int64"})


def shadow_prices(
    problem: PeriodProblem,
    base: PeriodSolve,
    node_gpus: int,
    backend: str,
    limit_s: Callable[[], float],
) -> dict[str, float | None]:
    """$/h saved per GPU when one node more of a finite inventory exists (re-solved, exact)."""
    out: dict[str, float | None] = {}
    for p in problem.fleet.pools:
        if p.inventory_gpus is None or base.cost_per_hour is None:
            out[p.hardware] = None
            continue
        again = solve_periods(
            problem.with_inventory(p.hardware, p.inventory_gpus + node_gpus), backend, limit_s()
        )
        saving = base.cost_per_hour - (again.cost_per_hour or base.cost_per_hour)
        out[p.hardware] = max(0.0, saving) / node_gpus
    return out


def note(text: str, progress: bool | None = None) -> None:
    """One line of progress on stderr: when asked, or (None) on a terminal."""
    if progress or (progress is None and sys.stderr.isatty()):
        print(text, file=sys.stderr, flush=True)


def period_stats(problem: PeriodProblem, solved: PeriodSolve) -> dict[str, Any]:
    return {
        "periods": problem.periods,
        "price_model": problem.price_model,
        "kept": solved.kept,
        "checked": not check_plan(problem, solved.replicas) if solved.replicas else None,
    }


def only_costs(
    problem: PeriodProblem, archs: tuple[str, ...], backend: str, limit_s: Callable[[], float]
) -> dict[str, float | None]:
    """Each architecture's candidates alone, over the same periods."""
    out: dict[str, float | None] = {}
    for a in archspec.NAMES:
        keep = [i for i, c in enumerate(problem.fleet.candidates) if c.architecture == a]
        out[a] = (
            solve_periods(problem.restrict(keep), backend, limit_s()).cost_per_hour
            if a in archs
            else None
        )
    return out


def drop_period_workloads(
    problem: PeriodProblem, kept: list[int]
) -> tuple[PeriodProblem, list[int]]:
    """Only the workloads `kept` (renumbered in that order), and the candidates' positions kept."""
    new = {w: i for i, w in enumerate(kept)}
    keep = [i for i, c in enumerate(problem.fleet.candidates) if c.workload in new]
    candidates = tuple(
        dataclasses.replace(
            problem.fleet.candidates[i], workload=new[problem.fleet.candidates[i].workload]
        )
        for i in keep
    )
    fleet = FleetProblem(
        tuple(problem.fleet.demands[w] for w in kept), problem.fleet.pools, candidates
    )
    demands = tuple(tuple(period[w] for w in kept) for period in problem.demands)
    return dataclasses.replace(problem, fleet=fleet, demands=demands), keep


def _missing_rows(
    fleet: Fleet, problem: PeriodProblem, replicas: list[list[int]], shortage: dict[str, int]
) -> list[dict[str, Any]]:
    """One shortage row per hardware short of GPUs at its worst period."""
    rows = []
    for h, missing in shortage.items():
        if missing <= 0:
            continue
        users = sorted(
            {
                fleet.workloads[c.workload].name
                for xs in replicas
                for c, x in zip(problem.fleet.candidates, xs, strict=True)
                if x > 0 and c.gpus_on(h) > 0
            }
        )
        inventory = problem.fleet.pool(h).inventory_gpus or 0
        rows.append(
            {
                "workload": ", ".join(users),
                "hardware": h,
                "missing_gpus": missing,
                "reason": f"{h}: the cheapest plan with the fewest missing GPUs needs "
                f"{inventory + missing} GPUs at its busiest period, inventory {inventory}",
            }
        )
    return rows


# ---- the pipeline's multi-period branch ------------------------------------------------------


def size_periods(
    fleet: Fleet,
    problem: FleetProblem,
    offers: list[Offer],
    reasons: dict[int, list[str]],
    archs: tuple[str, ...],
    backend: str,
    limit_left: Callable[[], float],
    node_gpus: int,
    proven: bool,
    progress: bool | None = None,
) -> dict[str, Any]:
    """`SizeResult`'s fields (but the fleet) for a fleet of several periods."""
    periods = period_problem(fleet, problem)
    note(
        f"size: fleet program over {periods.periods} periods ({periods.price_model} prices), "
        f"{len(problem.candidates)} candidates",
        progress,
    )
    t0 = time.perf_counter()
    main = solve_periods(periods, backend, limit_left()) if not reasons else None
    stats: dict[str, Any] = {"fleet_s": time.perf_counter() - t0}
    empty = frame([], SHORTAGE_COLUMNS)
    if main is not None and main.replicas is not None:
        note("size: inventory shadow prices and single-architecture costs", progress)
        shadow = shadow_prices(periods, main, node_gpus, backend, limit_left)
        only = only_costs(periods, archs, backend, limit_left)
        stats.update(period_stats(periods, main))
        return dict(
            status=str(main.status if proven else Status.FEASIBLE),
            cost_per_hour=main.cost_per_hour,
            # No bound beyond the optimum itself here: 0 when proven, else unknown (§18.6).
            gap=0.0 if proven and main.status == Status.OPTIMAL else None,
            ep_only_cost_per_hour=only[archspec.EP.name],
            afd_only_cost_per_hour=only[archspec.AFD.name],
            plan=period_plan(fleet, problem, offers, main.replicas),
            hardware=period_hardware(periods, main.replicas, shadow),
            shortages=empty,
            program=main.program,
            only_costs=only,
            stats=stats,
        )
    if main is not None and main.status != Status.INFEASIBLE:
        return dict(
            status=str(main.status),
            cost_per_hour=None,
            ep_only_cost_per_hour=None,
            afd_only_cost_per_hour=None,
            plan=frame([], (*PLAN_COLUMNS, "period")),
            hardware=period_hardware(periods, None, {}),
            shortages=empty,
            program=main.program,
            stats=stats,
        )
    return _infeasible(fleet, periods, offers, reasons, backend, limit_left(), stats)


def _infeasible(
    fleet: Fleet,
    periods: PeriodProblem,
    offers: list[Offer],
    reasons: dict[int, list[str]],
    backend: str,
    limit_s: float,
    stats: dict[str, Any],
) -> dict[str, Any]:
    """Workloads without deployments, and the fewest GPUs missing at the worst period."""
    kept = [w for w in range(len(fleet.workloads)) if w not in reasons]
    sub, keep = drop_period_workloads(periods, kept)
    sub_offers = [
        dataclasses.replace(offers[i], workload=kept.index(offers[i].workload)) for i in keep
    ]
    elastic = solve_period_shortage(sub, backend, limit_s) if kept else None
    sub_fleet = dataclasses.replace(fleet, workloads=tuple(fleet.workloads[w] for w in kept))
    rows = [
        {
            "workload": fleet.workloads[w].name,
            "hardware": None,
            "missing_gpus": None,
            "reason": f"no deployment meets TPOT {fleet.workloads[w].workload.tpot_ms:g} ms on "
            "any listed hardware: " + "; ".join(why),
        }
        for w, why in reasons.items()
    ]
    plan = frame([], (*PLAN_COLUMNS, "period"))
    used = None
    if elastic is not None and elastic.replicas is not None:
        used = elastic.replicas
        rows += _missing_rows(sub_fleet, sub, used, elastic.shortage)
        plan = period_plan(sub_fleet, sub.fleet, sub_offers, used)
    return dict(
        status=str(Status.INFEASIBLE),
        cost_per_hour=None,
        ep_only_cost_per_hour=None,
        afd_only_cost_per_hour=None,
        plan=plan,
        hardware=period_hardware(sub, used, {}),
        shortages=frame(rows, SHORTAGE_COLUMNS),
        program=elastic.program if elastic is not None else None,
        stats=stats,
    )
