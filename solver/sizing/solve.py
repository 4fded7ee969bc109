"""Solve the fleet program exactly: prune, bound each workload, decompose when possible.

1. `formulations.fleet.prune` drops candidates no optimal plan needs.
2. Each workload's cheapest cover ignoring inventories (`cover_optimum`, exact)
   is a lower bound on what the workload costs in any plan.
3. If the union of those covers fits every inventory, it is optimal: it meets
   the sum of the lower bounds. Otherwise the fleet program goes to the
   backend, whose optimum is the proof: in mix form
   (`formulations.fleet_mixes`: each workload picks one undominated cover, the
   covers share the scarce inventories) when every candidate runs on one
   pool or when one pool is scarce (`formulations.fleet_split_mixes`, for
   candidates on two pools), else in replica form with the bounds as valid
   rows (`add_workload_bounds`).

Why not always the replica form: a fleet of independent workloads is a sum of
small covering knapsacks whose LP gaps branch and bound closes one at a time
(HiGHS does not split a program into independent parts), so at 100 workloads
with a binding inventory it does not finish in a minute; the mix form's LP is
the convex hull of each workload's covers and the same fleet solves in 0.2 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from formulations.deadline import Expired
from formulations.fleet import (
    COST_UNITS_PER_DOLLAR,
    FleetProblem,
    build_fleet_program,
    check_plan,
    plan_cost,
    read_replicas,
    read_shortage,
)
from formulations.fleet_mixes import build_mix_program, fleet_mixes, mix_replicas
from formulations.fleet_pruning import Cover, cover_optimum, prune
from formulations.fleet_split_mixes import split_mixes
from formulations.program import IntegerProgram
from solver.backends import Status, make_backend
from solver.backends.base import Solution


@dataclass(frozen=True)
class FleetSolve:
    """The outcome of one fleet solve; replicas are per candidate of the problem given."""

    status: Status
    replicas: list[int] | None = None
    cost_per_hour: float | None = None
    solve_s: float = 0.0
    method: str = ""
    """`decomposition` (the workloads' own optima fit the inventories) or the backend's name."""
    program: IntegerProgram | None = None
    """The fleet program (with the workload bounds), built even when not needed to solve."""
    shortage: dict[str, int] = field(default_factory=dict)
    kept: int = 0
    """Candidates left after pruning."""
    bound_per_hour: float | None = None
    """A proven lower bound on the optimum ($/h): the cost itself when optimal, else the
    backend's best bound (None when it has none)."""


def _members(problem: FleetProblem) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in problem.demands]
    for i, c in enumerate(problem.candidates):
        out[c.workload].append(i)
    return out


def _expand(keep: list[int], values: list[int], n: int) -> list[int]:
    full = [0] * n
    for i, v in zip(keep, values, strict=True):
        full[i] = v
    return full


def solve_fleet(
    problem: FleetProblem,
    backend: str = "highs",
    time_limit_s: float = 60.0,
    *,
    build_program: bool = True,
) -> FleetSolve:
    """The cheapest plan meeting every demand within every inventory, proven optimal.

    Args:
        problem: the fleet.
        backend: highs, cbc or cpsat, for the fleet program when the shortcut fails.
        time_limit_s: for the fleet program.
        build_program: also build the program when the shortcut solves the fleet
            (for `--export`).
    """
    start = time.perf_counter()
    keep = prune(problem)
    pruned = problem.restrict(keep)
    stop = start + COVER_SHARE * time_limit_s

    def check() -> None:
        if time.perf_counter() > stop:
            raise Expired()

    try:
        covers: list[Cover | None] | None = [
            cover_optimum(pruned, m, check) for m in _members(pruned)
        ]
    except Expired:  # the covers grow with the demands: go to the program without them
        covers = None
    if covers is None:
        return _program_only(pruned, keep, len(problem.candidates), backend, start, time_limit_s)
    if any(c is None for c in covers):
        return FleetSolve(
            Status.INFEASIBLE, solve_s=time.perf_counter() - start, method="cover", kept=len(keep)
        )
    bounds = [c.cost_units for c in covers if c is not None]
    bounds_sum = sum(bounds)  # the workloads' own optima: a bound on the fleet's (§18.3)
    relaxed = [0] * len(pruned.candidates)
    for cover in covers:
        assert cover is not None
        for i, m in cover.replicas.items():
            relaxed[i] = m
    fits = not check_plan(pruned, relaxed)
    prob = None
    if build_program or not fits:
        prob, handles = build_fleet_program(pruned, bounds=bounds)
    if fits:
        return FleetSolve(
            Status.OPTIMAL,
            _expand(keep, relaxed, len(problem.candidates)),
            plan_cost(pruned, relaxed),
            time.perf_counter() - start,
            "decomposition",
            prob,
            kept=len(keep),
            bound_per_hour=plan_cost(pruned, relaxed),
        )
    assert prob is not None
    left = max(time_limit_s - (time.perf_counter() - start), 1)
    # Mix form when it applies: single-pool candidates, or one scarce pool (split mixes, whose
    # levels grow with the inventory: past half the time left, the replica form instead).
    mixed = fleet_mixes(pruned)
    if mixed is None:
        stop = time.perf_counter() + COVER_SHARE * left
        try:
            mixed = split_mixes(pruned, check)
        except Expired:
            mixed = None
        left = max(time_limit_s - (time.perf_counter() - start), 1)
    replicas: list[int] = []
    if mixed is not None:
        mixes, scarce = mixed
        prob, z = build_mix_program(pruned, mixes, scarce)
        sol = make_backend(backend).solve(prob, left)
        method = f"{backend} (mixes)"
        if sol.has_values:
            picks = [next(m for m, v in enumerate(zw) if sol.values[v] > 0.5) for zw in z]
            replicas = mix_replicas(pruned, mixes, picks)
    else:
        sol = make_backend(backend).solve(prob, left)
        method = backend
        if sol.has_values:
            replicas = read_replicas(handles, sol.values)
    if not sol.has_values:
        return FleetSolve(
            sol.status,
            solve_s=time.perf_counter() - start,
            method=method,
            program=prob,
            kept=len(keep),
        )
    return FleetSolve(
        sol.status,
        _expand(keep, replicas, len(problem.candidates)),
        plan_cost(pruned, replicas),
        time.perf_counter() - start,
        method,
        prob,
        kept=len(keep),
        bound_per_hour=_bound(sol, max(bounds_sum, 0)),
    )


def _bound(sol: Solution, floor_units: int) -> float | None:
    """The fleet optimum's proven lower bound in $/h: the objective when optimal, else the
    larger of the backend's bound and `floor_units` (both in cost units)."""
    if sol.status == Status.OPTIMAL and sol.objective is not None:
        return sol.objective / COST_UNITS_PER_DOLLAR
    best = max(sol.bound if sol.bound is not None else 0.0, float(floor_units))
    return best / COST_UNITS_PER_DOLLAR if best > 0 else None


COVER_SHARE = 0.5
"""Share of the fleet program's time the exact per-workload covers may take (the shortcut and
the lower bounds); past it the program is solved without them."""


def _program_only(
    pruned: FleetProblem,
    keep: list[int],
    total: int,
    backend: str,
    start: float,
    time_limit_s: float,
) -> FleetSolve:
    """The replica-form program with what time is left, without cover bounds or shortcut."""
    prob, handles = build_fleet_program(pruned)
    left = max(time_limit_s - (time.perf_counter() - start), 1)
    sol = make_backend(backend).solve(prob, left)
    if not sol.has_values:
        return FleetSolve(
            sol.status, solve_s=time.perf_counter() - start, method=backend, program=prob,
            kept=len(keep),
        )  # fmt: skip
    replicas = read_replicas(handles, sol.values)
    return FleetSolve(
        sol.status,
        _expand(keep, replicas, total),
        plan_cost(pruned, replicas),
        time.perf_counter() - start,
        backend,
        prob,
        kept=len(keep),
        bound_per_hour=_bound(sol, 0),
    )


@dataclass(frozen=True)
class ShortageSolve:
    """The two solves of an infeasible fleet: the fewest missing GPUs, then the cheapest plan
    with that many. `solution` and `handles` belong to the same program (the second, or the
    first when the second found nothing in time); `solution` is None when the first found
    nothing."""

    status: Status
    first: IntegerProgram
    second: IntegerProgram | None
    solution: Solution | None
    handles: Any


def fewest_missing_then_cheapest(
    build: Callable[[int | None], tuple[IntegerProgram, Any]],
    read_missing: Callable[[Any, Sequence[float]], dict[str, int]],
    backend: str,
    time_limit_s: float,
    floor_s: float,
) -> ShortageSolve:
    """Solve `build(None)` (elastic inventories, min missing GPUs), then `build(missing)` (min
    cost with at most that many missing), sharing `time_limit_s` (the second gets at least
    `floor_s`). One-period and multi-period fleets alike (docs/model.md §18.4, §18.6)."""
    start = time.perf_counter()
    engine = make_backend(backend)
    first, handles = build(None)
    sol = engine.solve(first, time_limit_s)
    if not sol.has_values:
        return ShortageSolve(sol.status, first, None, None, handles)
    missing = sum(read_missing(handles, sol.values).values())
    second, handles2 = build(missing)
    sol2 = engine.solve(second, max(time_limit_s - (time.perf_counter() - start), floor_s))
    status = Status.OPTIMAL if sol.status == sol2.status == Status.OPTIMAL else Status.FEASIBLE
    if sol2.has_values:
        return ShortageSolve(status, first, second, sol2, handles2)
    return ShortageSolve(status, first, second, sol, handles)  # the first optimum stands


def solve_shortage(
    problem: FleetProblem, backend: str = "highs", time_limit_s: float = 60.0
) -> FleetSolve:
    """The fewest GPUs missing over all inventories, then the cheapest plan with that shortage.

    Every workload must have candidates (the caller names the ones without).
    """
    start = time.perf_counter()
    keep = prune(problem)
    pruned = problem.restrict(keep)
    two = fewest_missing_then_cheapest(
        lambda cap: build_fleet_program(pruned, elastic=True, shortage_cap=cap),
        read_shortage,
        backend,
        time_limit_s,
        floor_s=1.0,
    )
    if two.solution is None:
        return FleetSolve(two.status, solve_s=time.perf_counter() - start, method=backend)
    replicas = read_replicas(two.handles, two.solution.values)
    return FleetSolve(
        two.status,
        _expand(keep, replicas, len(problem.candidates)),
        plan_cost(pruned, replicas),
        time.perf_counter() - start,
        backend,
        two.second,
        read_shortage(two.handles, two.solution.values),
        kept=len(keep),
    )
