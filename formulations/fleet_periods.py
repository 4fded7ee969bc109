"""The fleet program over demand periods: replicas per candidate and period (docs/model.md §18.6).

Input: the one-period fleet (`formulations.fleet.FleetProblem`, whose demands
are each workload's largest, so its candidates cover every period) and the
demand D_{w,t} of every workload in every period t. Decision: integer replicas
x_{c,t} of every candidate in every period (replicas may move between periods),
and with the `peak` price model the GPUs y_h bought of every hardware:

    peak:        min sum_h p_h y_h
                 y_h >= sum_c G_{c,h} x_{c,t}              for every h, t
                 y_h <= I_h                                for every finite inventory
    per_period:  min sum_t sum_c cost_c x_{c,t}           (times the period's hours)
                 sum_c G_{c,h} x_{c,t} <= I_h              for every finite h, t
    both:        sum_{c of w} min(t_c, D_{w,t}) x_{c,t} >= D_{w,t}   for every w, t
                 0 <= x_{c,t} <= ceil(D_{w,t} / t_c), integer

The coefficients are `formulations.fleet`'s integer units (`served_units`,
`demand_units`, prices in `COST_UNITS_PER_DOLLAR`), so every backend solves
the same model; the bounds on x are valid for the same reason as in §18.2.
Among plans of equal cost the one with the fewest GPUs in use summed over the
periods wins: a second program fixes the cost at the optimum and minimises them
(`set_gpu_objective`). With `elastic`, each finite inventory gets a shortage
s_h (GPUs missing at the worst period) added to its rows, as in §18.4.

One period with the `peak` model is §18.2's program with y_h = the GPUs used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from formulations.fleet import (
    Candidate,
    FleetProblem,
    cost_units,
    demand_units,
    served_units,
)
from formulations.program import IntegerProgram

PRICE_MODELS = ("peak", "per_period")


@dataclass(frozen=True)
class PeriodProblem:
    """A fleet whose demands change over periods of equal length."""

    fleet: FleetProblem
    """Pools and candidates; its demands are each workload's largest over the periods."""
    demands: tuple[tuple[float, ...], ...]
    """demands[t][w]: tokens/s of workload w in period t."""
    price_model: str = "peak"
    period_hours: float = 1.0

    @property
    def periods(self) -> int:
        return len(self.demands)

    def restrict(self, keep: Sequence[int]) -> PeriodProblem:
        return PeriodProblem(
            self.fleet.restrict(keep), self.demands, self.price_model, self.period_hours
        )

    def with_inventory(self, hardware: str, inventory_gpus: int | None) -> PeriodProblem:
        return PeriodProblem(
            self.fleet.with_inventory(hardware, inventory_gpus),
            self.demands,
            self.price_model,
            self.period_hours,
        )


@dataclass(frozen=True)
class PeriodHandles:
    """replicas[t][i]: x of candidate i in period t; bought[h]: y_h (peak); shortage[h]: s_h."""

    replicas: list[list[int]]
    bought: dict[str, int] = field(default_factory=dict)
    shortage: dict[str, int] = field(default_factory=dict)


def max_replicas(problem: PeriodProblem, c: Candidate, t: int, inventory: bool = True) -> int:
    """ceil(D_{w,t} / t_c), and (with `inventory`) no more than every finite inventory holds."""
    demand = problem.demands[t][c.workload]
    served = served_units(c, demand)
    if served <= 0:
        return 0
    cap = math.ceil(demand_units(demand) / served)
    for h, n in c.gpus if inventory else ():
        held = problem.fleet.pool(h).inventory_gpus
        if held is not None and n > 0:
            cap = min(cap, held // n)
    return cap


def prune(problem: PeriodProblem) -> list[int]:
    """Positions of candidates worth keeping under either price model.

    A candidate goes when another of its workload serves at least as much at the
    largest demand (hence at every smaller one: min(t, D) keeps the order) with no
    more GPUs of every hardware (ties keep the first). Swapping it for that one in
    any period never raises a period's GPUs of any hardware, so never the cost of
    either model; dominance by price alone (§18.3) is not valid under `peak`,
    where GPUs of a hardware not at its peak cost nothing.
    """
    fleet = problem.fleet
    by_workload: dict[int, list[int]] = {}
    for i, c in enumerate(fleet.candidates):
        by_workload.setdefault(c.workload, []).append(i)
    served = [served_units(c, fleet.demands[c.workload]) for c in fleet.candidates]
    keep = [
        i
        for members in by_workload.values()
        for i in members
        if not any(_beats(fleet, served, j, i) for j in members if j != i)
    ]
    return sorted(keep)


def _beats(fleet: FleetProblem, served: list[int], j: int, i: int) -> bool:
    """Candidate j serves at least what i does with no more GPUs of any hardware (a tie: j < i)."""
    c, d = fleet.candidates[i], fleet.candidates[j]
    hardware = {h for h, _ in c.gpus}
    if served[j] < served[i] or not {h for h, _ in d.gpus} <= hardware:
        return False
    if any(d.gpus_on(h) > c.gpus_on(h) for h in hardware):
        return False
    strictly = served[j] > served[i] or any(d.gpus_on(h) < c.gpus_on(h) for h in hardware)
    return strictly or j < i


def add_replicas(prob: IntegerProgram, problem: PeriodProblem, inventory: bool) -> list[list[int]]:
    return [
        [
            prob.add_var(f"replicas[{i},{t}]", 0, max_replicas(problem, c, t, inventory))
            for i, c in enumerate(problem.fleet.candidates)
        ]
        for t in range(problem.periods)
    ]


def add_demand(prob: IntegerProgram, problem: PeriodProblem, x: list[list[int]]) -> None:
    """Every workload's replicas of a period serve at least its demand of that period."""
    for t, demands in enumerate(problem.demands):
        terms: list[dict[int, float]] = [{} for _ in demands]
        for i, c in enumerate(problem.fleet.candidates):
            terms[c.workload][x[t][i]] = served_units(c, demands[c.workload])
        for w, demand in enumerate(demands):
            prob.add_constraint(
                terms[w], lo=demand_units(demand), family="demand", name=f"demand[{w},{t}]"
            )


def _need(problem: PeriodProblem, hardware: str) -> int:
    """The most GPUs of `hardware` any period could use (ignoring inventories)."""
    return max(
        sum(
            max_replicas(problem, c, t, inventory=False) * c.gpus_on(hardware)
            for c in problem.fleet.candidates
        )
        for t in range(problem.periods)
    )


def add_capacity(
    prob: IntegerProgram, problem: PeriodProblem, x: list[list[int]], elastic: bool
) -> tuple[dict[str, int], dict[str, int]]:
    """y_h (peak model) and s_h (elastic), and the rows tying each period's GPUs to them."""
    bought: dict[str, int] = {}
    shortage: dict[str, int] = {}
    for p in problem.fleet.pools:
        need = _need(problem, p.hardware)
        inventory = p.inventory_gpus
        if elastic and inventory is not None:
            shortage[p.hardware] = prob.add_var(f"shortage[{p.hardware}]", 0, need)
        if problem.price_model == "peak":
            hi = need if inventory is None or elastic else min(need, inventory)
            y = bought[p.hardware] = prob.add_var(f"bought[{p.hardware}]", 0, hi)
            if inventory is not None and elastic:  # y_h - s_h <= I_h
                prob.add_constraint(
                    {y: 1, shortage[p.hardware]: -1},
                    hi=inventory,
                    family="inventory",
                    name=f"inventory[{p.hardware}]",
                )
        for t in range(problem.periods):
            terms: dict[int, float] = {
                x[t][i]: c.gpus_on(p.hardware)
                for i, c in enumerate(problem.fleet.candidates)
                if c.gpus_on(p.hardware)
            }
            if not terms:
                continue
            if p.hardware in bought:  # sum_c G x_{c,t} - y_h <= 0
                terms[bought[p.hardware]] = -1
                prob.add_constraint(terms, hi=0, family="peak", name=f"peak[{p.hardware},{t}]")
            elif inventory is not None:
                if p.hardware in shortage:
                    terms[shortage[p.hardware]] = -1
                prob.add_constraint(
                    terms, hi=inventory, family="inventory", name=f"inventory[{p.hardware},{t}]"
                )
    return bought, shortage


def cost_terms(problem: PeriodProblem, handles: PeriodHandles) -> dict[int, float]:
    """The objective in cost units: per hour of the peak (peak), or summed over periods."""
    if problem.price_model == "peak":
        return {y: problem.fleet.pool(h).price_units for h, y in handles.bought.items()}
    return {
        handles.replicas[t][i]: cost_units(problem.fleet, c)
        for t in range(problem.periods)
        for i, c in enumerate(problem.fleet.candidates)
    }


def gpu_terms(problem: PeriodProblem, handles: PeriodHandles) -> dict[int, float]:
    """GPUs in use summed over the periods (the tie-break among plans of equal cost)."""
    return {
        handles.replicas[t][i]: c.total_gpus
        for t in range(problem.periods)
        for i, c in enumerate(problem.fleet.candidates)
    }


def period_fleet(problem: PeriodProblem, t: int) -> FleetProblem:
    """Period t alone as §18.2's fleet (its demands, the same pools and candidates)."""
    return replace(problem.fleet, demands=problem.demands[t])


def one_period(problem: PeriodProblem, t: int, price_model: str | None = None) -> PeriodProblem:
    """Period t alone, as a problem of one period."""
    model = price_model or problem.price_model
    return PeriodProblem(problem.fleet, (problem.demands[t],), model, problem.period_hours)


def add_cover_bounds(
    prob: IntegerProgram,
    problem: PeriodProblem,
    x: list[list[int]],
    bounds: Sequence[Sequence[int]],
) -> None:
    """Each workload's replicas of a period cost at least its cheapest cover of that period
    (`bounds[t][w]`, `fleet_pruning.cover_optimum`): valid, and they lift the LP bound to the
    busiest period's sum of covers (§18.6)."""
    for t, period in enumerate(bounds):
        terms: list[dict[int, float]] = [{} for _ in period]
        for i, c in enumerate(problem.fleet.candidates):
            terms[c.workload][x[t][i]] = cost_units(problem.fleet, c)
        for w, bound in enumerate(period):
            if bound > 0 and terms[w]:
                prob.add_constraint(
                    terms[w], lo=bound, family="workload_bound", name=f"workload_bound[{w},{t}]"
                )


def build_period_program(
    problem: PeriodProblem,
    *,
    elastic: bool = False,
    shortage_cap: int | None = None,
    cost_cap_units: int | None = None,
    fewest_gpus: bool = False,
    bounds: Sequence[Sequence[int]] | None = None,
) -> tuple[IntegerProgram, PeriodHandles]:
    """The multi-period fleet program.

    Args:
        elastic: shortage variables on the inventory rows; minimise the missing GPUs
            unless `shortage_cap` is given.
        shortage_cap: with `elastic`, at most this many missing GPUs; minimise the cost.
        cost_cap_units: cost at most this (the optimum): minimise the GPUs in use instead.
        fewest_gpus: minimise the GPUs in use (within the inventories) instead of the cost.
        bounds: per period and workload, cost lower bounds in cost units.
    """
    prob = IntegerProgram("fleet_periods", maximize=False)
    x = add_replicas(prob, problem, inventory=not elastic)
    add_demand(prob, problem, x)
    bought, shortage = add_capacity(prob, problem, x, elastic)
    handles = PeriodHandles(x, bought, shortage)
    if bounds is not None:
        add_cover_bounds(prob, problem, x, bounds)
    if elastic and shortage_cap is not None:
        prob.add_constraint(
            {s: 1 for s in shortage.values()}, hi=shortage_cap, family="shortage", name="cap"
        )
    if elastic and shortage_cap is None:
        prob.set_objective({s: 1 for s in shortage.values()})
    elif cost_cap_units is not None or fewest_gpus:
        if cost_cap_units is not None:
            prob.add_constraint(
                cost_terms(problem, handles), hi=cost_cap_units, family="cost", name="cost_cap"
            )
        prob.set_objective(gpu_terms(problem, handles))
    else:
        prob.set_objective(cost_terms(problem, handles))
    return prob, handles


def read_replicas(handles: PeriodHandles, values: Sequence[float]) -> list[list[int]]:
    return [[round(values[v]) for v in period] for period in handles.replicas]


def read_shortage(handles: PeriodHandles, values: Sequence[float]) -> dict[str, int]:
    return {h: round(values[v]) for h, v in handles.shortage.items()}


# ---- independent checks and costs of a plan (from the real prices and throughputs) -------------


def usage(problem: PeriodProblem, replicas: Sequence[Sequence[int]]) -> list[dict[str, int]]:
    """GPUs of every hardware in use in every period."""
    out = []
    for xs in replicas:
        used = {p.hardware: 0 for p in problem.fleet.pools}
        for c, x in zip(problem.fleet.candidates, xs, strict=True):
            for h, n in c.gpus:
                used[h] += x * n
        out.append(used)
    return out


def peak_gpus(problem: PeriodProblem, replicas: Sequence[Sequence[int]]) -> dict[str, int]:
    """The most GPUs of every hardware in use at any period."""
    periods = usage(problem, replicas)
    return {p.hardware: max(u[p.hardware] for u in periods) for p in problem.fleet.pools}


def hardware_cost_per_hour(
    problem: PeriodProblem, replicas: Sequence[Sequence[int]]
) -> dict[str, float]:
    """$/h per hardware: its peak GPUs (peak), or its GPUs averaged over the periods."""
    periods = usage(problem, replicas)
    out = {}
    for p in problem.fleet.pools:
        used = [u[p.hardware] for u in periods]
        gpus = max(used) if problem.price_model == "peak" else sum(used) / len(used)
        out[p.hardware] = gpus * p.price_per_gpu_hour
    return out


def cost_per_hour(problem: PeriodProblem, replicas: Sequence[Sequence[int]]) -> float:
    """The fleet's $/h: of the hardware at its peak, or averaged over the horizon."""
    return sum(hardware_cost_per_hour(problem, replicas).values())


def horizon_cost(problem: PeriodProblem, replicas: Sequence[Sequence[int]]) -> float:
    """$ over all periods: the $/h times the horizon's hours, under either model."""
    return cost_per_hour(problem, replicas) * problem.periods * problem.period_hours


def check_plan(
    problem: PeriodProblem,
    replicas: Sequence[Sequence[int]],
    shortage: dict[str, int] | None = None,
) -> list[str]:
    """Rules the plan breaks in any period (demand met, inventory kept)."""
    bad = []
    for t, (xs, used) in enumerate(zip(replicas, usage(problem, replicas), strict=True)):
        served = [0.0] * len(problem.demands[t])
        for c, x in zip(problem.fleet.candidates, xs, strict=True):
            served[c.workload] += x * c.tokens_per_s
        for w, (s, d) in enumerate(zip(served, problem.demands[t], strict=True)):
            if s < d - 1e-6 * max(1.0, d):
                bad.append(f"demand[{w},{t}]: serves {s:,.0f} of {d:,.0f} tokens/s")
        for h, n in used.items():
            inventory = problem.fleet.pool(h).inventory_gpus
            if inventory is not None and n > inventory + (shortage or {}).get(h, 0):
                bad.append(f"inventory[{h},{t}]: uses {n} of {inventory} GPUs")
    return bad
