"""The split mix form (formulations/fleet_split_mixes.py) against brute force.

Small random fleets whose candidates span two pools, with exactly one finite inventory that
the workloads could exceed: the mix program's optimum equals enumeration of every replica
count, on every backend, and the mixes' replicas are valid plans.
"""

from __future__ import annotations

import dataclasses

import pytest

from formulations.fleet import FleetProblem, check_plan, plan_cost
from formulations.fleet_mixes import build_mix_program, mix_cost_matches, mix_replicas
from formulations.fleet_split_mixes import split_mixes
from solver.backends import make_backend
from tests.test_fleet import SEEDS, brute_force, random_fleet


def one_scarce(seed: int) -> FleetProblem:
    """The seed's two-pool fleet with only its first pool's inventory, set to bind."""
    problem = random_fleet(seed, two_pools=True)
    first = problem.pools[0].hardware
    pools = tuple(
        dataclasses.replace(p, inventory_gpus=40 if p.hardware == first else None)
        for p in problem.pools
    )
    return dataclasses.replace(problem, pools=pools)


@pytest.mark.parametrize("seed", SEEDS[:16])
@pytest.mark.parametrize("backend", ["highs", "cpsat"])
def test_split_mix_program_equals_brute_force(seed, backend):
    problem = one_scarce(seed)
    expected = brute_force(problem)
    mixed = split_mixes(problem)
    if mixed is None:  # the inventory cannot bind: nothing to check here
        assert all(len(c.gpus) for c in problem.candidates)
        return
    mixes, scarce = mixed
    assert scarce == [problem.pools[0].hardware]
    assert all(mix_cost_matches(problem, m) for options in mixes for m in options)
    prob, z = build_mix_program(problem, mixes, scarce)
    sol = make_backend(backend).solve(prob, 30)
    if expected is None:
        assert not sol.has_values
        return
    picks = [next(m for m, v in enumerate(zw) if sol.values[v] > 0.5) for zw in z]
    replicas = mix_replicas(problem, mixes, picks)
    assert check_plan(problem, replicas) == []
    assert plan_cost(problem, replicas) == pytest.approx(expected, abs=1e-6)


def test_split_mixes_stop_at_the_deadline():
    """The levels grow with the inventory: the caller's check stops them (formulations/deadline)."""
    from formulations.deadline import Expired

    problem = next(p for p in map(one_scarce, SEEDS) if split_mixes(p) is not None)

    def expired() -> None:
        raise Expired()

    with pytest.raises(Expired):
        split_mixes(problem, expired)
