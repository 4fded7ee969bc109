"""Mixes when candidates span two pools: one scarce pool, any candidates (docs/model.md §18.3).

`formulations.fleet_mixes` builds each workload's undominated mixes from per-pool dynamic
programs, which needs every candidate on one pool (a pool's GPUs then fix its cost). A mixed
AFD deployment spends GPUs on two hardware types, so here the mixes come from Pareto sets of
(cost, served) instead, for fleets with one scarce pool h:

    U      the cheapest cover of every demand level by the candidates without GPUs on h
           (Pareto points: no cheaper point serves as much), an unbounded knapsack;
    V[G]   the Pareto points (cost, served) of the candidates with GPUs on h that use
           exactly G GPUs of h, by increasing G (V[G] from V[G - G_c] plus one replica of c);
    mix(G) the cheapest point of V[G] plus U of the demand it leaves.

Exact: a cover using G GPUs of h splits into its replicas on h (a point of V[G] or one it
dominates, serving at least as much for no more) and the rest (costing at least U of what is
left), so mix(G) is no dearer; the undominated mixes over G are then the workload's columns of
the mix form, as in `fleet_mixes`. Served amounts are capped at the demand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from formulations.deadline import Check, given
from formulations.fleet import FleetProblem, cost_units, demand_units, max_replicas, served_units
from formulations.fleet_mixes import Mix, _undominated

Point = tuple[int, int, tuple[tuple[int, int], ...]]
"""(cost units, served, replicas as (candidate position, count) pairs)."""


def _pareto(points: list[Point]) -> list[Point]:
    """Cheapest first, each point serving strictly more than every cheaper one."""
    points.sort(key=lambda p: (p[0], -p[1]))
    out: list[Point] = []
    for p in points:
        if not out or p[1] > out[-1][1]:
            out.append(p)
    return out


def _add(p: Point, cost: int, served: int, i: int, demand: int) -> Point:
    return (p[0] + cost, min(demand, p[1] + served), (*p[2], (i, 1)))


def _cheapest_cover(points: list[Point], rest: int) -> Point | None:
    """The cheapest point serving at least `rest` (points: Pareto, served ascending)."""
    for p in points:  # cheapest first, served rising: the first one that covers
        if p[1] >= rest:
            return p
    return None


def _free_staircase(items: list[tuple[int, int, int]], demand: int, check: Check) -> list[Point]:
    """U: Pareto points of covers by `items` (cost, served, position), unbounded replicas."""
    points: list[Point] = [(0, 0, ())]
    for cost, served, i in items:
        for _ in range(math.ceil(demand / served)):
            check()
            grown = _pareto(points + [_add(p, cost, served, i, demand) for p in points])
            if grown == points:
                break
            points = grown
    return points


def workload_split_mixes(
    problem: FleetProblem, members: Sequence[int], scarce: str, check: Check | None = None
) -> list[Mix] | None:
    """Every undominated mix of one workload with one scarce pool, or None past the inventory
    levels worth walking (`MAX_LEVELS`). `check` is called at every step (it raises
    `deadline.Expired`)."""
    check = given(check)
    if not members:
        return []
    w = problem.candidates[members[0]].workload
    demand = demand_units(problem.demands[w])
    inventory = problem.pool(scarce).inventory_gpus
    assert inventory is not None
    free: list[tuple[int, int, int]] = []
    touch: list[tuple[int, int, int, int]] = []  # scarce GPUs, cost, served, position
    for i in members:
        c = problem.candidates[i]
        served = served_units(c, problem.demands[w])
        if served <= 0 or max_replicas(problem, c, inventory=False) <= 0:
            continue
        on = c.gpus_on(scarce)
        if on:
            touch.append((on, cost_units(problem, c), served, i))
        else:
            free.append((cost_units(problem, c), served, i))
    stair = _free_staircase(free, demand, check)
    step = math.gcd(*(t[0] for t in touch)) if touch else 1
    levels = inventory // step
    if levels > MAX_LEVELS:
        return None
    widest = max((on // step for on, _, _, _ in touch), default=1)
    by_level: list[list[Point]] = [[(0, 0, ())]]
    raw: list[Mix] = []
    for level in range(levels + 1):
        check()
        if level:
            # A point that already covers the demand is not grown: more replicas only cost.
            grown = [
                _add(p, cost, served, i, demand)
                for on, cost, served, i in touch
                if on // step <= level
                for p in by_level[level - on // step]
                if p[1] < demand
            ]
            by_level.append(_pareto(grown))
            if not any(p[1] < demand for lv in by_level[-widest:] for p in lv):
                levels = level  # nothing left to grow: no higher level has a point
        for p in by_level[level]:
            rest = _cheapest_cover(stair, demand - p[1])
            if rest is not None:
                raw.append(Mix(p[0] + rest[0], (level * step,), _merge(p[2] + rest[2])))
        if level >= levels:
            break
    return _undominated(raw)


MAX_LEVELS = 4_096
"""Levels of the scarce pool (inventory / the gcd of the GPUs candidates put on it) beyond
which the split mixes are not built (the replica form solves the fleet)."""


def _merge(replicas: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    counts: dict[int, int] = {}
    for i, x in replicas:
        counts[i] = counts.get(i, 0) + x
    return tuple(sorted(counts.items()))


def split_mixes(
    problem: FleetProblem, check: Check | None = None
) -> tuple[list[list[Mix]], list[str]] | None:
    """Every workload's undominated mixes over the one scarce pool, or None when there are
    several (or too many levels): the replica form then solves the fleet.

    A finite pool is not scarce when every candidate at its replica bound fits it together
    (`add_shortage`'s count): no plan within those bounds can exceed it.
    """
    scarce = []
    for p in problem.pools:
        if p.inventory_gpus is None:
            continue
        need = sum(
            max_replicas(problem, c, inventory=False) * c.gpus_on(p.hardware)
            for c in problem.candidates
        )
        if need > p.inventory_gpus:
            scarce.append(p.hardware)
    if len(scarce) != 1:
        return None
    members: list[list[int]] = [[] for _ in problem.demands]
    for i, c in enumerate(problem.candidates):
        members[c.workload].append(i)
    mixes = []
    for m in members:
        options = workload_split_mixes(problem, m, scarce[0], check)
        if options is None:
            return None
        mixes.append(options)
    return mixes, scarce
