"""Exact dominance pruning of layouts before the integer programs are built (docs/model.md §11).

Layout c' dominates c when it uses no more FFN-only units, allows every serving-unit count c
allows, and each of its four caps (on b, n, S = a b, T = a n) is at least c's: any deployment on c
then fits on c' with the same serving units and batch and no more GPUs, which is no worse under
every objective. Removing dominated layouts shrinks the one-hot without changing the optimum.

Under a per-GPU objective a layout whose serving units are fixed (EP) is worth its best
sequences per GPU alone (its throughput per GPU does not depend on its size), so among such
layouts only the best survive.
"""

from __future__ import annotations

import numpy as np

from formulations.deadline import Check, given
from formulations.layouts import Layouts

BATCHES = ("micro_batch", "sequences", "pool_micro", "pool_sequences")


def _caps(lay: Layouts) -> np.ndarray:
    """The four caps per layout, each clipped to what the serving side can ever use, so caps
    beyond every reachable batch compare equal."""
    top_micro = np.minimum(lay.cap("micro_batch"), lay.micro_hi)
    top_seqs = np.minimum(lay.cap("sequences"), lay.sequences.hi)
    a_hi = np.maximum(lay.serving_hi, 0)
    return np.stack(
        [
            top_micro,
            top_seqs,
            np.minimum(lay.cap("pool_micro"), a_hi * top_micro),
            np.minimum(lay.cap("pool_sequences"), a_hi * top_seqs),
        ],
        axis=1,
    )


def dominated(lay: Layouts, check: Check | None = None) -> np.ndarray:
    """Mask of layouts dominated by another (exact duplicates: all but the first survive).

    Each layout is compared with the survivors so far (quadratic at worst): `check` is called
    once per layout."""
    check = given(check)
    n = len(lay)
    out = np.zeros(n, dtype=bool)
    if n < 2:
        return out
    caps = _caps(lay)
    f, lo, hi = lay.ffn_units, lay.serving_lo, lay.serving_hi
    # A dominator sorts before the layouts it dominates.
    order = np.lexsort((-hi, lo, *(-caps[:, k] for k in reversed(range(caps.shape[1]))), f))
    kept: list[int] = []
    for i in order.tolist():
        check()
        if kept:
            k = np.asarray(kept)
            beats = (
                (f[k] <= f[i])
                & (lo[k] <= lo[i])
                & (hi[k] >= hi[i])
                & np.all(caps[k] >= caps[i], axis=1)
            )
            if beats.any():
                out[i] = True
                continue
        kept.append(i)
    return out


def prune(lay: Layouts, per_gpu: bool, check: Check | None = None) -> Layouts:
    """`lay` without dominated layouts (`per_gpu`: the objective is a per-GPU ratio);
    `check` as in `dominated`."""
    if len(lay) == 0:
        return lay
    if per_gpu and np.all(lay.serving_lo == lay.serving_hi) and np.all(lay.ffn_units == 0):
        best = lay.best_sequences(lay.serving_lo)
        return lay.take(np.flatnonzero(best == best.max())[:1])
    return lay.take(~dominated(lay, check))
