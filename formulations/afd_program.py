"""The AFD integer program (MODEL.md sections 3, 5 and 6), one function per constraint family.

Decisions: the FFN layout (N_F, R, in/out of a superpod domain) by one-hot
`y_c`; the attention units N_A by one-hot `z_a`; the batch b (sequences per
attention GPU per micro-batch) as an integer. The product S = N_A * b (the
sequence slots the FFN pool must serve) is linearised exactly by splitting b
over the one-hot of N_A:

    b = sum_a beta_a,   beta_a <= ub_a * z_a,   S = sum_a a * beta_a,

the convex-hull form of the disjunction "N_A = a and S = a b". Every
layout-dependent quantity (G, D, fan-out, imbalance) enters only through the
layout's integer caps, so each constraint family is one linear row:

    b <= sum_c cap^seq_{k,c} y_c      (attention families k)
    S <= sum_c cap^slot_{k,c} y_c     (FFN families k)

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
    attention_values: list[int]
    seqs: int
    split: list[int]


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


def add_attention_units(
    prob: IntegerProgram, lay: AfdLayouts, y: list[int], attention: IntRange
) -> tuple[list[int], list[int]]:
    """One-hot over N_A, within each layout's own limits (GPU cap, superpod domain)."""
    values = list(range(max(attention.lo, int(lay.attention_lo.min())),
                        min(attention.hi, int(lay.attention_hi.max())) + 1))
    z = [prob.add_var(f"attention_units={a}", 0, 1) for a in values]
    prob.add_constraint({i: 1 for i in z}, lo=1, hi=1, family="choice", name="one_attention_count")
    n_a = dict(zip(z, values, strict=True))
    upper = {**n_a, **{y[c]: -int(lay.attention_hi[c]) for c in range(len(lay))}}
    prob.add_constraint(upper, hi=0, family="units", name="attention_units<=layout_limit")
    lower = {**n_a, **{y[c]: -int(lay.attention_lo[c]) for c in range(len(lay))}}
    prob.add_constraint(lower, lo=0, family="units", name="attention_units>=layout_limit")
    return z, values


def add_batch_product(
    prob: IntegerProgram, lay: AfdLayouts, z: list[int], values: list[int], seqs: IntRange
) -> tuple[int, list[int]]:
    """b and its split over the N_A one-hot; returns (b, beta) with S = sum a * beta_a."""
    seq_hi = min(seqs.hi, int(lay.seq_cap().max()))
    b = prob.add_var("seqs_per_gpu", seqs.lo, seq_hi)
    slot_max = int(lay.slot_cap().max())
    beta = []
    for zi, a in zip(z, values, strict=True):
        ub = min(seq_hi, slot_max // a)
        beta_a = prob.add_var(f"seqs_if_attention={a}", 0, ub)
        prob.add_constraint({beta_a: 1, zi: -ub}, hi=0, family="product", name=f"split[{a}]")
        beta.append(beta_a)
    prob.add_constraint({b: 1, **{i: -1 for i in beta}}, lo=0, hi=0, family="product", name="split_sum")
    return b, beta


def slots_terms(beta: list[int], values: list[int]) -> dict[int, float]:
    """S = N_A * b as a linear expression of the split."""
    return {i: a for i, a in zip(beta, values, strict=True)}


def add_attention_caps(prob: IntegerProgram, lay: AfdLayouts, y: list[int], b: int) -> None:
    """b <= cap of the chosen layout, one row per attention family."""
    for family, caps in lay.seq_caps.items():
        terms = {b: 1.0, **{y[c]: -int(caps[c]) for c in range(len(lay))}}
        prob.add_constraint(terms, hi=0, family=family, name=family)


def add_ffn_caps(prob: IntegerProgram, lay: AfdLayouts, y: list[int], slots: dict[int, float]) -> None:
    """S <= cap of the chosen layout, one row per FFN family."""
    for family, caps in lay.slot_caps.items():
        terms = {**slots, **{y[c]: -int(caps[c]) for c in range(len(lay))}}
        prob.add_constraint(terms, hi=0, family=family, name=family)


def units_terms(lay: AfdLayouts, y: list[int], z: list[int], values: list[int]) -> dict[int, float]:
    """N_A + N_F as a linear expression."""
    terms: dict[int, float] = {i: a for i, a in zip(z, values, strict=True)}
    terms.update({y[c]: int(lay.ffn_units[c]) for c in range(len(lay))})
    return terms


def build_afd_program(
    lay: AfdLayouts,
    attention: IntRange,
    seqs: IntRange,
    objective: str,
    *,
    ratio: tuple[int, int] = (0, 1),
    demand_slots: int | None = None,
) -> tuple[IntegerProgram, AfdHandles]:
    """Assemble the AFD program for one micro-batch count.

    Args:
        lay: candidate layouts with their caps (already filtered and pruned).
        attention, seqs: search ranges of N_A and b.
        objective: tokens_per_gpu, total_tokens or min_gpus.
        ratio: Dinkelbach's current ratio num/den for tokens_per_gpu.
        demand_slots: the S a min_gpus demand needs.
    """
    prob = IntegerProgram(f"afd_nbo{lay.micro_batches}", maximize=objective != "min_gpus")
    y = add_layout_choice(prob, lay)
    z, values = add_attention_units(prob, lay, y, attention)
    b, beta = add_batch_product(prob, lay, z, values, seqs)
    slots = slots_terms(beta, values)
    add_attention_caps(prob, lay, y, b)
    add_ffn_caps(prob, lay, y, slots)
    units = units_terms(lay, y, z, values)
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
    return prob, AfdHandles(y, z, values, b, beta)


def read_afd_choice(h: AfdHandles, values: list[float]) -> AfdChoice:
    """The layout, N_A and b a solution picked."""
    layout = int(np.argmax([values[i] for i in h.layout]))
    pick = int(np.argmax([values[i] for i in h.attention]))
    return AfdChoice(layout, h.attention_values[pick], int(round(values[h.seqs])))
