"""Large-neighbourhood search for one layer's placement: re-solve the hottest rank with a few
others exactly, keep improvements (docs/model.md §14)."""

from __future__ import annotations

import time

import numpy as np

from formulations.placement import Placement, build_placement_program, extract_placement
from formulations.placement_bounds import quick_bound
from formulations.placement_heuristics import merge, placement_score, refine, restrict
from solver.backends import make_backend

NEIGHBOURHOOD_RANKS = 6
"""Ranks re-solved together in one large-neighbourhood step."""
STEP_TIME_S = 0.25
"""Time limit of one neighbourhood solve."""
MAX_MISSES = 100
"""Neighbourhoods in a row without improvement before the search gives up."""


def _neighbourhood(best: Placement, rng: np.random.Generator) -> np.ndarray:
    """The hottest rank, the coolest one and random others."""
    load = best.rank_loads
    hot = rng.choice(np.flatnonzero(load == load.max()))
    cool = int(np.argmin(load))
    others = np.setdiff1d(np.arange(len(load)), [hot, cool])
    size = min(NEIGHBOURHOOD_RANKS - 2, len(others))
    picked = rng.choice(others, size=size, replace=False) if size > 0 else np.array([], int)
    return np.unique(np.concatenate([[hot, cool], picked]).astype(int))


def large_neighbourhood_search(
    loads, slots, bound, best, backend, deadline, seed, target
) -> Placement:
    """Large-neighbourhood search: re-solve a few ranks exactly, keep improvements.

    Stops at `target` (the bound, or within the accepted gap of it), at the
    deadline, or after `MAX_MISSES` fruitless neighbourhoods.
    """
    rng = np.random.default_rng(seed)
    solver = make_backend(backend)
    misses = 0
    while best.max_load > target and time.perf_counter() < deadline and misses < MAX_MISSES:
        misses += 1
        ids = _neighbourhood(best, rng)
        sub_loads, experts, spare = restrict(best, ids)
        top = int(best.rank_loads[ids].max())
        sub_bound = quick_bound(sub_loads, len(ids), slots, spare)
        if sub_bound >= top:
            continue  # this neighbourhood cannot lower its hottest rank
        prob, handles = build_placement_program(
            sub_loads, len(ids), slots, spare, max_load_lo=sub_bound, max_load_hi=top - 1
        )
        budget = min(STEP_TIME_S, deadline - time.perf_counter())
        sol = solver.solve(prob, max(budget, 0.01))
        if not sol.has_values:
            continue
        trial = merge(best, ids, experts, extract_placement(handles, sol.values))
        trial = refine(loads, trial, bound, slots)
        if placement_score(trial) < placement_score(best):
            best, misses = trial, 0
    return best
