"""The optimum with continuous serving units, for the discrete-scaling penalty (docs/model.md §8).

AFD scales in whole units, so it cannot hit the attention to FFN ratio that balances the pools
exactly; the penalty is the gap between the integer optimum and the optimum where N_A may be
fractional, at one stage budget (the optimum's own pace for own-pace objectives: the integer
optimum is an at-budget optimum at its own TPOT, docs/model.md §12). What stays whole: the layout
(N_F, R: it fixes how experts sit on GPUs) and the sequences per GPU n.

For a layout c and n (micro-batch b = ceil(n / N_BO)) every constraint bounds a from above
(a b <= S-cap, a n <= T-cap with real caps, a <= serving_hi) and every objective improves
with a (or, for min_units, a just meets the demand), so the best real a has a closed form.
Within a micro-batch size the slots a n grow with n, so n = N_BO b, or the largest n allowed,
are the only candidates.
EP's unit count fixes its expert layout and its capacity moves with n: its penalty is zero.
"""

from __future__ import annotations

import numpy as np

from formulations.layouts import Layouts


def continuous_optimum(
    lay: Layouts,
    objective: str,
    pool_caps: tuple[np.ndarray, np.ndarray],
    demand_slots: float | None = None,
) -> float | None:
    """Best objective in program units with real serving units, or None.

    Program units: ratio -> T / U; total -> T; min_units -> U (T = a n, U = a + N_F).
    `pool_caps`: the real caps on S = a b and T = a n (formulations.layouts.real_caps): with a
    fractional N_A the slots are fractional too.
    """
    if len(lay) == 0:
        return None
    nbo = lay.micro_batches
    micro_cap = np.minimum(lay.cap("micro_batch"), lay.micro_hi)
    n_max = np.minimum.reduce(
        [lay.cap("sequences"), nbo * micro_cap, np.full(len(lay), lay.sequences.hi)]
    )
    top = int(max(micro_cap.max(), 0))
    b = np.arange(lay.micro_lo, top + 1, dtype=np.int64)[None, :]
    n = np.minimum(nbo * b, n_max[:, None])
    n = np.concatenate([n, n_max[:, None]], axis=1)
    b = -(-n // nbo)
    ok = (n >= lay.sequences.lo) & (b <= micro_cap[:, None])
    lo = lay.serving_lo[:, None].astype(float)
    hi = lay.serving_hi[:, None].astype(float)
    f = lay.ffn_units[:, None].astype(float)
    pool_micro = pool_caps[0][:, None]
    pool_seqs = pool_caps[1][:, None]
    n_f = np.maximum(n, 1).astype(float)
    a_max = np.minimum(np.minimum(hi, pool_micro / np.maximum(b, 1)), pool_seqs / n_f)
    if objective == "min_units":
        if demand_slots is None:
            raise ValueError("objective min_units needs a demand")
        a = np.maximum(lo, demand_slots / n_f)
        feasible = ok & (a <= a_max * (1 + 1e-12))
        value = np.where(feasible, a + f, np.inf)
        best = float(value.min())
        return best if np.isfinite(best) else None
    a = a_max
    feasible = ok & (a >= lo)
    slots = a * n
    value = slots / (a + f) if objective == "ratio" else slots
    value = np.where(feasible, value, -np.inf)
    best = float(value.max())
    return best if np.isfinite(best) else None
