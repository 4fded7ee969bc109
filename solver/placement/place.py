"""Expert placement per layer: bound, heuristics, the exact program, tables (docs/model.md §14).

Each layer runs the fixed pipeline check -> bound -> heuristics -> program -> extract:
1. `quick_bound` (balance, replica count, slot fill, heavy set), and the
   costlier room bound only when the starts below miss it;
2. cheap starts (McNaughton wrap-around, the greedy baseline, LPT), each given
   its optimal token split by max-flow and improved by relocate/swap moves; a
   start at the bound is optimal and ends the layer;
3. otherwise the exact program: whole when small (it then proves optimality or
   returns its dual bound), else as a large-neighbourhood search that re-solves
   the hottest rank with a few others exactly until the bound or the time limit;
4. experts mapped back, spare replicas padded with share 0, the result validated.

Layers are independent and solved in a process pool. Layers with the same
multiset of loads (synthetic Zipf loads are permutations of one another) are
solved once and relabelled.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from formulations.deadline import Expired
from formulations.placement import (
    Placement,
    build_placement_program,
    check_problem,
    extract_placement,
    lower_bound,
    pad_replicas,
    validate_placement,
)
from formulations.placement_bounds import quick_bound
from formulations.placement_heuristics import (
    greedy_placement,
    greedy_replica_counts,
    lpt_placement,
    order_ranks_by_node,
    placement_score,
    refine,
    wrap_around,
)
from solver.backends import Status, make_backend
from solver.placement.search import large_neighbourhood_search

SUMMARY_COLUMNS = [
    "layer",
    "ranks",
    "slots_per_rank",
    "replicas",
    "max_load",
    "mean_load",
    "lower_bound",
    "greedy_max_load",
    "status",
    "gap",
    "solve_s",
]
PLACEMENT_COLUMNS = ["layer", "rank", "expert", "replica_share"]

FULL_PROGRAM_MAX_VARS = 600
"""Solve the whole program when it has at most this many replica variables x[e,r]."""
WRAP_TRIES = 25
"""Wrap-around attempts at the bound (the first deterministic, then randomised picks)."""
DEADLINE_FRACTION = 0.8
"""Share of the time limit the search may start steps in; the rest covers the last
step's refinement, extraction and checks."""


@dataclass(frozen=True)
class LayerResult:
    """One layer's placement and how good it is (experts in the caller's order)."""

    placement: Placement
    max_load: int
    bound: int
    greedy_max_load: int
    status: Status
    solve_s: float

    @property
    def gap(self) -> float:
        """(max_load - bound) / max_load; 0 when optimal."""
        if self.status == Status.OPTIMAL or self.max_load == 0:
            return 0.0
        return (self.max_load - self.bound) / self.max_load


# ---- one layer ----


def _heuristic(loads, ranks, slots, replicas, bound, seed, stop, check) -> tuple[Placement, int]:
    """The best cheap placement and the greedy baseline's max load. Randomised wrap-around
    tries stop at `stop` (a perf_counter time; each try is linear in E, but E may be large);
    past the layer's deadline (`check`) the starts stop and the greedy baseline (always
    completed: it is what the report compares with) is the placement."""
    greedy = greedy_placement(loads, ranks, slots, replicas)
    rng = np.random.default_rng(seed)
    best = greedy
    try:
        for attempt in range(WRAP_TRIES):
            if attempt and time.perf_counter() > stop:
                break
            wrap = wrap_around(
                loads, ranks, slots, replicas, bound, rng if attempt else None, check
            )
            if wrap is not None:  # perfect at the bound: optimal
                return wrap, greedy.max_load
        best = refine(loads, greedy, bound, slots, check)
        if best.max_load > bound:
            check()
            counts = greedy_replica_counts(loads, ranks, replicas)
            other = refine(loads, lpt_placement(loads, counts, ranks, slots), bound, slots, check)
            best = min(best, other, key=placement_score)
    except Expired:
        pass  # the best valid placement so far stands
    return best, greedy.max_load


def _full_program(loads, ranks, slots, replicas, bound, best, backend, time_s, spread):
    """Solve the whole program below the incumbent; returns (placement, bound, status)."""
    gpus_per_node, groups = spread
    hi = best.max_load if gpus_per_node else best.max_load - 1
    if hi < bound:
        return best, best.max_load, Status.OPTIMAL
    prob, handles = build_placement_program(
        loads,
        ranks,
        slots,
        replicas,
        max_load_lo=bound,
        max_load_hi=hi,
        gpus_per_node=gpus_per_node,
        groups=groups,
    )
    sol = make_backend(backend).solve(prob, max(time_s, 0.05))
    if sol.status == Status.INFEASIBLE:  # nothing below the incumbent: it is optimal
        return best, best.max_load, Status.OPTIMAL
    if not sol.has_values:
        return best, bound, Status.FEASIBLE
    found = extract_placement(handles, sol.values)
    if sol.status == Status.OPTIMAL:
        return found, found.max_load, Status.OPTIMAL
    weight = (len(handles.spread) + 1) if gpus_per_node else 1
    # weight * z + spread >= dual bound, with 0 <= spread < weight.
    dual_z = None if sol.bound is None else math.ceil((sol.bound - weight + 1) / weight - 1e-9)
    proven = bound if dual_z is None else max(bound, dual_z)
    better = found if placement_score(found) < placement_score(best) else best
    return better, min(proven, better.max_load), Status.FEASIBLE


def solve_layer(
    loads: np.ndarray,
    ranks: int,
    slots_per_rank: int,
    replicas: int,
    *,
    backend: str = "highs",
    time_limit_s: float = 2.0,
    gpus_per_node: int | None = None,
    groups: np.ndarray | None = None,
    seed: int = 0,
    rel_gap: float = 0.0,
) -> LayerResult:
    """Place one layer's experts to minimise the hottest rank's load.

    Args:
        loads: tokens per expert `(E,)`.
        gpus_per_node: minimise the node spread after the max load (exactly when
            the whole program is solved; otherwise ranks are ordered onto nodes
            by a greedy that keeps each expert's replicas together).
        groups: expert group ids for the node spread (default one per expert).
        seed: seeds the randomised wrap-around tries and the neighbourhood choice.
        rel_gap: stop searching once (max load - bound) / max load is at most this.
    """
    start = time.perf_counter()
    loads = np.asarray(loads, dtype=np.int64)
    check_problem(loads, ranks, slots_per_rank, replicas)
    order = np.argsort(-loads, kind="stable")
    w = loads[order]
    sorted_groups = None if groups is None else np.asarray(groups)[order]
    check = _until(start + time_limit_s)
    bound = quick_bound(w, ranks, slots_per_rank, replicas, check)
    stop = start + time_limit_s / 2
    best, greedy_max = _heuristic(w, ranks, slots_per_rank, replicas, bound, seed, stop, check)
    if best.max_load > bound:  # the start missed the quick bound: try the room bound too
        bound = lower_bound(w, ranks, slots_per_rank, replicas, best.max_load, check)
    status = Status.OPTIMAL if best.max_load <= bound else Status.FEASIBLE
    target = max(bound, math.floor(bound / (1.0 - rel_gap))) if rel_gap < 1 else best.max_load
    left_s = time_limit_s - (time.perf_counter() - start)
    canonical = sum(min(ranks, e + replicas + 1) for e in range(len(w)))
    small = (len(w) * ranks if gpus_per_node else canonical) <= FULL_PROGRAM_MAX_VARS
    if small and (best.max_load > target or gpus_per_node):
        best, bound, status = _full_program(
            w,
            ranks,
            slots_per_rank,
            replicas,
            bound,
            best,
            backend,
            left_s,
            (gpus_per_node, sorted_groups),
        )
    elif best.max_load > target:
        deadline = start + DEADLINE_FRACTION * time_limit_s
        best = large_neighbourhood_search(
            w, slots_per_rank, bound, best, backend, deadline, seed, target
        )
    if best.max_load <= bound:  # met the bound: proven, whichever path got there
        status, bound = Status.OPTIMAL, best.max_load
    if gpus_per_node and not small:
        best = order_ranks_by_node(best, gpus_per_node, sorted_groups)
    placement = pad_replicas(_unsort(best, order), replicas, slots_per_rank)
    problems = validate_placement(placement, loads, ranks, slots_per_rank, replicas)
    if problems:  # a bug, not an input error
        raise RuntimeError("invalid placement: " + "; ".join(problems[:5]))
    elapsed = time.perf_counter() - start
    return LayerResult(placement, placement.max_load, bound, greedy_max, status, elapsed)


def _until(deadline: float) -> Callable[[], None]:
    """A `formulations.deadline.Check` that raises `Expired` after `deadline` (perf_counter)."""

    def check() -> None:
        if time.perf_counter() > deadline:
            raise Expired()

    return check


def _unsort(pl: Placement, order: np.ndarray) -> Placement:
    replica = np.zeros_like(pl.replica)
    tokens = np.zeros_like(pl.tokens)
    replica[:, order] = pl.replica
    tokens[:, order] = pl.tokens
    return Placement(replica, tokens)


# ---- many layers ----


def layer_key(loads: np.ndarray) -> bytes:
    return np.sort(np.asarray(loads, dtype=np.int64)).tobytes()


def _solve_task(args: tuple) -> LayerResult:
    loads, ranks, slots, replicas, kwargs = args
    return solve_layer(loads, ranks, slots, replicas, **kwargs)


def _relabel(res: LayerResult, src: np.ndarray, dst: np.ndarray) -> LayerResult:
    """`res` solved for loads `src`, moved to loads `dst` with the same multiset."""
    mapping = np.empty(len(src), dtype=np.int64)  # expert of dst -> expert of src
    mapping[np.argsort(dst, kind="stable")] = np.argsort(src, kind="stable")
    pl = Placement(res.placement.replica[:, mapping], res.placement.tokens[:, mapping])
    return LayerResult(pl, res.max_load, res.bound, res.greedy_max_load, res.status, 0.0)


def solve_layers(
    loads: np.ndarray,
    ranks: int,
    slots_per_rank: int,
    replicas: int,
    *,
    workers: int | None = None,
    **kwargs,
) -> list[LayerResult]:
    """`solve_layer` for every row of `loads` (distinct multisets once, in parallel)."""
    loads = np.asarray(loads, dtype=np.int64)
    if loads.ndim != 2:
        raise ValueError("loads must be a (layers, experts) array")
    first: dict[bytes, int] = {}
    for layer, row in enumerate(loads):
        first.setdefault(layer_key(row), layer)
    unique = sorted(first.values())
    tasks = [(loads[i], ranks, slots_per_rank, replicas, kwargs) for i in unique]
    n_procs = min(workers or os.cpu_count() or 1, len(tasks))
    if n_procs <= 1:
        solved = [_solve_task(t) for t in tasks]
    else:
        # forkserver: never fork a parent that may run threads (as solver.analysis.engine does).
        ctx = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(n_procs, mp_context=ctx) as pool:
            solved = list(pool.map(_solve_task, tasks))
    by_layer = dict(zip(unique, solved, strict=True))
    out = []
    for layer, row in enumerate(loads):
        rep = first[layer_key(row)]
        res = by_layer[rep]
        out.append(res if rep == layer else _relabel(res, loads[rep], row))
    return out


def place_layers(
    loads: np.ndarray,
    ranks: int,
    slots_per_rank: int,
    replicas: int,
    backend: str = "highs",
    time_limit_s: float = 2.0,
    workers: int | None = None,
    *,
    gpus_per_node: int | None = None,
    groups: np.ndarray | None = None,
    rel_gap: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Place every layer; return (summary, placement) tables.

    Args:
        loads: `(layers, E)` tokens per expert.
        time_limit_s: per layer.
        workers: processes (default: all cores; 1 solves in this process).
        gpus_per_node, groups: optional node-spread objective (see `solve_layer`).
        rel_gap: accepted relative gap to the bound (0: search until proven or timed out).

    Returns:
        summary: one row per layer, columns `SUMMARY_COLUMNS`; `lower_bound` is the
            best proven bound, `gap` is relative to `max_load` (0 when optimal),
            `solve_s` is 0 for a layer relabelled from an identical one.
        placement: one row per replica, columns `PLACEMENT_COLUMNS`; an expert's
            shares sum to 1 (a zero-load expert's replicas share equally).
    """
    results = solve_layers(
        loads,
        ranks,
        slots_per_rank,
        replicas,
        workers=workers,
        backend=backend,
        time_limit_s=time_limit_s,
        gpus_per_node=gpus_per_node,
        groups=groups,
        rel_gap=rel_gap,
    )
    summary = pd.DataFrame(
        [
            _summary_row(i, res, row, ranks, slots_per_rank, replicas)
            for i, (res, row) in enumerate(zip(results, loads, strict=True))
        ],
        columns=SUMMARY_COLUMNS,
    )
    parts = [
        _placement_rows(i, res.placement, np.asarray(row))
        for i, (res, row) in enumerate(zip(results, loads, strict=True))
    ]
    return summary, pd.concat(parts, ignore_index=True)[PLACEMENT_COLUMNS]


def _summary_row(layer, res: LayerResult, loads, ranks, slots, replicas) -> dict:
    return {
        "layer": layer,
        "ranks": ranks,
        "slots_per_rank": slots,
        "replicas": replicas,
        "max_load": res.max_load,
        "mean_load": float(np.sum(loads)) / ranks,
        "lower_bound": res.bound,
        "greedy_max_load": res.greedy_max_load,
        "status": res.status.value,
        "gap": res.gap,
        "solve_s": res.solve_s,
    }


def _placement_rows(layer: int, pl: Placement, loads: np.ndarray) -> pd.DataFrame:
    rank, expert = np.nonzero(pl.replica)
    counts = pl.replica_counts
    total = loads[expert].astype(float)
    served = pl.tokens[rank, expert] / np.maximum(total, 1)
    share = np.where(total > 0, served, 1.0 / counts[expert])  # zero-load experts: equal shares
    return pd.DataFrame({"layer": layer, "rank": rank, "expert": expert, "replica_share": share})
