"""The AFD integer program (MODEL.md sections 3, 5 and 6), one function per constraint family.

Decisions: the FFN layout c (N_F, R, in/out of a superpod domain) by one-hot
`y_c`; the attention units N_A and the sequence slots S = N_A * b split over
the layouts (`n_c`, `s_c`, zero unless c is chosen); the batch b (sequences
per attention GPU per micro-batch) as an integer. Every layout-dependent
quantity (G, D, fan-out, imbalance) enters only through the layout's integer
caps, so each constraint family is one linear row:

    b <= sum_c cap^seq_{k,c} y_c      (attention families k)
    S <= sum_c cap^slot_{k,c} y_c     (FFN families k)

The product S = N_A * b is exact through the binary expansion of b,
b = b_lo + sum_k 2^k beta_k, with S = N_A b_lo + sum_k 2^k w_k and
w_k = N_A beta_k linearised by the standard three inequalities (exact for a
binary times a bounded integer).

Valid inequalities make the relaxation tight: on layout c the reachable
points are (a, a * min(B_c, floor(P_c / a))), and `add_hull_cuts` adds the
facets of their upper concave hull in the disaggregated (perspective) form
`s_c <= alpha y_c + beta n_c`. The LP over the union of these hulls attains
the integer optimum of any objective that rewards S and charges N_A, so the
solver closes each Dinkelbach step at or near the root.

Objectives (all with integer coefficients, so CP-SAT solves the same model):
    tokens_per_gpu  max S / (N_A + N_F), by Dinkelbach: max den*S - num*(N_A + N_F)
    total_tokens    max S under the GPU cap (already in the layouts' N_A limits)
    min_gpus        min N_A + N_F subject to S >= the demand's slots
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from formulations.layouts import AfdLayouts
from formulations.program import IntegerProgram
from formulations.types import IntRange


@dataclass(frozen=True)
class AfdHandles:
    """Where the decisions live in the program, to read a solution back."""

    layout: list[int]
    attention: list[int]
    slots: list[int]
    seqs: int


@dataclass(frozen=True)
class AfdChoice:
    """One AFD deployment read back from a solution."""

    layout: int
    attention_units: int
    seqs: int


def add_layout_choice(prob: IntegerProgram, lay: AfdLayouts) -> list[int]:
    """One-hot over the candidate FFN layouts."""
    y = [prob.add_var(f"layout[{c}]", 0, 1) for c in range(len(lay))]
    prob.add_constraint({i: 1 for i in y}, lo=1, hi=1, family="choice", name="one_layout")
    return y


def add_attention_units(prob: IntegerProgram, lay: AfdLayouts, y: list[int]) -> list[int]:
    """n_c = N_A on the chosen layout, within that layout's limits (GPU cap, superpod domain)."""
    n = []
    for c in range(len(lay)):
        lo, hi = int(lay.attention_lo[c]), int(lay.attention_hi[c])
        n_c = prob.add_var(f"attention_units[{c}]", 0, hi)
        prob.add_constraint({n_c: 1, y[c]: -hi}, hi=0, family="units", name=f"attention_hi[{c}]")
        prob.add_constraint({n_c: 1, y[c]: -lo}, lo=0, family="units", name=f"attention_lo[{c}]")
        n.append(n_c)
    return n


def add_slots(prob: IntegerProgram, lay: AfdLayouts, y: list[int]) -> list[int]:
    """s_c = S on the chosen layout, zero elsewhere."""
    s = []
    for c, cap in enumerate(lay.slot_cap().tolist()):
        s_c = prob.add_var(f"slots[{c}]", 0, cap)
        prob.add_constraint({s_c: 1, y[c]: -cap}, hi=0, family="product", name=f"slots_on[{c}]")
        s.append(s_c)
    return s


def add_batch_product(
    prob: IntegerProgram, lay: AfdLayouts, n: list[int], s: list[int], seqs: IntRange
) -> int:
    """b and the exact product S = N_A * b through the binary expansion of b - b_lo."""
    seq_hi = min(seqs.hi, int(lay.seq_cap().max()))
    b = prob.add_var("seqs_per_gpu", seqs.lo, seq_hi)
    a_max = int(lay.attention_hi.max())
    span = seq_hi - seqs.lo
    bits = span.bit_length()
    expansion: dict[int, float] = {b: 1.0}
    product: dict[int, float] = {i: 1.0 for i in s}
    product.update({i: -seqs.lo for i in n})
    for k in range(bits):
        beta = prob.add_var(f"seqs_bit[{k}]", 0, 1)
        w = prob.add_var(f"units_times_bit[{k}]", 0, a_max)
        units = {i: -1.0 for i in n}
        prob.add_constraint({w: 1, beta: -a_max}, hi=0, family="product", name=f"w_le_bit[{k}]")
        prob.add_constraint({w: 1, **units}, hi=0, family="product", name=f"w_le_units[{k}]")
        prob.add_constraint(
            {w: 1, **units, beta: -a_max}, lo=-a_max, family="product", name=f"w_ge[{k}]"
        )
        expansion[beta] = -(2**k)
        product[w] = -(2**k)
    prob.add_constraint(expansion, lo=seqs.lo, hi=seqs.lo, family="product", name="b_bits")
    prob.add_constraint(product, lo=0, hi=0, family="product", name="slots=units*b")
    return b


def add_attention_caps(prob: IntegerProgram, lay: AfdLayouts, y: list[int], b: int) -> None:
    """b <= cap of the chosen layout, one row per attention family."""
    for family, caps in lay.seq_caps.items():
        terms = {b: 1.0, **{y[c]: -int(caps[c]) for c in range(len(lay))}}
        prob.add_constraint(terms, hi=0, family=family, name=family)


def add_ffn_caps(prob: IntegerProgram, lay: AfdLayouts, y: list[int], s: list[int]) -> None:
    """S <= cap of the chosen layout, one row per FFN family."""
    for family, caps in lay.slot_caps.items():
        terms = {**{i: 1.0 for i in s}, **{y[c]: -int(caps[c]) for c in range(len(lay))}}
        prob.add_constraint(terms, hi=0, family=family, name=family)


def upper_hull(
    seq_cap: int, slot_cap: int, lo: int, hi: int, seqs: IntRange
) -> list[tuple[int, int]]:
    """Vertices (a, S) of the upper-left concave hull of one layout's reachable points.

    Args:
        seq_cap, slot_cap: the layout's caps B_c on b and P_c on S.
        lo, hi: its limits on N_A.

    Reachable: S = a * b with b in [b_lo, min(B_c, floor(P_c / a))]; the best S
    for a given a is a * min(B_c, floor(P_c / a)). Points that do not raise the
    best S so far are dropped: they never matter to an objective that rewards S
    and charges a, and `s_c <= max S` covers them.
    """
    seq_cap = min(seq_cap, seqs.hi)
    hi = min(hi, slot_cap // max(seqs.lo, 1))
    if hi < lo:
        return []
    # Up to a = floor(P_c / B_c) the batch cap binds and S = a * B_c is one straight line:
    # its two ends are enough. Beyond it, only record highs of a * floor(P_c / a) matter.
    knee = min(max(slot_cap // max(seq_cap, 1), lo), hi)
    a = np.arange(knee, hi + 1, dtype=np.int64)
    best = a * np.minimum(seq_cap, slot_cap // a)
    records = np.concatenate(([True], best[1:] > np.maximum.accumulate(best)[:-1]))
    xs, ys = a[records], best[records]
    if knee > lo:
        xs = np.concatenate(([lo], xs))
        ys = np.concatenate(([lo * min(seq_cap, slot_cap // lo)], ys))
    hull: list[tuple[int, int]] = []
    for x, v in zip(xs.tolist(), ys.tolist(), strict=True):
        # Pop while the last turn is not strictly concave (cross product >= 0).
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (v - y1) - (y2 - y1) * (x - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append((x, v))
    return hull


def layout_hulls(lay: AfdLayouts, seqs: IntRange) -> list[list[tuple[int, int]]]:
    """`upper_hull` of every layout (computed once per program family, reused across steps)."""
    seq_caps, slot_caps = lay.seq_cap().tolist(), lay.slot_cap().tolist()
    los, his = lay.attention_lo.tolist(), lay.attention_hi.tolist()
    return [
        upper_hull(int(b), int(p), int(lo), int(hi), seqs)
        for b, p, lo, hi in zip(seq_caps, slot_caps, los, his, strict=True)
    ]


def add_hull_cuts(
    prob: IntegerProgram,
    y: list[int],
    n: list[int],
    s: list[int],
    hulls: list[list[tuple[int, int]]],
) -> None:
    """Facets of each layout's upper hull, in perspective form (valid inequalities)."""
    for c, hull in enumerate(hulls):
        if not hull:
            continue
        top = max(v for _, v in hull)
        prob.add_constraint({s[c]: 1, y[c]: -top}, hi=0, family="hull", name=f"hull_top[{c}]")
        for (x1, y1), (x2, y2) in zip(hull, hull[1:], strict=False):
            # (x2-x1) s <= (x2-x1) y1 y + (y2-y1) (n - x1 y), all integer coefficients.
            dx, dy = x2 - x1, y2 - y1
            prob.add_constraint(
                {s[c]: dx, n[c]: -dy, y[c]: -(dx * y1 - dy * x1)},
                hi=0,
                family="hull",
                name=f"hull[{c}]@{x1}",
            )


def build_afd_program(
    lay: AfdLayouts,
    seqs: IntRange,
    objective: str,
    *,
    ratio: tuple[int, int] = (0, 1),
    demand_slots: int | None = None,
    hulls: list[list[tuple[int, int]]] | None = None,
) -> tuple[IntegerProgram, AfdHandles]:
    """Assemble the AFD program for one micro-batch count.

    Args:
        lay: candidate layouts with their caps (already filtered and pruned).
        seqs: search range of b.
        objective: tokens_per_gpu, total_tokens or min_gpus.
        ratio: Dinkelbach's current ratio num/den for tokens_per_gpu.
        demand_slots: the S a min_gpus demand needs.
        hulls: `layout_hulls(lay, seqs)`, when the caller already has them.
    """
    prob = IntegerProgram(f"afd_nbo{lay.micro_batches}", maximize=objective != "min_gpus")
    y = add_layout_choice(prob, lay)
    n = add_attention_units(prob, lay, y)
    s = add_slots(prob, lay, y)
    b = add_batch_product(prob, lay, n, s, seqs)
    add_attention_caps(prob, lay, y, b)
    add_ffn_caps(prob, lay, y, s)
    add_hull_cuts(prob, y, n, s, hulls if hulls is not None else layout_hulls(lay, seqs))
    slots = {i: 1.0 for i in s}
    units: dict[int, float] = {i: 1.0 for i in n}
    units.update({y[c]: int(lay.ffn_units[c]) for c in range(len(lay))})
    if objective == "tokens_per_gpu":
        num, den = ratio
        terms = {i: den * c for i, c in slots.items()}
        for i, c in units.items():
            terms[i] = terms.get(i, 0) - num * c
        prob.set_objective(terms)
    elif objective == "total_tokens":
        prob.set_objective(slots)
    elif objective == "min_gpus":
        if demand_slots is None:
            raise ValueError("objective min_gpus needs a demand")
        prob.add_constraint(slots, lo=demand_slots, family="demand", name="demand")
        prob.set_objective(units)
    else:
        raise ValueError(f"unknown objective {objective}")
    return prob, AfdHandles(y, n, s, b)


def read_afd_choice(h: AfdHandles, values: list[float]) -> AfdChoice:
    """The layout, N_A and b a solution picked."""
    layout = int(np.argmax([values[i] for i in h.layout]))
    return AfdChoice(layout, int(round(values[h.attention[layout]])), int(round(values[h.seqs])))
