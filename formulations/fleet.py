"""The fleet-sizing integer program: which deployments, how many replicas, on which hardware.

Input: for every workload w its demand D_w (tokens/s), a set of candidate
deployments c (each uses `gpus[c, h]` GPUs of hardware h per replica and
serves `t_c` tokens/s at the workload's TPOT target), and for every hardware
h a price per GPU-hour and an optional inventory. Decision: an integer
replica count x_c per candidate. The program is

    min  sum_c cost_c x_c                           cost_c = sum_h price_h gpus[c, h]
    s.t. sum_{c of w} min(t_c, D_w) x_c >= D_w      for every workload w  (demand)
         sum_c gpus[c, h] x_c <= inventory_h        for every finite inventory h
         0 <= x_c <= ceil(D_w / t_c), x_c integer

Exact given the candidates: a plan is any multiset of candidate replicas, and
the program ranges over all of them. Two reformulations keep the optimum and
tighten the LP relaxation: a replica that alone covers the demand counts as
exactly the demand (`min(t_c, D_w)`: one such replica is enough and two are
never cheaper), and more than ceil(D_w / t_c) replicas of one candidate are
never optimal (one of them can go, and every replica costs money).

Every coefficient is an integer, so HiGHS, CBC and CP-SAT solve the very same
model: throughput counts in whole tokens/s rounded down (a plan that meets the
rounded demand meets the real one), demands are rounded up, and prices are
counted in `COST_UNITS_PER_DOLLAR` units (1/100 of a cent per GPU-hour).

`formulations.fleet_pruning` removes candidates that can never be needed and
finds each workload's cheapest cover (a lower bound, `add_workload_bounds`);
`formulations.fleet_mixes` states the same program in mix form, whose LP is
much tighter when inventories bind. With `elastic`, every finite
inventory gets a shortage variable, the program minimises the GPUs missing in
all, and `shortage_cap` turns that minimum into a row so a second solve finds
the cheapest plan with the fewest missing GPUs (deliverable: what to buy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from formulations.program import IntegerProgram

COST_UNITS_PER_DOLLAR = 10_000
"""Integer cost units per dollar: prices resolve to 1/100 of a cent per GPU-hour."""


@dataclass(frozen=True)
class Pool:
    """One hardware type a fleet may buy: its price and how many GPUs exist (None: no limit)."""

    hardware: str
    price_per_gpu_hour: float
    inventory_gpus: int | None = None

    @property
    def price_units(self) -> int:
        """Price per GPU-hour in integer cost units."""
        return round(self.price_per_gpu_hour * COST_UNITS_PER_DOLLAR)


@dataclass(frozen=True)
class Candidate:
    """One deployment a workload may buy replicas of.

    `gpus` lists (hardware, GPUs per replica) for every pool the deployment
    uses: one entry today, two when attention and FFN run on different
    hardware.
    """

    workload: int
    tokens_per_s: float
    gpus: tuple[tuple[str, int], ...]
    architecture: str = ""

    def gpus_on(self, hardware: str) -> int:
        return sum(n for h, n in self.gpus if h == hardware)

    @property
    def total_gpus(self) -> int:
        return sum(n for _, n in self.gpus)


@dataclass(frozen=True)
class FleetProblem:
    """Demands, hardware pools and candidate deployments of one fleet."""

    demands: tuple[float, ...]
    pools: tuple[Pool, ...]
    candidates: tuple[Candidate, ...]

    def pool(self, hardware: str) -> Pool:
        for p in self.pools:
            if p.hardware == hardware:
                return p
        raise KeyError(hardware)

    def restrict(self, keep: Sequence[int]) -> FleetProblem:
        """The same fleet with only the candidates at positions `keep`."""
        return replace(self, candidates=tuple(self.candidates[i] for i in keep))

    def with_inventory(self, hardware: str, inventory_gpus: int | None) -> FleetProblem:
        pools = tuple(
            replace(p, inventory_gpus=inventory_gpus) if p.hardware == hardware else p
            for p in self.pools
        )
        return replace(self, pools=pools)


@dataclass(frozen=True)
class FleetHandles:
    """Where the decisions live: one replica count per candidate, shortages per hardware."""

    replicas: list[int]
    shortage: dict[str, int] = field(default_factory=dict)


# ---- integer coefficients (shared by the program, pruning and checks) -------------------------


# Throughputs come from float arithmetic (120000 tokens/s may arrive as 119999.99999999999):
# rounding forgives that much, and no more.
_ROUNDING_SLACK = 1e-9


def demand_units(demand: float) -> int:
    """The demand in whole tokens/s, rounded up."""
    return max(1, math.ceil(demand * (1 - _ROUNDING_SLACK)))


def served_units(c: Candidate, demand: float) -> int:
    """What one replica counts towards its workload's demand row: min(floor(t_c), D_w)."""
    return min(math.floor(c.tokens_per_s * (1 + _ROUNDING_SLACK)), demand_units(demand))


def cost_units(problem: FleetProblem, c: Candidate) -> int:
    """Price per hour of one replica in integer cost units."""
    return sum(problem.pool(h).price_units * n for h, n in c.gpus)


def max_replicas(problem: FleetProblem, c: Candidate, inventory: bool = True) -> int:
    """ceil(D_w / t_c), and (with `inventory`) no more than every finite inventory holds."""
    served = served_units(c, problem.demands[c.workload])
    if served <= 0:
        return 0
    cap = math.ceil(demand_units(problem.demands[c.workload]) / served)
    for h, n in c.gpus if inventory else ():
        held = problem.pool(h).inventory_gpus
        if held is not None and n > 0:
            cap = min(cap, held // n)
    return cap


# ---- constraint families -------------------------------------------------------------------


def add_replicas(prob: IntegerProgram, problem: FleetProblem, inventory: bool = True) -> list[int]:
    """x_c: whole replicas of each candidate, within its valid upper bound."""
    return [
        prob.add_var(f"replicas[{i}]", 0, max_replicas(problem, c, inventory))
        for i, c in enumerate(problem.candidates)
    ]


def add_demand(prob: IntegerProgram, problem: FleetProblem, x: list[int]) -> None:
    """Every workload's replicas serve at least its demand (tokens/s)."""
    terms: list[dict[int, float]] = [{} for _ in problem.demands]
    for i, c in enumerate(problem.candidates):
        terms[c.workload][x[i]] = served_units(c, problem.demands[c.workload])
    for w, demand in enumerate(problem.demands):
        prob.add_constraint(terms[w], lo=demand_units(demand), family="demand", name=f"demand[{w}]")


def add_shortage(prob: IntegerProgram, problem: FleetProblem) -> dict[str, int]:
    """Elastic inventories: s_h >= 0 GPUs bought beyond the inventory of each finite pool."""
    out: dict[str, int] = {}
    for p in problem.pools:
        if p.inventory_gpus is not None:
            need = sum(
                max_replicas(problem, c, inventory=False) * c.gpus_on(p.hardware)
                for c in problem.candidates
            )
            out[p.hardware] = prob.add_var(f"shortage[{p.hardware}]", 0, max(0, need))
    return out


def add_inventory(
    prob: IntegerProgram,
    problem: FleetProblem,
    x: list[int],
    shortage: dict[str, int] | None = None,
) -> None:
    """GPUs used on each hardware stay within its inventory (plus the shortage, if elastic)."""
    for p in problem.pools:
        if p.inventory_gpus is None:
            continue
        terms: dict[int, float] = {}
        for i, c in enumerate(problem.candidates):
            n = c.gpus_on(p.hardware)
            if n:
                terms[x[i]] = n
        if shortage and p.hardware in shortage:
            terms[shortage[p.hardware]] = -1
        prob.add_constraint(
            terms, hi=p.inventory_gpus, family="inventory", name=f"inventory[{p.hardware}]"
        )


def add_workload_bounds(
    prob: IntegerProgram, problem: FleetProblem, x: list[int], bounds: Sequence[int]
) -> None:
    """Each workload's replicas cost at least `bounds[w]` (its cheapest cover, `cover_optimum`).

    Valid because the fleet restricted to one workload is a cover of its
    demand; redundant for the integer optimum, but it lifts the LP bound to the
    sum of the workloads' own optima, which the inventories can only raise.
    """
    terms: list[dict[int, float]] = [{} for _ in problem.demands]
    for i, c in enumerate(problem.candidates):
        terms[c.workload][x[i]] = cost_units(problem, c)
    for w, bound in enumerate(bounds):
        if bound > 0 and terms[w]:
            prob.add_constraint(
                terms[w], lo=bound, family="workload_bound", name=f"workload_bound[{w}]"
            )


def add_shortage_cap(prob: IntegerProgram, shortage: dict[str, int], total_gpus: int) -> None:
    """At most `total_gpus` missing GPUs in all (the elastic minimum, fixed for a second solve)."""
    prob.add_constraint(
        {s: 1 for s in shortage.values()}, hi=total_gpus, family="shortage", name="shortage_cap"
    )


def set_cost_objective(prob: IntegerProgram, problem: FleetProblem, x: list[int]) -> None:
    """Minimise the fleet's price per hour (integer cost units)."""
    prob.maximize = False
    prob.set_objective({x[i]: cost_units(problem, c) for i, c in enumerate(problem.candidates)})


def set_shortage_objective(prob: IntegerProgram, shortage: dict[str, int]) -> None:
    """Minimise the GPUs missing over all hardware."""
    prob.maximize = False
    prob.set_objective({s: 1 for s in shortage.values()})


def build_fleet_program(
    problem: FleetProblem,
    *,
    bounds: Sequence[int] | None = None,
    elastic: bool = False,
    shortage_cap: int | None = None,
) -> tuple[IntegerProgram, FleetHandles]:
    """The fleet program: min cost (or, elastic, min missing GPUs) subject to demand and inventory.

    Args:
        problem: demands, pools and candidates.
        bounds: per-workload cost lower bounds in cost units (`add_workload_bounds`).
        elastic: add shortage variables to the inventory rows.
        shortage_cap: with `elastic`, cap the missing GPUs and minimise the cost instead.
    """
    prob = IntegerProgram("fleet_elastic" if elastic else "fleet", maximize=False)
    x = add_replicas(prob, problem, inventory=not elastic)
    add_demand(prob, problem, x)
    shortage = add_shortage(prob, problem) if elastic else {}
    add_inventory(prob, problem, x, shortage)
    if bounds is not None:
        add_workload_bounds(prob, problem, x, bounds)
    if elastic and shortage_cap is None:
        set_shortage_objective(prob, shortage)
    else:
        if elastic and shortage_cap is not None:
            add_shortage_cap(prob, shortage, shortage_cap)
        set_cost_objective(prob, problem, x)
    return prob, FleetHandles(x, shortage)


def read_replicas(handles: FleetHandles, values: Sequence[float]) -> list[int]:
    return [round(values[i]) for i in handles.replicas]


def read_shortage(handles: FleetHandles, values: Sequence[float]) -> dict[str, int]:
    return {h: round(values[i]) for h, i in handles.shortage.items()}


# ---- independent checks of a plan ------------------------------------------------------------


def plan_cost(problem: FleetProblem, replicas: Sequence[int]) -> float:
    """Price per hour of a plan in dollars (from the real prices, not the integer units)."""
    return sum(
        x * sum(problem.pool(h).price_per_gpu_hour * n for h, n in c.gpus)
        for c, x in zip(problem.candidates, replicas, strict=True)
    )


def gpus_used(problem: FleetProblem, replicas: Sequence[int]) -> dict[str, int]:
    used = {p.hardware: 0 for p in problem.pools}
    for c, x in zip(problem.candidates, replicas, strict=True):
        for h, n in c.gpus:
            used[h] += x * n
    return used


def check_plan(
    problem: FleetProblem, replicas: Sequence[int], shortage: dict[str, int] | None = None
) -> list[str]:
    """Rules a plan breaks, recomputed from the real throughputs (demand met, inventory kept)."""
    served = [0.0] * len(problem.demands)
    for c, x in zip(problem.candidates, replicas, strict=True):
        if x < 0:
            return [f"negative replicas of a candidate of workload {c.workload}"]
        served[c.workload] += x * c.tokens_per_s
    bad = [
        f"demand[{w}]: serves {s:,.0f} of {d:,.0f} tokens/s"
        for w, (s, d) in enumerate(zip(served, problem.demands, strict=True))
        if s < d - 1e-6 * max(1.0, d)
    ]
    for h, used in gpus_used(problem, replicas).items():
        inventory = problem.pool(h).inventory_gpus
        extra = (shortage or {}).get(h, 0)
        if inventory is not None and used > inventory + extra:
            bad.append(f"inventory[{h}]: uses {used} of {inventory} GPUs")
    return bad
