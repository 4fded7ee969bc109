"""The stage-level scheme: own-pace optima from at-budget programs (docs/model.md §12).

A deployment's own pace: TPOT(d) = (t_g + N_layers N_BO stage(d)) / L_accept, and its tokens/s
per GPU is R(d) / TPOT(d), R = sequences in flight per GPU (Little's law). For a TPOT level theta
let F(theta) be the most sequences in flight per GPU among deployments with TPOT <= theta: the
at-budget program with every time cap computed at the stage budget theta allows (per N_BO).

Proof of the scheme. Any d with TPOT(d) <= theta has R(d) <= F(theta), so with an incumbent worth
lambda it can beat lambda only if R(d) / TPOT(d) > lambda, i.e. TPOT(d) < F(theta) / lambda. The
next level is therefore theta' = F(theta) / lambda, and the interval [theta', theta] is settled
by one program optimum. The levels fall until no deployment has TPOT <= theta': the incumbent is
then optimal. The same holds with R the total sequences in flight (objective total_tokens).
Each level's own optimum d_k also gives an incumbent worth at least F(theta_k) / theta_k.

Numerical slack: caps admit a budget overrun of REL_TOL (1e-9), so theta' is lowered by
LEVEL_STEP = 2e-9 to make progress certain; an improvement smaller than about 1e-9 relative can
be missed, nothing larger.

Incumbents: for fixed layout and serving units the own pace grows with the batch (every stage
time t(b) has t(b)/b non-increasing: affine with a non-negative intercept, or a calibrated GEMM
whose rate does not fall), so the best sequences per GPU are n*(a) or the multiple of N_BO below
it; `candidates` lists those for the serving-unit counts worth trying.
"""

from __future__ import annotations

import numpy as np

from formulations.deadline import Check, given
from formulations.hull import Hull
from formulations.layouts import REL_TOL, Layouts

LEVEL_STEP = 2 * REL_TOL
"""Relative decrease of the TPOT level between steps (docs/model.md §12)."""
FULL_SCAN = 200_000
"""Layouts x serving-unit counts up to which every count is a candidate."""


def next_level(best_in_flight: float, incumbent: float) -> float:
    """theta' = F(theta) / lambda, lowered by LEVEL_STEP (seconds of TPOT)."""
    return best_in_flight / incumbent * (1.0 - LEVEL_STEP)


def full_scan(lay: Layouts) -> bool:
    """Whether every serving-unit count of every layout is a candidate (small grids)."""
    return int(np.maximum(lay.serving_hi - lay.serving_lo + 1, 0).sum()) <= FULL_SCAN


def candidates(
    lay: Layouts, hulls: list[Hull] | None, check: Check | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(layout index, serving units, sequences per GPU) worth evaluating at own pace.

    Every serving-unit count when the grid is small, else the hull vertices and the knee ends;
    for each, n*(a) and the largest multiple of N_BO not above it (both if feasible). `check`
    is called once per layout.
    """
    check = given(check)
    span = np.maximum(lay.serving_hi - lay.serving_lo + 1, 0)
    rows: list[np.ndarray] = []
    units: list[np.ndarray] = []
    if hulls is None or int(span.sum()) <= FULL_SCAN:
        for c in np.flatnonzero(span).tolist():
            check()
            a = np.arange(lay.serving_lo[c], lay.serving_hi[c] + 1, dtype=np.int64)
            rows.append(np.full(a.shape, c, dtype=np.int64))
            units.append(a)
    else:
        for c, hull in enumerate(hulls):
            check()
            a = np.array(sorted({x for x, _ in hull} | {int(lay.serving_lo[c])}), dtype=np.int64)
            a = a[(a >= lay.serving_lo[c]) & (a <= lay.serving_hi[c])]
            rows.append(np.full(a.shape, c, dtype=np.int64))
            units.append(a)
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    idx, a = np.concatenate(rows), np.concatenate(units)
    best = lay.best_sequences(a, idx)
    nbo = lay.micro_batches
    multiple = (best // nbo) * nbo
    idx = np.concatenate([idx, idx])
    a = np.concatenate([a, a])
    n = np.concatenate([best, multiple])
    ok = n >= lay.sequences.lo
    return idx[ok], a[ok], n[ok]
