"""The multi-period fleet program solved exactly (docs/model.md §18.6).

`per_period` prices each period alone, so it is one program per period: the least cost, then
the fewest GPUs at that cost. `peak` couples the periods through the GPUs bought, and is
solved by period generation: the program over each workload's peak period, its GPUs bought
checked against every other period alone, the periods they cannot serve added, until none
is left. Every program gets each workload's cheapest cover of each period as a lower-bound
row. An infeasible fleet: the fewest GPUs missing at the busiest period, then the cost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from formulations.deadline import Expired
from formulations.fleet_periods import (
    PeriodProblem,
    build_period_program,
    cost_per_hour,
    one_period,
    peak_gpus,
    period_fleet,
    prune,
    read_replicas,
    read_shortage,
)
from formulations.fleet_pruning import cover_optimum
from formulations.program import IntegerProgram
from solver.backends import Status, make_backend
from solver.sizing.solve import fewest_missing_then_cheapest


@dataclass(frozen=True)
class PeriodSolve:
    """One multi-period solve; replicas[t] per candidate of the problem given."""

    status: Status
    replicas: list[list[int]] | None = None
    cost_per_hour: float | None = None
    program: IntegerProgram | None = None
    shortage: dict[str, int] = field(default_factory=dict)
    kept: int = 0


def _expand(keep: list[int], periods: list[list[int]], n: int) -> list[list[int]]:
    out = []
    for xs in periods:
        full = [0] * n
        for i, v in zip(keep, xs, strict=True):
            full[i] = v
        out.append(full)
    return out


COVER_SHARE = 0.25
"""Share of the time the per-period covers (lower bounds) may take; past it, none."""


def _covers(problem: PeriodProblem, stop: float) -> list[list[int]] | None:
    """Each workload's cheapest cover in every period, in cost units (None: past `stop`)."""

    def check() -> None:
        if time.perf_counter() > stop:
            raise Expired()

    members: list[list[int]] = [[] for _ in problem.fleet.demands]
    for i, c in enumerate(problem.fleet.candidates):
        members[c.workload].append(i)
    done: dict[tuple[int, float], int] = {}  # periods of equal demand share a cover
    out = []
    try:
        for t in range(problem.periods):
            fleet = period_fleet(problem, t)
            for w, d in enumerate(fleet.demands):
                if (w, d) not in done:
                    cover = cover_optimum(fleet, members[w], check)
                    done[w, d] = cover.cost_units if cover is not None else 0
            out.append([done[w, d] for w, d in enumerate(fleet.demands)])
    except Expired:
        return None
    return out


def _cheapest(problem: PeriodProblem, backend: str, stop: float) -> PeriodSolve:
    """One period rented: the least cost, then the fewest GPUs at that cost."""
    engine = make_backend(backend)
    bounds = _covers(problem, _share(stop))
    prob, handles = build_period_program(problem, bounds=bounds)
    sol = engine.solve(prob, _left(stop))
    if not sol.has_values:
        return PeriodSolve(sol.status, program=prob)
    replicas = read_replicas(handles, sol.values)
    cap = round(prob.objective_value(list(sol.values)))
    tie, handles = build_period_program(problem, cost_cap_units=cap, bounds=bounds)
    again = engine.solve(tie, _left(stop))
    if again.has_values:  # else the first optimum stands
        replicas = read_replicas(handles, again.values)
    return PeriodSolve(sol.status, replicas, program=prob)


def _cheapest_peak(problem: PeriodProblem, backend: str, stop: float) -> PeriodSolve:
    """Hardware bought once: the least cost, then, within the GPUs it buys, the fewest GPUs in
    use in every period. By period generation (exact, docs/model.md §18.6): the program over
    some periods bounds the cost from below; its GPUs bought serve every other period (each
    checked alone), or the periods they cannot serve join and it is solved again."""
    engine = make_backend(backend)
    active = sorted(
        {max(range(problem.periods), key=lambda t: d[t]) for _, d in _by_workload(problem)}
    )
    while True:
        sub = PeriodProblem(problem.fleet, tuple(problem.demands[t] for t in active), "peak")
        prob, handles = build_period_program(sub, bounds=_covers(sub, _share(stop)))
        sol = engine.solve(prob, _left(stop))
        if not sol.has_values:
            return PeriodSolve(sol.status, program=prob)
        first = read_replicas(handles, sol.values)
        fleet = problem.fleet
        for h, n in peak_gpus(sub, first).items():
            fleet = fleet.with_inventory(h, n)
        replicas: list[list[int]] = []
        unserved = []
        for t, demands in enumerate(problem.demands):  # the GPUs bought fixed: independent
            alone = PeriodProblem(fleet, (demands,), "per_period")
            tie, handles = build_period_program(alone, fewest_gpus=True)
            again = engine.solve(tie, _left(stop))
            if again.has_values:
                replicas.append(read_replicas(handles, again.values)[0])
            elif t in active:  # cut short: the program's own replicas of that period
                replicas.append(first[active.index(t)])
            else:
                unserved.append(t)
        if not unserved:
            return PeriodSolve(sol.status, replicas, program=prob)
        active = sorted({*active, *unserved})


def _by_workload(problem: PeriodProblem) -> list[tuple[int, tuple[float, ...]]]:
    """(workload, its demand in every period)."""
    return list(enumerate(zip(*problem.demands, strict=True)))


def _left(stop: float) -> float:
    return max(stop - time.perf_counter(), 0.05)


def _share(stop: float) -> float:
    """When the covers (lower bounds) must stop: a share of the time left."""
    return time.perf_counter() + COVER_SHARE * _left(stop)


def solve_periods(
    problem: PeriodProblem, backend: str = "highs", time_limit_s: float = 60.0
) -> PeriodSolve:
    """The cheapest plan over all periods, ties broken by the fewest GPUs in use (§18.6).

    `per_period` is a separate program per period (nothing couples them); `peak` is one.
    """
    stop = time.perf_counter() + time_limit_s
    keep = prune(problem)
    pruned = problem.restrict(keep)
    if pruned.price_model == "peak":
        parts = [_cheapest_peak(pruned, backend, stop)]
    elif pruned.periods == 1:
        parts = [_cheapest(pruned, backend, stop)]
    else:
        parts = [_cheapest(one_period(pruned, t), backend, stop) for t in range(pruned.periods)]
    status = Status.OPTIMAL
    if any(p.replicas is None for p in parts):
        return PeriodSolve(next(p.status for p in parts if p.replicas is None), kept=len(keep))
    if any(p.status != Status.OPTIMAL for p in parts):
        status = Status.FEASIBLE
    replicas = [xs for p in parts for xs in p.replicas or []]
    full = _expand(keep, replicas, len(problem.fleet.candidates))
    return PeriodSolve(status, full, cost_per_hour(problem, full), parts[0].program, kept=len(keep))


def solve_period_shortage(
    problem: PeriodProblem, backend: str = "highs", time_limit_s: float = 60.0
) -> PeriodSolve:
    """The fewest GPUs missing at the worst period, then the cheapest plan with that many."""
    keep = prune(problem)
    pruned = problem.restrict(keep)
    two = fewest_missing_then_cheapest(
        lambda cap: build_period_program(pruned, elastic=True, shortage_cap=cap),
        read_shortage,
        backend,
        time_limit_s,
        floor_s=0.05,
    )
    if two.solution is None:
        return PeriodSolve(two.status, program=two.first, kept=len(keep))
    values = two.solution.values
    full = _expand(keep, read_replicas(two.handles, values), len(problem.fleet.candidates))
    return PeriodSolve(
        two.status,
        full,
        cost_per_hour(problem, full),
        two.second,
        read_shortage(two.handles, values),
        kept=len(keep),
    )
