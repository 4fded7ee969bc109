"""The deployment integer program at one stage budget, for every architecture (docs/model.md §11).

Decisions: the layout c by one-hot y_c; the serving units a (AFD: N_A; EP: fixed by the layout);
the micro-batch size b and the sequences in flight n per serving GPU, tied by
N_BO (b - 1) < n <= N_BO b. Every layout-dependent quantity enters only through the layout's
integer caps (formulations.layouts), so each constraint family is one linear row per layout:

    b <= cap y_c, n <= cap y_c, S_c <= cap y_c, T_c <= cap y_c

for the four batch quantities (formulations.families): b, n, S = a b and T = a n.

Two encodings, chosen by the layouts:
- serving units fixed on every layout (EP, or AFD with N_A pinned): b, n are split over the
  layouts (b_c, n_c, zero off the chosen one: the convex-hull form of "layout c and batch b"),
  and S_c = a_c b_c, T_c = a_c n_c are linear;
- serving units free (AFD): b and n are global; S = a b is exact through the binary expansion of
  b - b_lo, and T = N_BO S - a k with k = N_BO b - n in [0, N_BO - 1], through the binary
  expansion of k (each bit times the bounded integer a is linearised by three inequalities).
  Facets of each layout's upper hull of reachable (a, T) points, in perspective form
  `T_c <= alpha y_c + beta a_c`, make the LP relaxation tight (formulations.hull).

Objectives over T (sequence slots) and U = a + N_F (units), all with integer coefficients, so
CP-SAT solves the same model:
    ratio      max den*T - num*U   (Dinkelbach's step for the ratio num/den; per-GPU objectives)
    total      max T
    min_units  min U subject to T >= a demand in slots
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from formulations import families
from formulations.deadline import Check, given
from formulations.hull import Hull, layout_hulls
from formulations.layouts import Layouts
from formulations.program import IntegerProgram

OBJECTIVES = ("ratio", "total", "min_units")


@dataclass(frozen=True)
class Handles:
    """Where the decisions live in the program, to read a solution back."""

    layout: list[int]
    serving: list[int]
    """a_c per layout (a variable only when serving units are free)."""
    sequences: list[int]
    """n: one global variable, or n_c per layout."""
    fixed: bool


@dataclass(frozen=True)
class Choice:
    """One deployment read back from a solution: layout, serving units, sequences per GPU."""

    layout: int
    serving: int
    sequences: int


def fixed_serving(lay: Layouts) -> bool:
    return bool(np.all(lay.serving_lo == lay.serving_hi))


def add_layout_choice(prob: IntegerProgram, lay: Layouts) -> list[int]:
    """One-hot over the candidate layouts."""
    y = [prob.add_var(f"layout[{c}]", 0, 1) for c in range(len(lay))]
    prob.add_constraint({i: 1 for i in y}, lo=1, hi=1, family="choice", name="one_layout")
    return y


def add_serving_units(prob: IntegerProgram, lay: Layouts, y: list[int]) -> list[int]:
    """a_c = the serving units on the chosen layout, within its limits; zero elsewhere."""
    a = []
    for c in range(len(lay)):
        lo, hi = int(lay.serving_lo[c]), int(lay.serving_hi[c])
        a_c = prob.add_var(f"serving_units[{c}]", 0, hi)
        prob.add_constraint({a_c: 1, y[c]: -hi}, hi=0, family="units", name=f"serving_hi[{c}]")
        prob.add_constraint({a_c: 1, y[c]: -lo}, lo=0, family="units", name=f"serving_lo[{c}]")
        a.append(a_c)
    return a


def _family_rows(
    prob: IntegerProgram, lay: Layouts, y: list[int], batch: str, amount: list[dict[int, float]]
) -> None:
    """One row per layout and family of `batch`: amount_c <= cap_c y_c (per-layout amounts)."""
    for fam in families.of(lay.architecture):
        if fam.batch != batch or fam.name not in lay.caps:
            continue
        for c, caps in enumerate(lay.caps[fam.name].tolist()):
            terms = dict(amount[c])
            terms[y[c]] = terms.get(y[c], 0) - int(caps)
            prob.add_constraint(terms, hi=0, family=fam.name, name=f"{fam.name}[{c}]")


def _family_row(prob: IntegerProgram, lay: Layouts, y: list[int], batch: str, var: int) -> None:
    """One row per family of `batch` on a global amount: var <= sum_c cap_c y_c."""
    for fam in families.of(lay.architecture):
        if fam.batch != batch or fam.name not in lay.caps:
            continue
        terms: dict[int, float] = {var: 1.0}
        terms.update({y[c]: -int(cap) for c, cap in enumerate(lay.caps[fam.name].tolist())})
        prob.add_constraint(terms, hi=0, family=fam.name, name=fam.name)


def add_fixed_batch(prob: IntegerProgram, lay: Layouts, y: list[int]) -> tuple[list[int], dict]:
    """b_c, n_c per layout (serving units fixed): returns (n_c, T terms)."""
    nbo, n_lo = lay.micro_batches, lay.sequences.lo
    micro_cap = np.minimum(lay.cap("micro_batch"), lay.micro_hi)
    seq_cap = np.minimum(lay.cap("sequences"), lay.sequences.hi)
    b, n = [], []
    for c in range(len(lay)):
        b_c = prob.add_var(f"micro_batch[{c}]", 0, max(int(micro_cap[c]), 0))
        n_c = prob.add_var(f"sequences[{c}]", 0, max(int(seq_cap[c]), 0))
        prob.add_constraint({n_c: 1, y[c]: -n_lo}, lo=0, family="batch", name=f"n_lo[{c}]")
        prob.add_constraint({b_c: nbo, n_c: -1}, lo=0, family="batch", name=f"n_le_nbo_b[{c}]")
        prob.add_constraint(
            {b_c: nbo, n_c: -1, y[c]: -(nbo - 1)}, hi=0, family="batch", name=f"n_gt[{c}]"
        )
        b.append(b_c)
        n.append(n_c)
    a = [int(v) for v in lay.serving_lo.tolist()]
    _family_rows(prob, lay, y, "micro_batch", [{b[c]: 1} for c in range(len(lay))])
    _family_rows(prob, lay, y, "sequences", [{n[c]: 1} for c in range(len(lay))])
    _family_rows(prob, lay, y, "pool_micro", [{b[c]: a[c]} for c in range(len(lay))])
    _family_rows(prob, lay, y, "pool_sequences", [{n[c]: a[c]} for c in range(len(lay))])
    return n, {n[c]: a[c] for c in range(len(lay))}


def _product(
    prob: IntegerProgram, units: list[int], a_max: int, span: int, label: str
) -> tuple[list[int], list[int]]:
    """Bits x_k of an integer in [0, span] and w_k = A x_k (A = sum of `units`), exactly."""
    bits, prods = [], []
    for k in range(span.bit_length()):
        x = prob.add_var(f"{label}_bit[{k}]", 0, 1)
        w = prob.add_var(f"{label}_units_times_bit[{k}]", 0, a_max)
        a = {i: -1.0 for i in units}
        prob.add_constraint({w: 1, x: -a_max}, hi=0, family="product", name=f"{label}_w_le_x[{k}]")
        prob.add_constraint({w: 1, **a}, hi=0, family="product", name=f"{label}_w_le_a[{k}]")
        prob.add_constraint(
            {w: 1, **a, x: -a_max}, lo=-a_max, family="product", name=f"{label}_w_ge[{k}]"
        )
        bits.append(x)
        prods.append(w)
    return bits, prods


def add_free_batch(
    prob: IntegerProgram,
    lay: Layouts,
    y: list[int],
    a: list[int],
    hulls: list[Hull],
    check: Check | None = None,
) -> tuple[int, dict]:
    """Global b, n and the exact products S = a b, T = a n (serving units free)."""
    nbo = lay.micro_batches
    micro_lo = lay.micro_lo
    micro_hi = max(min(lay.micro_hi, int(lay.cap("micro_batch").max())), micro_lo)
    seq_hi = max(min(lay.sequences.hi, int(lay.cap("sequences").max())), lay.sequences.lo)
    b = prob.add_var("micro_batch", micro_lo, micro_hi)
    n = prob.add_var("sequences", lay.sequences.lo, seq_hi)
    prob.add_constraint({b: nbo, n: -1}, lo=0, hi=nbo - 1, family="batch", name="micro_batch")
    a_max = int(lay.serving_hi.max())
    beta, w = _product(prob, a, a_max, micro_hi - micro_lo, "micro")
    prob.add_constraint(
        {b: 1, **{x: -(2**k) for k, x in enumerate(beta)}},
        lo=micro_lo,
        hi=micro_lo,
        family="product",
        name="micro_bits",
    )
    kappa, v = _product(prob, a, a_max, nbo - 1, "gap")
    prob.add_constraint(
        {b: nbo, n: -1, **{x: -(2**k) for k, x in enumerate(kappa)}},
        lo=0,
        hi=0,
        family="product",
        name="gap_bits",
    )
    s_c = [
        prob.add_var(f"micro_slots[{c}]", 0, max(int(m), 0))
        for c, m in enumerate(np.minimum(lay.cap("pool_micro"), lay.serving_hi * micro_hi).tolist())
    ]
    t_c = [
        prob.add_var(f"slots[{c}]", 0, max(int(m), 0))
        for c, m in enumerate(
            np.minimum(lay.cap("pool_sequences"), lay.serving_hi * seq_hi).tolist()
        )
    ]
    # S = a b_lo + sum 2^k w_k, split over the layouts.
    s_sum = {i: 1.0 for i in s_c}
    s_sum.update({i: -float(micro_lo) for i in a})
    s_sum.update({wk: -(2.0**k) for k, wk in enumerate(w)})
    prob.add_constraint(s_sum, lo=0, hi=0, family="product", name="micro_slots=units*b")
    # T = N_BO S - a k = N_BO (a b_lo + sum 2^k w_k) - sum 2^j v_j.
    t_sum = {i: 1.0 for i in t_c}
    t_sum.update({i: -float(nbo * micro_lo) for i in a})
    t_sum.update({wk: -float(nbo * 2**k) for k, wk in enumerate(w)})
    t_sum.update({vj: float(2**j) for j, vj in enumerate(v)})
    prob.add_constraint(t_sum, lo=0, hi=0, family="product", name="slots=units*n")
    for c in range(len(lay)):
        for var, top in ((s_c[c], prob.variables[s_c[c]].hi), (t_c[c], prob.variables[t_c[c]].hi)):
            prob.add_constraint({var: 1, y[c]: -top}, hi=0, family="product", name=f"on[{c}]")
    rows = range(len(lay))
    _family_row(prob, lay, y, "micro_batch", b)
    _family_row(prob, lay, y, "sequences", n)
    _family_rows(prob, lay, y, "pool_micro", [{s_c[c]: 1} for c in rows])
    _family_rows(prob, lay, y, "pool_sequences", [{t_c[c]: 1} for c in rows])
    add_hull_cuts(prob, y, a, t_c, hulls, check)
    return n, {i: 1.0 for i in t_c}


def add_hull_cuts(
    prob: IntegerProgram,
    y: list[int],
    a: list[int],
    t: list[int],
    hulls: list[Hull],
    check: Check | None = None,
) -> None:
    """Facets of each layout's upper hull of (a, T), in perspective form (valid inequalities);
    `check` is called once per layout."""
    check = given(check)
    for c, hull in enumerate(hulls):
        check()
        if not hull:
            prob.add_constraint({y[c]: 1}, hi=0, family="hull", name=f"hull_empty[{c}]")
            continue
        top = max(v for _, v in hull)
        prob.add_constraint({t[c]: 1, y[c]: -top}, hi=0, family="hull", name=f"hull_top[{c}]")
        for (x1, y1), (x2, y2) in zip(hull, hull[1:], strict=False):
            # (x2-x1) T <= (x2-x1) y1 y + (y2-y1) (a - x1 y): integer coefficients.
            dx, dy = x2 - x1, y2 - y1
            prob.add_constraint(
                {t[c]: dx, a[c]: -dy, y[c]: -(dx * y1 - dy * x1)},
                hi=0,
                family="hull",
                name=f"hull[{c}]@{x1}",
            )


def build(
    lay: Layouts,
    objective: str,
    *,
    ratio: tuple[int, int] = (0, 1),
    demand_slots: int | None = None,
    hulls: list[Hull] | None = None,
    check: Check | None = None,
) -> tuple[IntegerProgram, Handles]:
    """Assemble the program for one set of layouts (one micro-batch count, one stage budget).

    Args:
        lay: candidate layouts with their caps (filtered and pruned).
        objective: ratio, total or min_units (module docstring).
        ratio: Dinkelbach's current ratio num/den (objective ratio).
        demand_slots: the T a min_units demand needs.
        hulls: `layout_hulls(lay)`, when the caller already has them.
        check: called once per layout by the loops over layouts (`deadline.Check`).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective}")
    prob = IntegerProgram(
        f"{lay.architecture}_nbo{lay.micro_batches}", maximize=objective != "min_units"
    )
    y = add_layout_choice(prob, lay)
    fixed = fixed_serving(lay)
    if fixed:
        seqs, slots = add_fixed_batch(prob, lay, y)
        serving: list[int] = []
        units = {y[c]: int(lay.serving_lo[c] + lay.ffn_units[c]) for c in range(len(lay))}
    else:
        serving = add_serving_units(prob, lay, y)
        n, slots = add_free_batch(
            prob, lay, y, serving, hulls if hulls is not None else layout_hulls(lay, check), check
        )
        seqs = [n]
        units = {i: 1 for i in serving}
        units.update({y[c]: int(lay.ffn_units[c]) for c in range(len(lay))})
    if objective == "ratio":
        num, den = ratio
        terms = {i: den * c for i, c in slots.items()}
        for i, c in units.items():
            terms[i] = terms.get(i, 0) - num * c
        prob.set_objective(terms)
    elif objective == "total":
        prob.set_objective(slots)
    else:
        if demand_slots is None:
            raise ValueError("objective min_units needs a demand")
        prob.add_constraint(slots, lo=demand_slots, family="demand", name="demand")
        prob.set_objective(units)
    return prob, Handles(y, serving, seqs, fixed)


def read_choice(lay: Layouts, h: Handles, values: list[float]) -> Choice:
    """The layout, serving units and sequences per GPU a solution picked."""
    c = int(np.argmax([values[i] for i in h.layout]))
    if h.fixed:
        return Choice(c, int(lay.serving_lo[c]), int(round(values[h.sequences[c]])))
    return Choice(c, int(round(values[h.serving[c]])), int(round(values[h.sequences[0]])))
