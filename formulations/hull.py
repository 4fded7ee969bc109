"""Reachable (serving units, sequence slots) points of a layout and their upper concave hull.

On layout c with a serving units the most sequences per serving GPU is n*(a) (`Layouts.
best_sequences`), so the most sequence slots T = a n is a * n*(a). Up to the knee where no pool
cap binds yet, n*(a) is constant and T grows linearly in a: its two ends are enough. Beyond it,
only record highs of a * n*(a) matter to an objective that rewards T and charges a. The facets of
the upper concave hull of these points are valid inequalities (docs/model.md §11) and every vertex
is a reachable deployment (Dinkelbach's warm start).
"""

from __future__ import annotations

import numpy as np

from formulations.deadline import Check, given
from formulations.layouts import Layouts

Hull = list[tuple[int, int]]
"""Vertices (a, T) of one layout's upper-left concave hull, a increasing."""


def knee(lay: Layouts) -> np.ndarray:
    """Per layout: the largest a at which no pool cap binds n*(a) yet (below serving_lo: none)."""
    nbo = lay.micro_batches
    flat = np.minimum.reduce(
        [lay.cap("sequences"), nbo * lay.cap("micro_batch"), np.full(len(lay), lay.sequences.hi)]
    )
    flat = np.maximum(flat, 1)
    by_micro = lay.cap("pool_micro") // -(-flat // nbo)
    by_flight = lay.cap("pool_sequences") // flat
    return np.minimum(np.minimum(by_micro, by_flight), lay.serving_hi)


def _records(
    a: np.ndarray, caps: tuple[int, int, int, int], nbo: int, n_lo: int, n_hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """Feasible (a, a * n*(a)) for the serving counts `a` of one layout, record highs only."""
    micro_cap, seq_cap, pool_micro, pool_seqs = caps
    best = np.minimum(seq_cap, nbo * np.minimum(micro_cap, pool_micro // a))
    best = np.minimum(np.minimum(best, pool_seqs // a), n_hi)
    ok = best >= n_lo
    a, slots = a[ok], a[ok] * best[ok]
    if len(a) == 0:
        return a, slots
    records = np.concatenate(([True], slots[1:] > np.maximum.accumulate(slots)[:-1]))
    return a[records], slots[records]


def all_points(lay: Layouts, check: Check | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The points (a, T) that can matter on every layout: the ends of the flat part, then every
    record of a * n*(a) beyond the knee, for a with n*(a) >= sequences.lo.

    The work is layouts x serving-unit counts: `check` is called once per layout (it raises
    `deadline.Expired` when the caller's time is up)."""
    check = given(check)
    caps = [
        lay.cap(b).tolist() for b in ("micro_batch", "sequences", "pool_micro", "pool_sequences")
    ]
    knees = knee(lay).tolist()
    los, his = lay.serving_lo.tolist(), lay.serving_hi.tolist()
    nbo, n_lo, n_hi = lay.micro_batches, lay.sequences.lo, lay.sequences.hi
    out = []
    for c, (lo, hi, k) in enumerate(zip(los, his, knees, strict=True)):
        check()
        if hi < lo:
            out.append((np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)))
            continue
        k = min(max(k, lo - 1), hi)
        flat = [lo, k] if k >= lo else []
        a = np.concatenate(
            (np.array(flat, dtype=np.int64), np.arange(max(k + 1, lo), hi + 1, dtype=np.int64))
        )
        cap_c = (caps[0][c], caps[1][c], caps[2][c], caps[3][c])
        out.append(_records(np.unique(np.maximum(a, 1)), cap_c, nbo, n_lo, n_hi))
    return out


def upper_hull(xs: np.ndarray, ys: np.ndarray) -> Hull:
    """Upper-left concave hull of points sorted by x (strictly concave turns only)."""
    hull: Hull = []
    for x, v in zip(xs.tolist(), ys.tolist(), strict=True):
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (v - y1) - (y2 - y1) * (x - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append((int(x), int(v)))
    return hull


def layout_hulls(lay: Layouts, check: Check | None = None) -> list[Hull]:
    """The hull of every layout (computed once per program family, reused across steps);
    `check` is called once per layout (`all_points`)."""
    check = given(check)
    hulls = []
    for xs, ys in all_points(lay, check):
        check()
        hulls.append(upper_hull(xs, ys))
    return hulls


def best_vertex(lay: Layouts, hulls: list[Hull]) -> tuple[int, int, int] | None:
    """(layout, a, T) of the hull vertex with the most slots per unit T / (a + f): the best
    ratio over all reachable points of all layouts (a ratio peaks at a hull vertex)."""
    best: tuple[float, tuple[int, int, int]] | None = None
    for c, hull in enumerate(hulls):
        f = int(lay.ffn_units[c])
        for a, slots in hull:
            ratio = slots / (a + f)
            if best is None or ratio > best[0]:
                best = (ratio, (c, a, slots))
    return None if best is None else best[1]
