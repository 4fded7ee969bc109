"""The fleet program in mix form: each workload picks one mix, the mixes share the inventories.

A workload's plan matters to the rest of the fleet only through the GPUs it
takes from each hardware whose inventory can run out; everything else is its
own cost. A *mix* is one cover of the workload's demand, summarised by its cost
and its GPUs on those scarce pools. Enumerating every mix that is not
dominated (no other mix is as cheap and uses no more GPUs of any scarce pool)
gives an exact reformulation of the fleet program (a Dantzig-Wolfe
decomposition with all columns listed):

    min  sum_{w,m} cost_m z_wm
    s.t. sum_m z_wm = 1                           for every workload w   (choice)
         sum_{w,m} gpus_m[h] z_wm <= inventory_h  for every scarce h     (inventory)
         z_wm binary

Its LP relaxation is the convex hull of each workload's mixes, so an optimal
vertex has at most as many fractional workloads as there are scarce pools,
and branch and bound has little left to close; the replica formulation
(`formulations.fleet`) instead leaves every workload's covering knapsack
fractional.

Mixes come from exact dynamic programs over each pool's candidates (single-pool
candidates only): T_h(G), the most demand G GPUs of pool h cover, and U(R),
the cheapest cover of R tokens/s on the pools that never run out. A mix picks
one level G_h of every scarce pool, and U covers the rest. Why it is exact: take
any cover with u_h GPUs on scarce pool h; the level of T_h at or below u_h
covers at least what those GPUs did with no more GPUs, and U covers the
remainder at most at the cover's cost on the other pools.

A pool is *scarce* when the workloads could together exceed its inventory
(the sum over workloads of the largest level worth having is above it);
other finite pools never bind and count as unlimited.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

from formulations.fleet import FleetProblem, cost_units, demand_units, served_units
from formulations.program import IntegerProgram

MAX_COMBINATIONS = 5_000
"""Level combinations per workload beyond which the mix form is not built (many scarce pools)."""


@dataclass(frozen=True)
class Level:
    """The best use of G GPUs of one pool: demand covered and the replicas that do it."""

    gpus: int
    served: int
    replicas: tuple[tuple[int, int], ...]
    """(candidate position, replicas)."""


@dataclass(frozen=True)
class Mix:
    """One undominated cover of a workload: cost units, GPUs per scarce pool, replicas."""

    cost_units: int
    gpus: tuple[int, ...]
    replicas: tuple[tuple[int, int], ...]


def pool_levels(
    problem: FleetProblem, members: Sequence[int], hardware: str, cap_gpus: int | None
) -> list[Level]:
    """T_h(G) at every G where it rises, from G = 0 up to covering the demand (or `cap_gpus`).

    Unbounded knapsack over the pool's candidates in steps of the gcd of their sizes.
    """
    cands = [(i, problem.candidates[i]) for i in members]
    cands = [(i, c) for i, c in cands if c.gpus[0][0] == hardware]
    levels = [Level(0, 0, ())]
    if not cands:
        return levels
    demand = demand_units(problem.demands[cands[0][1].workload])
    step = reduce(math.gcd, (c.total_gpus for _, c in cands))
    items = [
        (c.total_gpus // step, served_units(c, problem.demands[c.workload]), i) for i, c in cands
    ]
    smallest = min(k for k, _, _ in items)
    # Enough units to cover the demand with the smallest candidate alone bounds every level.
    top = math.ceil(demand / max(1, min(s for k, s, _ in items if k == smallest))) * smallest
    top = max(top, max(k for k, _, _ in items))
    if cap_gpus is not None:
        top = min(top, cap_gpus // step)
    best = [0] * (top + 1)
    choice: list[tuple[int, int] | None] = [None] * (top + 1)  # (item, previous units)
    for g in range(1, top + 1):
        best[g], choice[g] = best[g - 1], None
        for k, s, i in items:
            if k <= g and best[g - k] + s > best[g]:
                best[g], choice[g] = min(best[g - k] + s, demand), (i, g - k)
        if best[g] >= demand:
            top = g
            break
    for g in range(1, top + 1):
        if best[g] > levels[-1].served and choice[g] is not None:
            counts: dict[int, int] = {}
            at = g
            while at > 0:
                pick = choice[at]
                if pick is None:
                    at -= 1
                    continue
                counts[pick[0]] = counts.get(pick[0], 0) + 1
                at = pick[1]
            levels.append(Level(g * step, best[g], tuple(sorted(counts.items()))))
    return levels


@dataclass(frozen=True)
class _Staircase:
    """U(R): cheapest cover of R on the unlimited pools, as Pareto points sorted by served."""

    served: list[int]
    cost: list[int]
    replicas: list[tuple[tuple[int, int], ...]]

    def cheapest(self, rest: int) -> tuple[int, tuple[tuple[int, int], ...]] | None:
        if rest <= 0:
            return 0, ()
        at = bisect.bisect_left(self.served, rest)
        return None if at == len(self.served) else (self.cost[at], self.replicas[at])


def _staircase(problem: FleetProblem, levels: dict[str, list[Level]], demand: int) -> _Staircase:
    points: list[tuple[int, int, tuple[tuple[int, int], ...]]] = [(0, 0, ())]  # cost, served
    for h, pool_levels_ in levels.items():
        price = problem.pool(h).price_units
        merged = [
            (c + price * lv.gpus, min(demand, s + lv.served), r + lv.replicas)
            for (c, s, r), lv in itertools.product(points, pool_levels_)
        ]
        merged.sort(key=lambda p: (p[0], -p[1]))
        points = []
        for p in merged:  # Pareto: keep a point only if it serves more than every cheaper one
            if not points or p[1] > points[-1][1]:
                points.append(p)
    points.sort(key=lambda p: p[1])
    # For each served level keep the cheapest point serving at least that much.
    served: list[int] = []
    cost: list[int] = []
    reps: list[tuple[tuple[int, int], ...]] = []
    for c, s, r in reversed(points):
        if not cost or c < cost[-1]:
            served.append(s)
            cost.append(c)
            reps.append(r)
    return _Staircase(served[::-1], cost[::-1], reps[::-1])


def scarce_pools(problem: FleetProblem, levels: list[dict[str, list[Level]]]) -> list[str]:
    """Finite pools the workloads could together exhaust (the others never bind)."""
    out = []
    for p in problem.pools:
        if p.inventory_gpus is None:
            continue
        most = sum(by_pool[p.hardware][-1].gpus for by_pool in levels if p.hardware in by_pool)
        if most > p.inventory_gpus:
            out.append(p.hardware)
    return out


def workload_levels(problem: FleetProblem, members: Sequence[int]) -> dict[str, list[Level]]:
    by_pool: dict[str, list[Level]] = {}
    for p in problem.pools:
        levels = pool_levels(problem, members, p.hardware, p.inventory_gpus)
        if len(levels) > 1:
            by_pool[p.hardware] = levels
    return by_pool


def workload_mixes(
    problem: FleetProblem, by_pool: dict[str, list[Level]], scarce: Sequence[str], demand: float
) -> list[Mix] | None:
    """Every undominated mix of one workload, or None if there are too many level combinations."""
    need = demand_units(demand)
    free = {h: lv for h, lv in by_pool.items() if h not in scarce}
    tight = [by_pool.get(h, [Level(0, 0, ())]) for h in scarce]
    if math.prod(len(lv) for lv in tight) > MAX_COMBINATIONS:
        return None
    stair = _staircase(problem, free, need)
    prices = [problem.pool(h).price_units for h in scarce]
    raw: list[Mix] = []
    for combo in itertools.product(*tight):
        covered = sum(lv.served for lv in combo)
        rest = stair.cheapest(need - covered)
        if rest is None:
            continue
        cost = rest[0] + sum(p * lv.gpus for p, lv in zip(prices, combo, strict=True))
        reps = rest[1] + tuple(r for lv in combo for r in lv.replicas)
        raw.append(Mix(cost, tuple(lv.gpus for lv in combo), reps))
    return _undominated(raw)


def _undominated(raw: list[Mix]) -> list[Mix]:
    """Mixes that no cheaper (or equally cheap, listed earlier) mix beats on every scarce pool.

    Cheapest first, a mix stays unless a kept one uses no more GPUs of every
    pool. With two pools the minimal kept GPU pairs form a staircase (GPUs of
    the first pool up, of the second down), so the test is one binary search.
    """
    raw.sort(key=lambda m: (m.cost_units, m.gpus))
    if not raw:
        return []
    dims = len(raw[0].gpus)
    kept: list[Mix] = []
    if dims <= 1:
        least = math.inf
        for m in raw:
            g = m.gpus[0] if dims else 0
            if g < least or (not kept and dims == 0):
                kept.append(m)
                least = g
            if dims == 0:
                break
        return kept
    if dims == 2:
        xs: list[int] = []  # staircase of minimal kept pairs: xs ascending, ys descending
        ys: list[int] = []
        for m in raw:
            x, y = m.gpus
            at = bisect.bisect_right(xs, x)
            if at and ys[at - 1] <= y:
                continue  # a kept mix with no more of either pool is cheaper
            kept.append(m)
            # Drop staircase points the new pair dominates (x' >= x and y' >= y), then insert.
            end = at
            while end < len(xs) and ys[end] >= y:
                end += 1
            start = at
            if start and xs[start - 1] == x:
                start -= 1
            del xs[start:end], ys[start:end]
            xs.insert(start, x)
            ys.insert(start, y)
        return kept
    for m in raw:
        if not any(all(a <= b for a, b in zip(k.gpus, m.gpus, strict=True)) for k in kept):
            kept.append(m)
    return kept


def add_mix_choice(prob: IntegerProgram, mixes: list[list[Mix]]) -> list[list[int]]:
    """z_wm: each workload takes exactly one of its mixes."""
    z = []
    for w, options in enumerate(mixes):
        z.append([prob.add_var(f"mix[{w},{m}]", 0, 1) for m in range(len(options))])
        prob.add_constraint({v: 1 for v in z[-1]}, lo=1, hi=1, family="choice", name=f"mix[{w}]")
    return z


def add_mix_inventory(
    prob: IntegerProgram,
    problem: FleetProblem,
    mixes: list[list[Mix]],
    z: list[list[int]],
    scarce: Sequence[str],
) -> None:
    """The mixes' GPUs on each scarce pool stay within its inventory."""
    for k, h in enumerate(scarce):
        terms = {
            z[w][m]: mix.gpus[k]
            for w, options in enumerate(mixes)
            for m, mix in enumerate(options)
            if mix.gpus[k]
        }
        inventory = problem.pool(h).inventory_gpus
        assert inventory is not None
        prob.add_constraint(terms, hi=inventory, family="inventory", name=f"inventory[{h}]")


def build_mix_program(
    problem: FleetProblem, mixes: list[list[Mix]], scarce: Sequence[str]
) -> tuple[IntegerProgram, list[list[int]]]:
    """The fleet program in mix form (min cost units); `z[w][m]` indexes the variables."""
    prob = IntegerProgram("fleet_mixes", maximize=False)
    z = add_mix_choice(prob, mixes)
    add_mix_inventory(prob, problem, mixes, z, scarce)
    prob.set_objective(
        {
            z[w][m]: mix.cost_units
            for w, options in enumerate(mixes)
            for m, mix in enumerate(options)
        }
    )
    return prob, z


def fleet_mixes(problem: FleetProblem) -> tuple[list[list[Mix]], list[str]] | None:
    """Every workload's undominated mixes and the scarce pools, or None when not applicable.

    None when a candidate spans two pools (attention and FFN on different
    hardware) or a workload has too many level combinations; the replica
    formulation then solves the fleet.
    """
    if any(len(c.gpus) != 1 for c in problem.candidates):
        return None
    members: list[list[int]] = [[] for _ in problem.demands]
    for i, c in enumerate(problem.candidates):
        members[c.workload].append(i)
    levels = [workload_levels(problem, m) for m in members]
    scarce = scarce_pools(problem, levels)
    mixes = []
    for w, by_pool in enumerate(levels):
        options = workload_mixes(problem, by_pool, scarce, problem.demands[w])
        if options is None:
            return None
        mixes.append(options)
    return mixes, scarce


def mix_replicas(problem: FleetProblem, mixes: list[list[Mix]], picks: Sequence[int]) -> list[int]:
    """Replicas per candidate of the chosen mixes (`picks[w]`: the mix of workload w)."""
    out = [0] * len(problem.candidates)
    for w, m in enumerate(picks):
        for i, x in mixes[w][m].replicas:
            out[i] += x
    return out


def mix_cost_matches(problem: FleetProblem, mix: Mix) -> bool:
    """The mix's cost units equal its replicas' (a consistency check for tests)."""
    return mix.cost_units == sum(
        cost_units(problem, problem.candidates[i]) * x for i, x in mix.replicas
    )
