"""What placement achieves, for the deployment programs: max/mean load of the hottest rank per
(ranks, replicas), cached across calls, within a deadline (docs/model.md §14.3)."""

from __future__ import annotations

import time

import numpy as np

from formulations.costs import CostModel
from formulations.placement_bounds import quick_bound
from formulations.types import Instance
from solver.io.limits import check_placement_size
from solver.placement.place import layer_key, solve_layer


def default_slots_per_rank(instance: Instance) -> int:
    """Expert slots per GPU that usable HBM holds: floor(HBM / (N_moe * expert bytes))."""
    cost = CostModel.of(instance)
    per_slot = cost.model.num_moe_layers * cost.expert_bytes
    return int(cost.usable_bytes("ffn") // per_slot)


_IMBALANCE_CACHE: dict[tuple, dict[int, int]] = {}
"""(layer multiset, ranks, slots, backend, time limit, gap) -> {replicas: best max load}."""


def _cached_max_load(row, ranks, slots, replicas, backend, time_limit_s, rel_gap) -> int:
    """Best max load for one layer, reusing any cached solve that already meets the bound.

    A placement found with fewer replicas stays valid with more (spare replicas
    carry nothing), so a cached max load equal to this budget's lower bound is
    optimal here too and needs no solve.
    """
    known = _IMBALANCE_CACHE.setdefault(
        (layer_key(row), ranks, slots, backend, time_limit_s, rel_gap), {}
    )
    if replicas not in known:
        bound = quick_bound(row, ranks, slots, replicas)
        reuse = [top for r, top in known.items() if r <= replicas and top <= bound]
        if reuse:
            known[replicas] = min(reuse)
        else:
            res = solve_layer(
                row,
                ranks,
                slots,
                replicas,
                backend=backend,
                time_limit_s=time_limit_s,
                rel_gap=rel_gap,
            )
            known[replicas] = res.max_load
    return known[replicas]


def achieved_imbalance(
    loads: np.ndarray,
    ranks: int,
    replicas: int,
    slots_per_rank: int,
    backend: str = "highs",
    time_limit_s: float = 0.5,
    rel_gap: float = 0.002,
    deadline: float | None = None,
) -> float:
    """Mean over layers of max/mean rank load of the best placement found (docs/model.md §14).

    `deadline` (a `time.perf_counter()` value): raise TimeoutError instead of starting a layer
    after it, and give each layer at most the time left.

    Fast for repeated calls: identical layers (up to relabelling) are solved once,
    results are cached across calls, a cached solve with fewer replicas that meets
    this budget's lower bound is reused, a layer whose cheap start meets the bound
    needs no solver at all, and the search stops within `rel_gap` of the bound
    (0.2 %: far below what the deployment programs can resolve).
    """
    loads = np.atleast_2d(np.asarray(loads, dtype=np.int64))
    check_placement_size(ranks, loads.shape[1] + replicas, "placement")
    ratios = []
    for row in loads:
        mean = float(row.sum()) / ranks
        limit = time_limit_s
        if deadline is not None:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError("placement budget spent")
            limit = min(time_limit_s, left)
        top = _cached_max_load(row, ranks, slots_per_rank, replicas, backend, limit, rel_gap)
        ratios.append(top / mean if mean > 0 else 1.0)
    return float(np.mean(ratios))
