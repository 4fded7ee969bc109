"""The fleet program (formulations/fleet.py) against brute force, on every backend.

Small synthetic fleets (two or three workloads, two or three hardware pools,
a handful of candidates each) are solved by enumerating every replica count;
the program, the pruned program, the decomposition shortcut and every backend
must all find the same minimum cost, and the plans are checked independently.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest

from formulations.fleet import (
    Candidate,
    FleetProblem,
    Pool,
    build_fleet_program,
    check_plan,
    cost_units,
    gpus_used,
    plan_cost,
    read_replicas,
    read_shortage,
)
from formulations.fleet_mixes import build_mix_program, fleet_mixes, mix_cost_matches, mix_replicas
from formulations.fleet_pruning import cover_optimum, prune
from solver.backends import Status, make_backend
from solver.sizing.solve import solve_fleet, solve_shortage

BACKENDS = ("highs", "cbc", "cpsat")
HARDWARE = ("h800", "h20", "h200")


def random_fleet(seed: int, inventories: bool = True, two_pools: bool = False) -> FleetProblem:
    """A small random fleet; with `two_pools` some candidates split over two hardware pools."""
    rng = random.Random(seed)
    n_pools = rng.choice((2, 3))
    pools = tuple(
        Pool(
            HARDWARE[h],
            rng.choice((1.0, 1.25, 2.0, 2.79, 4.5)),
            rng.choice((None, 16, 24, 40, 64)) if inventories else None,
        )
        for h in range(n_pools)
    )
    n_workloads = rng.choice((1, 2, 3))
    demands = tuple(float(rng.randrange(500, 4000)) for _ in range(n_workloads))
    candidates = []
    for w in range(n_workloads):
        for _ in range(rng.randrange(2, 5)):
            p = rng.choice(pools)
            gpus = 8 * rng.randrange(1, 4)
            per_gpu = rng.randrange(20, 90)
            split: tuple[tuple[str, int], ...] = ((p.hardware, gpus),)
            if two_pools and gpus > 8 and rng.random() < 0.5:
                other = rng.choice([q for q in pools if q is not p])
                split = ((p.hardware, 8), (other.hardware, gpus - 8))
            candidates.append(Candidate(w, float(gpus * per_gpu), split, rng.choice(("afd", "ep"))))
    return FleetProblem(demands, pools, tuple(candidates))


def brute_force(problem: FleetProblem, shortage: bool = False) -> float | None:
    """Cheapest plan by enumerating replica counts (with `shortage`: the fewest missing GPUs)."""
    ranges = [
        range(math.ceil(problem.demands[c.workload] / c.tokens_per_s) + 2)
        for c in problem.candidates
    ]
    best: float | None = None
    for counts in itertools.product(*ranges):
        served = [0.0] * len(problem.demands)
        for c, x in zip(problem.candidates, counts, strict=True):
            served[c.workload] += x * c.tokens_per_s
        if any(s < d for s, d in zip(served, problem.demands, strict=True)):
            continue
        used = gpus_used(problem, counts)
        over = sum(
            max(0, used[p.hardware] - p.inventory_gpus)
            for p in problem.pools
            if p.inventory_gpus is not None
        )
        if shortage:
            value: float = over
        elif over:
            continue
        else:
            value = plan_cost(problem, counts)
        if best is None or value < best - 1e-9:
            best = value
    return best


def _small(seed: int) -> bool:
    """Keep brute force small: at most 30k replica combinations."""
    p = random_fleet(seed)
    size = 1
    for c in p.candidates:
        size *= math.ceil(p.demands[c.workload] / c.tokens_per_s) + 2
    return size <= 30_000


SEEDS = [s for s in range(80) if _small(s)][:24]


@pytest.mark.parametrize("seed", SEEDS)
def test_plan_equals_brute_force(seed):
    problem = random_fleet(seed)
    expected = brute_force(problem)
    got = solve_fleet(problem, "highs", 30)
    if expected is None:
        assert got.status == Status.INFEASIBLE
        return
    assert got.status == Status.OPTIMAL
    assert got.cost_per_hour == pytest.approx(expected, abs=1e-6)
    assert check_plan(problem, got.replicas) == []


@pytest.mark.parametrize("seed", SEEDS[:12])
def test_heterogeneous_candidates_take_the_replica_form(seed):
    """Candidates on two pools (attention and FFN hardware apart): the replica form, or the
    split mix form with one scarce pool (formulations/fleet_split_mixes.py)."""
    problem = random_fleet(seed, two_pools=True)
    got = solve_fleet(problem, "highs", 30)
    expected = brute_force(problem)
    if expected is None:
        assert got.status == Status.INFEASIBLE
        return
    assert got.cost_per_hour == pytest.approx(expected, abs=1e-6)
    kept = problem.restrict(prune(problem))
    if any(len(c.gpus) > 1 for c in kept.candidates) and got.method != "decomposition":
        assert got.method in ("highs", "highs (mixes)")


@pytest.mark.parametrize("seed", SEEDS[:12])
def test_every_backend_agrees_on_the_mix_program(seed):
    problem = random_fleet(seed)
    expected = brute_force(problem)
    mixes, scarce = fleet_mixes(problem)
    if any(not options for options in mixes):
        assert expected is None
        return
    prob, z = build_mix_program(problem, mixes, scarce)
    assert prob.is_integral()
    for backend in BACKENDS:
        sol = make_backend(backend).solve(prob, 30)
        if expected is None:
            assert sol.status == Status.INFEASIBLE, backend
            continue
        assert sol.status == Status.OPTIMAL, backend
        picks = [next(m for m, v in enumerate(zw) if sol.values[v] > 0.5) for zw in z]
        replicas = mix_replicas(problem, mixes, picks)
        assert plan_cost(problem, replicas) == pytest.approx(expected, abs=1e-6), backend
        assert check_plan(problem, replicas) == [], backend
        assert all(mix_cost_matches(problem, mix) for options in mixes for mix in options)


@pytest.mark.parametrize("seed", SEEDS[:12])
def test_every_backend_agrees_on_the_fleet_program(seed):
    problem = random_fleet(seed)
    expected = brute_force(problem)
    prob, handles = build_fleet_program(problem)
    assert prob.is_integral()
    for backend in BACKENDS:
        sol = make_backend(backend).solve(prob, 30)
        if expected is None:
            assert sol.status == Status.INFEASIBLE, backend
            continue
        assert sol.status == Status.OPTIMAL, backend
        replicas = read_replicas(handles, sol.values)
        assert plan_cost(problem, replicas) == pytest.approx(expected, abs=1e-6), backend
        assert check_plan(problem, replicas) == [], backend


@pytest.mark.parametrize("seed", SEEDS)
def test_pruning_keeps_the_optimum(seed):
    problem = random_fleet(seed)
    kept = problem.restrict(prune(problem))
    assert len(kept.candidates) <= len(problem.candidates)
    assert brute_force(kept) == pytest.approx(brute_force(problem))


@pytest.mark.parametrize("seed", SEEDS)
def test_cover_optimum_is_the_cheapest_cover_of_one_workload(seed):
    problem = random_fleet(seed, inventories=False)
    for w in range(len(problem.demands)):
        members = [i for i, c in enumerate(problem.candidates) if c.workload == w]
        alone = FleetProblem(
            (problem.demands[w],),
            problem.pools,
            tuple(
                Candidate(0, c.tokens_per_s, c.gpus, c.architecture)
                for c in (problem.candidates[i] for i in members)
            ),
        )
        cover = cover_optimum(problem, members)
        assert cover is not None
        expected = brute_force(alone)
        assert cover.cost_units == round(expected * 10_000)
        served = sum(problem.candidates[i].tokens_per_s * m for i, m in cover.replicas.items())
        assert served >= problem.demands[w]


@pytest.mark.parametrize("seed", SEEDS[:15])
def test_plan_never_dearer_than_one_architecture_or_one_hardware(seed):
    problem = random_fleet(seed)
    best = solve_fleet(problem, "highs", 30).cost_per_hour
    subsets = [("architecture", a) for a in ("afd", "ep")] + [
        ("hardware", p.hardware) for p in problem.pools
    ]
    for kind, value in subsets:
        keep = [
            i
            for i, c in enumerate(problem.candidates)
            if (c.architecture if kind == "architecture" else c.gpus[0][0]) == value
        ]
        restricted = solve_fleet(problem.restrict(keep), "highs", 30).cost_per_hour
        if restricted is not None:
            assert best is not None and best <= restricted + 1e-9, (kind, value)


def test_decomposition_and_program_agree_when_inventories_bind():
    # Two workloads want the cheap h20; only 16 GPUs of it exist.
    pools = (Pool("h20", 1.0, 16), Pool("h800", 3.0, None))
    cands = (
        Candidate(0, 800.0, (("h20", 8),)),
        Candidate(0, 1000.0, (("h800", 8),)),
        Candidate(1, 800.0, (("h20", 8),)),
        Candidate(1, 1000.0, (("h800", 8),)),
    )
    problem = FleetProblem((1600.0, 1500.0), pools, cands)
    got = solve_fleet(problem, "highs", 30)
    assert got.method == "highs (mixes)"  # the workloads' own optima need 32 h20 GPUs
    assert got.cost_per_hour == pytest.approx(brute_force(problem))
    free = solve_fleet(problem.with_inventory("h20", None), "highs", 30)
    assert free.method == "decomposition"
    assert free.cost_per_hour == pytest.approx(brute_force(problem.with_inventory("h20", None)))


def test_rounding_is_conservative():
    # 3 x 333.4 tokens/s must not count as meeting a demand of 1000.5 (floor/ceil in the rows).
    problem = FleetProblem((1000.5,), (Pool("h800", 2.0),), (Candidate(0, 333.4, (("h800", 8),)),))
    got = solve_fleet(problem, "highs", 30)
    assert got.replicas == [4]
    assert check_plan(problem, got.replicas) == []


def test_price_units_are_whole_hundredths_of_a_cent():
    problem = FleetProblem((1.0,), (Pool("h800", 2.79),), (Candidate(0, 5.0, (("h800", 8),)),))
    assert cost_units(problem, problem.candidates[0]) == 27_900 * 8


@pytest.mark.parametrize("seed", [s for s in SEEDS if brute_force(random_fleet(s)) is None][:6])
def test_shortage_is_the_fewest_missing_gpus(seed):
    problem = random_fleet(seed)
    got = solve_shortage(problem, "highs", 30)
    assert got.status == Status.OPTIMAL
    assert sum(got.shortage.values()) == brute_force(problem, shortage=True)
    assert check_plan(problem, got.replicas, got.shortage) == []


def test_over_constrained_fleet_names_its_shortage():
    pools = (Pool("h800", 2.0, 16), Pool("h20", 1.0, 8))
    cands = (Candidate(0, 1000.0, (("h800", 8),)), Candidate(0, 300.0, (("h20", 8),)))
    problem = FleetProblem((3000.0,), pools, cands)
    assert solve_fleet(problem, "highs", 30).status == Status.INFEASIBLE
    got = solve_shortage(problem, "highs", 30)
    # 3 x h800 (24 GPUs, 8 missing) beats 2 x h800 + 4 x h20 (24 missing).
    assert got.shortage == {"h800": 8, "h20": 0}
    assert check_plan(problem, got.replicas, got.shortage) == []
    prob, handles = build_fleet_program(problem, elastic=True)
    sol = make_backend("cpsat").solve(prob, 10)
    assert sum(read_shortage(handles, sol.values).values()) == 8


def test_pruning_keeps_a_candidate_that_beats_replicas_by_one_token():
    # B (16 GPUs, 2001 tokens/s) beats two replicas of A (2000) by one token/s: it stays.
    # C (24 GPUs, 3000) is no better than A + B (3001): it goes.
    pools = (Pool("h800", 1.0),)
    a = Candidate(0, 1000.0, (("h800", 8),))
    b = Candidate(0, 2001.0, (("h800", 16),))
    c = Candidate(0, 3000.0, (("h800", 24),))
    problem = FleetProblem((3001.0,), pools, (a, b, c))
    assert prune(problem) == [0, 1]
    assert solve_fleet(problem).cost_per_hour == pytest.approx(24.0)


def test_cover_finds_the_optimum_two_cents_below_the_first_cover():
    # Three A (100 tokens/s, $1.00 each) are the first cover found (best cost per token);
    # one B (300 tokens/s, $2.98) is cheaper, and its branch's bound is only 2 cents away.
    pools = (Pool("h800", 2.98), Pool("h20", 1.0))
    cands = (Candidate(0, 300.0, (("h800", 1),)), Candidate(0, 100.0, (("h20", 1),)))
    problem = FleetProblem((250.0,), pools, cands)
    cover = cover_optimum(problem, [0, 1])
    assert cover is not None and cover.replicas == {0: 1} and cover.cost_units == 29_800


def test_undominated_mixes_match_pairwise_comparison():
    from formulations.fleet_mixes import Mix, _undominated

    def pairwise(raw):
        kept = []
        for m in sorted(raw, key=lambda m: (m.cost_units, m.gpus)):
            if not any(all(a <= b for a, b in zip(k.gpus, m.gpus, strict=True)) for k in kept):
                kept.append(m)
        return kept

    for seed in range(400):
        rng = random.Random(seed)
        dims = rng.choice((0, 1, 2, 3))
        raw = [
            Mix(rng.randrange(20), tuple(8 * rng.randrange(6) for _ in range(dims)), ())
            for _ in range(rng.randrange(1, 30))
        ]
        assert _undominated(list(raw)) == pairwise(raw), seed
