"""A fixed deployment shape at its best batch, at its own pace (docs/model.md §19.5).

A *shape* is a deployment without its batch: architecture, pool units, redundant experts and
micro-batches. Under one hardware sample a shape serves its best own-pace tokens/s per GPU
over the sequences per GPU `n` that fit and meet the TPOT target. By the lemma of
docs/model.md §12.2 (every stage time is affine with a non-negative intercept in the
micro-batch, or a calibrated GEMM whose rate does not fall) that best `n` is the largest
feasible `n*` or the multiple of `N_BO` below it, and `n*` is exact from the integer caps of
§11.2 computed at the target's stage budget. A shape with no feasible `n` serves 0.
"""

from __future__ import annotations

import numpy as np

from formulations import architectures
from formulations.costs import CostModel
from formulations.layouts import Layouts, with_caps


def best_own_pace(cm: CostModel, lay: Layouts) -> tuple[np.ndarray, np.ndarray]:
    """(tokens/s per GPU, sequences per GPU) of each pinned layout (serving_lo == serving_hi)
    at its best own-pace batch under `cm` and the target; (0, 0) where nothing fits."""
    arch = architectures.get(lay.architecture)

    def quantity(layouts: Layouts, fam: object, x: np.ndarray) -> np.ndarray:
        return arch.family_quantity(cm, layouts, fam, x)

    budget = float(cm.stage_budget_s(lay.micro_batches))
    capped = with_caps(lay, quantity, "memory", 0.0, cm.usable_bytes)
    capped = with_caps(capped, quantity, "time", budget, cm.usable_bytes)
    serving = lay.serving_lo
    n_star = capped.best_sequences(serving)
    n_lo, nbo = lay.sequences.lo, lay.micro_batches
    below = nbo * (n_star // nbo)
    best_value = np.zeros(len(lay))
    best_n = np.zeros(len(lay), dtype=np.int64)
    idx = np.arange(len(lay))
    per_seq = cm.workload.dp_imbalance * cm.ranks_per_gpu(serving, serving + lay.ffn_units)
    for n in (n_star, below):
        ok = (n >= n_lo) & (budget > 0)
        n_eval = np.where(ok, n, max(n_lo, 1))
        s = arch.layout_stages(cm, lay, idx, serving, n_eval)
        tpot_s = cm.tpot_s(s.stage_s, nbo)
        value = np.where(ok, per_seq * n_eval / tpot_s, 0.0)
        better = value > best_value
        best_value = np.where(better, value, best_value)
        best_n = np.where(better, n_eval, best_n)
    return best_value, best_n
