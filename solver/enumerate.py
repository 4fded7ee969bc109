"""Exhaustive enumeration: the oracle every integer program is checked against.

It walks the full candidate grid of the search space (every N_BO, unit count,
replica count, N_A and b), evaluates each deployment forward with
`formulations.deployment`, and keeps the best feasible one. It never looks
at layouts, caps, pruning or programs, so it shares no modelling shortcut
with the backends it checks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from formulations import deployment as dep
from formulations.costs import CostModel
from formulations.layouts import ImbalanceFn
from formulations.types import Deployment, Search

# Candidates evaluated per numpy call: large enough to amortise Python, small enough for memory.
CHUNK = 1 << 21


@dataclass(frozen=True)
class Best:
    deployment: Deployment | None
    objective: float | None
    candidates: int
    solve_s: float
    complete: bool


def afd_candidates(search: Search) -> int:
    s = search
    return (
        len(s.afd_micro_batches.values())
        * len(s.ffn_nodes.values())
        * len(s.redundant_experts.values())
        * len(s.attention_nodes.values())
        * len(s.sequences_per_gpu.values())
    )


def ep_candidates(search: Search) -> int:
    s = search
    return (
        len(s.ep_micro_batches.values())
        * len(s.nodes.values())
        * len(s.redundant_experts.values())
        * len(s.sequences_per_gpu.values())
    )


def _better(
    value: float, gpus: int, best_value: float | None, best_gpus: int, maximize: bool
) -> bool:
    """Strictly better objective (relative 1e-12), then fewer GPUs."""
    if best_value is None:
        return True
    tol = 1e-12 * max(1.0, abs(best_value))
    if maximize:
        if value > best_value + tol:
            return True
        return value >= best_value - tol and gpus < best_gpus
    if value < best_value - tol:
        return True
    return value <= best_value + tol and gpus < best_gpus


def _demand(objective: str, demand: float | None) -> float:
    """The throughput a min_gpus objective must reach, with float slack."""
    if objective != "min_gpus":
        return 0.0
    if demand is None:
        raise ValueError("objective min_gpus needs a demand")
    return demand * (1 - 1e-12)


def _scores(
    objective: str, ok: np.ndarray, served: np.ndarray, gpus: np.ndarray, need: float
) -> np.ndarray:
    """Objective of every candidate; infeasible ones get the worst value."""
    if objective == "min_gpus":
        value = np.where(ok & (served >= need), gpus, np.inf).astype(float)
        return value
    value = served if objective == "total_tokens" else served / gpus
    return np.where(ok, value, -np.inf)


def enumerate_afd(
    cm: CostModel,
    search: Search,
    objective: str,
    demand: float | None,
    imbalance: ImbalanceFn,
    time_limit_s: float = math.inf,
) -> Best:
    """Best AFD deployment by brute force over the whole grid."""
    start = time.perf_counter()
    g, w = cm.unit_gpus, cm.workload
    slo_s = w.tpot_ms * 1e-3
    need = _demand(objective, demand)
    a_vals = np.arange(search.attention_nodes.lo, search.attention_nodes.hi + 1)
    b_vals = np.arange(search.sequences_per_gpu.lo, search.sequences_per_gpu.hi + 1)
    best_value: float | None = None
    best_gpus = 0
    best: Deployment | None = None
    maximize = objective != "min_gpus"
    count = 0
    rows = max(1, CHUNK // len(b_vals))
    for nbo in search.afd_micro_batches.values():
        for f in search.ffn_nodes.values():
            for r in search.redundant_experts.values():
                eps = float(imbalance(np.array([f * g]), np.array([r]))[0])
                experts = int(dep.experts_per_gpu(cm.model, r, f * g))
                if search.experts_per_gpu and not (
                    search.experts_per_gpu.lo <= experts <= search.experts_per_gpu.hi
                ):
                    count += len(a_vals) * len(b_vals)
                    continue
                for i in range(0, len(a_vals), rows):
                    if time.perf_counter() - start > time_limit_s:
                        return Best(best, best_value, count, time.perf_counter() - start, False)
                    a = a_vals[i : i + rows, None]
                    b = b_vals[None, :]
                    count += a.size * b.size
                    s = dep.afd_stages(cm, a, f, b, r, nbo, eps)
                    ok = np.logical_and.reduce(list(dep.afd_checks(cm, s).values()))
                    units = a + f
                    if search.max_gpus is not None:
                        ok &= units * g <= search.max_gpus
                    served = w.dp_imbalance * nbo * g * (a * b) / slo_s
                    value = _scores(objective, ok, served, units * g + 0 * b, need)
                    flat = int(np.argmax(value) if maximize else np.argmin(value))
                    ai, bi = np.unravel_index(flat, value.shape)
                    v = float(value[ai, bi])
                    if not math.isfinite(v):
                        continue
                    # Among ties inside the chunk prefer fewer GPUs: fewer attention units.
                    gpus = int((a[ai, 0] + f) * g)
                    if _better(v, gpus, best_value, best_gpus, maximize):
                        best_value, best_gpus = v, gpus
                        best = Deployment(
                            "afd",
                            int(b[0, bi]),
                            int(nbo),
                            int(r),
                            attention_units=int(a[ai, 0]),
                            ffn_units=int(f),
                        )
    return Best(best, best_value, count, time.perf_counter() - start, True)


def enumerate_ep(
    cm: CostModel,
    search: Search,
    objective: str,
    demand: float | None,
    imbalance: ImbalanceFn,
    time_limit_s: float = math.inf,
) -> Best:
    """Best EP deployment by brute force over the whole grid."""
    start = time.perf_counter()
    g, w = cm.unit_gpus, cm.workload
    slo_s = w.tpot_ms * 1e-3
    need = _demand(objective, demand)
    b_vals = np.arange(search.sequences_per_gpu.lo, search.sequences_per_gpu.hi + 1)
    best_value: float | None = None
    best_gpus = 0
    best: Deployment | None = None
    maximize = objective != "min_gpus"
    count = 0
    for nbo in search.ep_micro_batches.values():
        for n in search.nodes.values():
            for r in search.redundant_experts.values():
                if time.perf_counter() - start > time_limit_s:
                    return Best(best, best_value, count, time.perf_counter() - start, False)
                count += len(b_vals)
                if search.max_gpus is not None and n * g > search.max_gpus:
                    continue
                experts = int(dep.experts_per_gpu(cm.model, r, n * g))
                if search.experts_per_gpu and not (
                    search.experts_per_gpu.lo <= experts <= search.experts_per_gpu.hi
                ):
                    continue
                eps = float(imbalance(np.array([n * g]), np.array([r]))[0])
                s = dep.ep_stages(cm, n, b_vals, r, nbo, eps)
                ok = np.logical_and.reduce(list(dep.ep_checks(cm, s).values()))
                served = w.dp_imbalance * nbo * g * n * b_vals / slo_s
                value = _scores(objective, ok, served, np.full(b_vals.shape, n * g), need)
                k = int(np.argmax(value) if maximize else np.argmin(value))
                v = float(value[k])
                if math.isfinite(v) and _better(v, int(n * g), best_value, best_gpus, maximize):
                    best_value, best_gpus = v, int(n * g)
                    best = Deployment("ep", int(b_vals[k]), int(nbo), int(r), units=int(n))
    return Best(best, best_value, count, time.perf_counter() - start, True)
