"""Demand over time (docs/model.md §18.6): the multi-period fleet program against brute force.

The oracle below is written apart from formulations/fleet_periods.py: it enumerates every
replica count of every candidate in every period (up to the largest demand over a replica's
throughput, plus one), keeps the GPU use per hardware of each period's covering plans, and
prices every combination of periods under the price model.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest

from formulations.fleet import Candidate, FleetProblem, Pool
from formulations.fleet_periods import (
    PeriodProblem,
    check_plan,
    cost_per_hour,
    peak_gpus,
    usage,
)
from solver.sizing.period_solve import solve_period_shortage, solve_periods
from solver.sizing.solve import solve_fleet

HARDWARE = ("h800", "h20")


def random_periods(seed: int, price_model: str) -> PeriodProblem:
    rng = random.Random(seed)
    pools = tuple(
        Pool(h, rng.choice((1.0, 1.25, 2.0, 2.75)), rng.choice((None, 16, 24, 32)))
        for h in HARDWARE
    )
    n_workloads = rng.choice((1, 2))
    n_periods = rng.choice((2, 3))
    demands = tuple(
        tuple(float(rng.randrange(300, 2500)) for _ in range(n_workloads)) for _ in range(n_periods)
    )
    candidates = []
    for w in range(n_workloads):
        for _ in range(rng.randrange(2, 4)):
            gpus = 8 * rng.randrange(1, 3)
            split: tuple[tuple[str, int], ...] = ((rng.choice(HARDWARE), gpus),)
            if rng.random() < 0.3:  # an AFD deployment with its pools on both hardware
                split = ((HARDWARE[0], 8), (HARDWARE[1], gpus))
            total = sum(n for _, n in split)
            candidates.append(Candidate(w, float(total * rng.randrange(40, 120)), split))
    peak = tuple(max(d[w] for d in demands) for w in range(n_workloads))
    return PeriodProblem(FleetProblem(peak, pools, tuple(candidates)), demands, price_model)


def _pareto(vectors: set[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Usage vectors no other one is below in every hardware (both costs grow with use)."""
    return [
        v
        for v in vectors
        if not any(u != v and all(a <= b for a, b in zip(u, v, strict=True)) for u in vectors)
    ]


def brute_force(
    problem: PeriodProblem, elastic: bool = False, bought: dict[str, int] | None = None
) -> tuple[float, ...] | None:
    """(least $/h, fewest GPUs in use summed over periods at that cost), or None if infeasible;
    `elastic`: (fewest GPUs missing, least $/h with that many) with inventories ignored;
    `bought`: (fewest GPUs in use summed over periods with at most these GPUs of each hardware,
    the documented tie-break of the peak model)."""
    fleet = problem.fleet
    hw = [p.hardware for p in fleet.pools]
    prices = [p.price_per_gpu_hour for p in fleet.pools]
    limits = [p.inventory_gpus for p in fleet.pools]
    caps = [math.ceil(fleet.demands[c.workload] / c.tokens_per_s) + 1 for c in fleet.candidates]
    per_period = []
    for demands in problem.demands:
        uses: set[tuple[int, ...]] = set()
        for xs in itertools.product(*(range(k + 1) for k in caps)):
            served = [0.0] * len(demands)
            used = [0] * len(hw)
            for c, x in zip(fleet.candidates, xs, strict=True):
                served[c.workload] += x * c.tokens_per_s
                for h, n in c.gpus:
                    used[hw.index(h)] += x * n
            if bought is not None and any(u > bought[h] for h, u in zip(hw, used, strict=True)):
                continue
            if all(s >= d for s, d in zip(served, demands, strict=True)) and (
                elastic or all(lim is None or u <= lim for u, lim in zip(used, limits, strict=True))
            ):
                uses.add(tuple(used))
        if not uses:
            return None
        per_period.append(_pareto(uses))
    best: tuple[float, ...] | None = None
    for combo in itertools.product(*per_period):
        missing = sum(
            max(0, max(u[h] for u in combo) - lim)
            for h, lim in enumerate(limits)
            if lim is not None
        )
        if problem.price_model == "peak":
            cost = sum(p * max(u[h] for u in combo) for h, p in enumerate(prices))
        else:
            cost = sum(p * u[h] for u in combo for h, p in enumerate(prices)) / len(combo)
        key = (missing, round(cost, 6)) if elastic else (round(cost, 6), sum(map(sum, combo)))
        if best is None or key < best:
            best = key
    return best


@pytest.mark.parametrize("price_model", ["peak", "per_period"])
@pytest.mark.parametrize("seed", range(12))
def test_plan_equals_brute_force(seed, price_model):
    problem = random_periods(seed, price_model)
    expected = brute_force(problem)
    solved = solve_periods(problem)
    if expected is None:
        assert solved.replicas is None
        return
    assert solved.replicas is not None, solved.status
    assert not check_plan(problem, solved.replicas)
    assert solved.cost_per_hour == pytest.approx(expected[0], abs=1e-6)
    assert cost_per_hour(problem, solved.replicas) == pytest.approx(expected[0], abs=1e-6)
    # Among plans of that cost, the fewest GPUs in use over the periods (the documented order:
    # per_period, over all of them; peak, over those within the GPUs the plan buys).
    gpu_periods = sum(sum(u.values()) for u in usage(problem, solved.replicas))
    if price_model == "per_period":
        assert gpu_periods == expected[1]
    else:
        within = brute_force(problem, bought=peak_gpus(problem, solved.replicas))
        assert within is not None and within[0] == pytest.approx(expected[0], abs=1e-6)
        assert gpu_periods == within[1]


@pytest.mark.parametrize("price_model", ["peak", "per_period"])
@pytest.mark.parametrize("seed", range(8))
def test_fewest_missing_gpus_then_cheapest_equal_brute_force(seed, price_model):
    problem = random_periods(seed, price_model)
    for p in problem.fleet.pools:  # tight inventories: most of these fleets fall short
        if p.inventory_gpus is not None:
            problem = problem.with_inventory(p.hardware, p.inventory_gpus // 3)
    missing, cost = brute_force(problem, elastic=True)
    solved = solve_period_shortage(problem)
    assert solved.replicas is not None
    assert sum(solved.shortage.values()) == missing
    assert not check_plan(problem, solved.replicas, solved.shortage)
    assert solved.cost_per_hour == pytest.approx(cost, abs=1e-6)


@pytest.mark.parametrize("price_model", ["peak", "per_period"])
@pytest.mark.parametrize("seed", range(12))
def test_never_dearer_than_every_period_sized_at_the_peak(seed, price_model):
    problem = random_periods(seed, price_model)
    at_peak = solve_fleet(problem.fleet)
    solved = solve_periods(problem)
    if at_peak.cost_per_hour is None:
        return
    assert solved.cost_per_hour is not None
    assert solved.cost_per_hour <= at_peak.cost_per_hour + 1e-9


@pytest.mark.parametrize("seed", range(12))
def test_one_period_costs_what_todays_program_costs(seed):
    problem = random_periods(seed, "peak")
    one = PeriodProblem(problem.fleet, (problem.fleet.demands,), "peak")
    today = solve_fleet(problem.fleet)
    solved = solve_periods(one)
    assert solved.cost_per_hour == pytest.approx(today.cost_per_hour)
    assert (solved.replicas is None) == (today.replicas is None)


def test_peaks_at_different_periods_share_the_hardware():
    """Two workloads peaking in turn need the hardware of one peak, not the sum of both."""
    pools = (Pool("h800", 2.0),)
    cands = (Candidate(0, 1000.0, (("h800", 8),)), Candidate(1, 1000.0, (("h800", 8),)))
    demands = ((3000.0, 1000.0), (1000.0, 3000.0))
    fleet = FleetProblem((3000.0, 3000.0), pools, cands)
    peak = solve_periods(PeriodProblem(fleet, demands, "peak"))
    assert peak.cost_per_hour == pytest.approx(4 * 8 * 2.0)  # 4 replicas, not 6
    assert peak.replicas == [[3, 1], [1, 3]]
    rented = solve_periods(PeriodProblem(fleet, demands, "per_period", 2.0))
    assert rented.cost_per_hour == pytest.approx(4 * 8 * 2.0)
    assert solve_fleet(fleet).cost_per_hour == pytest.approx(6 * 8 * 2.0)


def test_a_period_that_is_no_workloads_peak_can_set_the_hardware():
    """Period 3 is neither workload's peak, yet needs the most GPUs (period generation)."""
    pools = (Pool("h800", 2.0), Pool("h20", 1.0, 40))
    cands = (
        Candidate(0, 1000.0, (("h800", 8),)),
        Candidate(0, 700.0, (("h20", 8),)),
        Candidate(1, 1000.0, (("h800", 8),)),
    )
    demands = ((3000.0, 1000.0), (1000.0, 3000.0), (2500.0, 2500.0))
    problem = PeriodProblem(FleetProblem((3000.0, 3000.0), pools, cands), demands, "peak")
    solved = solve_periods(problem)
    assert solved.replicas is not None and not check_plan(problem, solved.replicas)
    expected = brute_force(problem)
    assert expected is not None and solved.cost_per_hour == pytest.approx(expected[0])
    peaks_only = solve_periods(PeriodProblem(problem.fleet, demands[:2], "peak"))
    assert peaks_only.cost_per_hour < solved.cost_per_hour  # period 3 buys more
