"""The EP integer program (MODEL.md sections 4 and 5).

Decisions: the layout (units N, redundant replicas R) by one-hot `y_c` and
the batch b per GPU, split over the layouts (`b = sum_c b_c`, `b_c <= cap
y_c`): the convex-hull form of "layout c and batch b". Every family of
MODEL.md section 4 becomes one row per layout, with the integer caps of
`formulations.layouts`. Objectives:
    tokens_per_gpu  max b             (per-GPU throughput does not depend on N)
    total_tokens    max sum_c N_c b_c (the GPU cap is in the layouts)
    min_gpus        min sum_c N_c y_c subject to sum_c N_c b_c >= demand
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from formulations.layouts import EpLayouts
from formulations.program import IntegerProgram
from formulations.types import IntRange


@dataclass(frozen=True)
class EpHandles:
    layout: list[int]
    seqs: int
    split: list[int]


@dataclass(frozen=True)
class EpChoice:
    layout: int
    seqs: int


def add_layout_choice(prob: IntegerProgram, lay: EpLayouts) -> list[int]:
    """One-hot over the candidate EP layouts."""
    y = [prob.add_var(f"layout[{c}]", 0, 1) for c in range(len(lay))]
    prob.add_constraint({i: 1 for i in y}, lo=1, hi=1, family="choice", name="one_layout")
    return y


def add_batch_split(
    prob: IntegerProgram, lay: EpLayouts, y: list[int], seqs: IntRange
) -> tuple[int, list[int]]:
    """b and its split over layouts, with b >= seqs.lo on the chosen layout."""
    cap = lay.seq_cap()
    b = prob.add_var("seqs_per_gpu", seqs.lo, min(seqs.hi, int(cap.max())))
    split = []
    for c in range(len(lay)):
        bc = prob.add_var(f"seqs_if_layout[{c}]", 0, int(cap[c]))
        prob.add_constraint({bc: 1, y[c]: -seqs.lo}, lo=0, family="product", name=f"split_lo[{c}]")
        split.append(bc)
    prob.add_constraint(
        {b: 1, **{i: -1 for i in split}}, lo=0, hi=0, family="product", name="split_sum"
    )
    return b, split


def add_caps(prob: IntegerProgram, lay: EpLayouts, y: list[int], split: list[int]) -> None:
    """b_c <= cap_{k,c} y_c for every EP family k."""
    for family, caps in lay.seq_caps.items():
        for c in range(len(lay)):
            prob.add_constraint(
                {split[c]: 1, y[c]: -int(caps[c])}, hi=0, family=family, name=f"{family}[{c}]"
            )


def build_ep_program(
    lay: EpLayouts, seqs: IntRange, objective: str, *, demand_seqs: int | None = None
) -> tuple[IntegerProgram, EpHandles]:
    """Assemble the EP program for one micro-batch count.

    Args:
        demand_seqs: for min_gpus, the sequences per micro-batch over all GPUs
            of one unit-GPU index (N * b) the demand needs.
    """
    prob = IntegerProgram(f"ep_nbo{lay.micro_batches}", maximize=objective != "min_gpus")
    y = add_layout_choice(prob, lay)
    b, split = add_batch_split(prob, lay, y, seqs)
    add_caps(prob, lay, y, split)
    served = {split[c]: int(lay.units[c]) for c in range(len(lay))}
    if objective == "tokens_per_gpu":
        prob.set_objective({b: 1})
    elif objective == "total_tokens":
        prob.set_objective(served)
    elif objective == "min_gpus":
        if demand_seqs is None:
            raise ValueError("objective min_gpus needs a demand")
        prob.add_constraint(served, lo=demand_seqs, family="demand", name="demand")
        prob.set_objective({y[c]: int(lay.units[c]) for c in range(len(lay))})
    else:
        raise ValueError(f"unknown objective {objective}")
    return prob, EpHandles(y, b, split)


def read_ep_choice(h: EpHandles, values: list[float]) -> EpChoice:
    layout = int(np.argmax([values[i] for i in h.layout]))
    return EpChoice(layout, int(round(values[h.seqs])))
