"""The AFD optimum with continuous attention-unit counts, for the discrete-scaling penalty.

MODEL.md section 6: AFD scales in whole units, so it cannot hit the attention
to FFN ratio that balances the pools exactly; the penalty is the gap between
the integer optimum and the optimum where N_A may be fractional. What stays
whole: the FFN layout (N_F, R: it fixes how experts sit on GPUs) and the
per-GPU batch b. That is the relaxation behind alpha_exact versus alpha_AFD.

EP has no such term: its unit count fixes its expert layout and its capacity
moves with the per-GPU batch, so its penalty is zero by construction.

Given a layout c and a batch b, every constraint is an upper bound on N_A
(S = N_A b <= slot cap, N_A <= its upper limit) and every objective improves
with N_A (or, for min_gpus, N_A just meets the demand), so the real-valued
best N_A has a closed form; the maximum over the finite (c, b) grid is exact.
"""

from __future__ import annotations

import numpy as np

from formulations.layouts import AfdLayouts
from formulations.types import IntRange


def afd_continuous_optimum(
    lay: AfdLayouts, seqs: IntRange, objective: str, demand_slots: float | None = None
) -> tuple[float, float, int, int] | None:
    """Best objective in program units with real N_A: (value, N_A, layout, b), or None.

    Program units: tokens_per_gpu -> S / (N_A + N_F); total_tokens -> S;
    min_gpus -> N_A + N_F.
    """
    if len(lay) == 0:
        return None
    b = np.arange(seqs.lo, seqs.hi + 1)[None, :]
    seq_ok = b <= lay.seq_cap()[:, None]
    slot_cap = lay.slot_cap()[:, None].astype(float)
    lo = lay.attention_lo[:, None].astype(float)
    hi = lay.attention_hi[:, None].astype(float)
    f = lay.ffn_units[:, None].astype(float)
    if objective == "min_gpus":
        if demand_slots is None:
            raise ValueError("objective min_gpus needs a demand")
        n_a = np.maximum(lo, demand_slots / b)
        ok = seq_ok & (n_a <= hi) & (n_a * b <= slot_cap * (1 + 1e-12))
        value = np.where(ok, n_a + f, np.inf)
        flat = int(np.argmin(value))
    else:
        n_a = np.minimum(hi, slot_cap / b)
        ok = seq_ok & (n_a >= lo)
        slots = n_a * b
        value = slots / (n_a + f) if objective == "tokens_per_gpu" else slots
        value = np.where(ok, value, -np.inf)
        flat = int(np.argmax(value))
    c, j = np.unravel_index(flat, value.shape)
    if not np.isfinite(value[c, j]):
        return None
    return float(value[c, j]), float(n_a[c, j]), int(c), int(b[0, j])
