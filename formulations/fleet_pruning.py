"""Exact reductions of the fleet program: dominance pruning and each workload's cheapest cover.

Both keep the fleet optimum: a pruned candidate is never needed (a plan using
it turns into one at least as cheap without it), and a workload's cheapest
cover ignoring inventories is a lower bound on what it costs in any plan
(`formulations.fleet.add_workload_bounds`), and the optimum when the covers
together fit every inventory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

import numpy as np

from formulations.deadline import Check, given
from formulations.fleet import (
    FleetProblem,
    cost_units,
    demand_units,
    max_replicas,
    served_units,
)

# ---- exact dominance pruning ------------------------------------------------------------------


def _pairwise_dominated(problem: FleetProblem, members: list[int]) -> list[int]:
    """The members of one workload that no other member dominates.

    a dominates b when replacing a replica of b by one of a keeps every plan
    feasible and no dearer: a covers at least as much of the demand, costs no
    more and uses no more GPUs of any hardware whose inventory is finite.
    Identical candidates dominate each other; the first one stays.
    """
    cands = [problem.candidates[i] for i in members]
    demand = problem.demands[cands[0].workload]
    finite = [p.hardware for p in problem.pools if p.inventory_gpus is not None]
    served = np.array([served_units(c, demand) for c in cands], dtype=np.int64)
    cost = np.array([cost_units(problem, c) for c in cands], dtype=np.int64)
    gpus = np.array([[c.gpus_on(h) for h in finite] for c in cands], dtype=np.int64)
    gpus = gpus.reshape(len(cands), len(finite))
    # dom[a, b]: a dominates b.
    dom = (served[:, None] >= served[None, :]) & (cost[:, None] <= cost[None, :])
    dom &= np.all(gpus[:, None, :] <= gpus[None, :, :], axis=2)
    np.fill_diagonal(dom, False)
    mutual = dom & dom.T
    order = np.arange(len(cands))
    # b is beaten by a strict dominator, or by an identical candidate listed before it.
    beaten = np.any(dom & ~mutual, axis=0) | np.any(
        mutual & (order[:, None] < order[None, :]), axis=0
    )
    return [i for i, b in zip(members, beaten, strict=True) if not b]


def _combination_dominated(problem: FleetProblem, keep: list[int]) -> list[int]:
    """Drop single-pool candidates that replicas of smaller kept ones on the same pool beat.

    Processed by increasing GPUs, with an unbounded-knapsack table best[G] of the
    most demand a combination of kept candidates covers with at most G GPUs; a
    candidate is dropped when best[its GPUs] (from strictly smaller candidates)
    already covers what it covers. Same pool means same price, so the
    combination costs no more and uses no more inventory.
    """
    by_pool: dict[tuple[int, str], list[int]] = {}
    out = []
    for i in keep:
        c = problem.candidates[i]
        if len(c.gpus) == 1:
            by_pool.setdefault((c.workload, c.gpus[0][0]), []).append(i)
        else:
            out.append(i)
    for (w, _), members in by_pool.items():
        demand = problem.demands[w]
        sizes = [problem.candidates[i].total_gpus for i in members]
        step = reduce(math.gcd, sizes)
        top = max(sizes) // step
        best = [0] * (top + 1)
        members.sort(key=lambda i: (problem.candidates[i].total_gpus, i))
        pending: list[tuple[int, int]] = []  # kept at the current size, added to best after it
        size_now = 0
        for i in members:
            c = problem.candidates[i]
            size, served = c.total_gpus // step, served_units(c, demand)
            if size != size_now:
                for k, v in pending:
                    for g in range(k, top + 1):
                        best[g] = max(best[g], best[g - k] + v)
                pending, size_now = [], size
            if best[size] >= served:
                continue
            pending.append((size, served))
            out.append(i)
    return sorted(out)


def prune(problem: FleetProblem) -> list[int]:
    """Positions of the candidates worth keeping; the optimum of the fleet program is unchanged.

    A candidate goes when another one of its workload dominates it (covers at
    least as much of the demand, costs no more, and uses no more GPUs of any
    hardware whose inventory is finite; ties keep the first), or when replicas
    of smaller candidates on the same single pool cover at least as much with
    no more GPUs. Any plan using a dropped candidate turns into one at least as
    cheap without it, so the optimum (and feasibility) never change.
    """
    by_workload: dict[int, list[int]] = {}
    for i, c in enumerate(problem.candidates):
        by_workload.setdefault(c.workload, []).append(i)
    keep = [i for members in by_workload.values() for i in _pairwise_dominated(problem, members)]
    return _combination_dominated(problem, sorted(keep))


# ---- one workload alone (the relaxation without inventories) ---------------------------------


@dataclass(frozen=True)
class Cover:
    """The cheapest replicas that cover one workload's demand, ignoring inventories."""

    cost_units: int
    replicas: dict[int, int]
    """Candidate position -> replicas (only positive counts)."""


def cover_optimum(
    problem: FleetProblem, members: Sequence[int], check: Check | None = None
) -> Cover | None:
    """Exact cheapest cover of one workload's demand by its candidates `members`, or None.

    A depth-first branch and bound over the replica counts, items in order of
    cost per covered token; the bound is the continuous cover of what remains
    (greedy by that ratio, optimal for a continuous bounded knapsack), and a
    node is cut once its bound can no longer beat the incumbent by one cost
    unit (costs are integers). Inventories are ignored, so the sum of these
    optima over the workloads bounds the fleet's cost from below, and it is the
    fleet's optimum whenever the union of the covers fits every inventory. The search can grow
    exponentially with the demand (replica counts per candidate): `check` is called at every
    node (it raises `deadline.Expired`; the caller then goes without the shortcut).
    """
    check = given(check)
    if not members:
        return None
    demand = demand_units(problem.demands[problem.candidates[members[0]].workload])
    items = []
    for i in members:
        c = problem.candidates[i]
        served = served_units(c, problem.demands[c.workload])
        cap = max_replicas(problem, c, inventory=False)
        if served > 0 and cap > 0:
            items.append((cost_units(problem, c) / served, served, cost_units(problem, c), cap, i))
    if not items:
        return None
    items.sort()
    n = len(items)
    best_cost = math.inf
    best: list[int] = []
    counts = [0] * n

    def bound(k: int, rest: int) -> float:
        """Cheapest continuous cover of `rest` by items k.. (inf if they cannot cover it)."""
        total = 0.0
        for ratio, served, _, cap, _ in items[k:]:
            if rest <= 0:
                return total
            take = min(cap * served, rest)
            total += ratio * take
            rest -= take
        return total if rest <= 0 else math.inf

    def search(k: int, rest: int, cost: int) -> None:
        nonlocal best_cost, best
        check()
        if rest <= 0:
            if cost < best_cost:
                best_cost, best = cost, counts[:]
            return
        if k == n or cost + bound(k, rest) > best_cost - 1 + 1e-9:
            return
        _, served, unit_cost, cap, _ = items[k]
        for m in range(min(cap, -(-rest // served)), -1, -1):
            counts[k] = m
            search(k + 1, rest - m * served, cost + m * unit_cost)
        counts[k] = 0

    search(0, demand, 0)
    if not best:
        return None
    return Cover(int(best_cost), {items[k][4]: m for k, m in enumerate(best) if m > 0})
