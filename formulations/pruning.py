"""Exact dominance pruning of layouts before the integer programs are built.

Layout c' dominates c when it uses no more expert units, allows at least the
same attention-unit range, and every cap is at least as large: any deployment
on c then fits on c' with the same N_A and b and no more GPUs, which is no
worse under every objective. Removing dominated layouts shrinks the one-hot
without changing the optimum value.

The caps enter the programs only through their minimum over families (b and
S must satisfy all rows), so dominance compares those minima.
"""

from __future__ import annotations

import numpy as np

from formulations.layouts import AfdLayouts, EpLayouts


def _dominated(
    units: np.ndarray, caps_a: np.ndarray, caps_b: np.ndarray, groups: np.ndarray
) -> np.ndarray:
    """Mask of entries dominated by another entry of the same group.

    Entry j dominates i when units_j <= units_i, caps_a_j >= caps_a_i and
    caps_b_j >= caps_b_i (ties broken by position so exactly one of equals
    survives). Sweeps entries in order of units, then best caps first,
    keeping per group and per level of `caps_a` the running maximum of `caps_b`.
    """
    n = len(units)
    dominated = np.zeros(n, dtype=bool)
    if n == 0:
        return dominated
    order = np.lexsort((-caps_b, -caps_a, units, groups))
    for group in np.unique(groups):
        idx = order[groups[order] == group]
        a, b = caps_a[idx], caps_b[idx]
        for level in np.unique(a):
            eligible = a >= level
            best = np.where(eligible, b, np.iinfo(np.int64).min)
            # Best caps_b among strictly earlier eligible entries.
            prior = np.maximum.accumulate(np.concatenate(([np.iinfo(np.int64).min], best[:-1])))
            mine = a == level
            dominated[idx[mine & (prior >= b)]] = True
    return dominated


def prune_afd(lay: AfdLayouts) -> AfdLayouts:
    """Drop AFD layouts dominated by another layout.

    Within a group of layouts whose attention-unit lower limit is the same,
    fewer FFN units implies an upper limit at least as high (every upper limit
    is a search bound, a GPU cap or domain room, all non-increasing in N_F).
    Layouts outside a superpod domain have a lower limit that falls as N_F
    grows, so they are compared only with layouts of the same N_F.
    """
    if len(lay) == 0:
        return lay
    outside = lay.attention_lo > lay.attention_lo.min()
    groups = np.where(outside, lay.ffn_units + 1, 0) * 2 + lay.in_domain.astype(np.int64)
    mask = _dominated(lay.ffn_units, lay.seq_cap(), lay.slot_cap(), groups)
    return lay.take(~mask)


def prune_ep(lay: EpLayouts, objective: str) -> EpLayouts:
    """Drop EP layouts dominated under `objective`.

    Per-GPU throughput depends on the cap on b alone, so any layout with a
    larger cap dominates. Under total_tokens and min_gpus the unit count
    matters in both directions, so only layouts with the same N compete.
    """
    caps = lay.seq_cap()
    if objective == "tokens_per_gpu":
        units = np.zeros(len(lay), dtype=np.int64)
        groups = units
    else:
        units = lay.units
        groups = lay.units.astype(np.int64)
    mask = _dominated(units, caps, caps, groups)
    return lay.take(~mask)
