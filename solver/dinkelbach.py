"""Dinkelbach's method for the AFD per-GPU objective max S / (N_A + N_F), solved exactly.

Each step solves the linear program max den*S - num*(N_A + N_F) for the incumbent ratio
num/den (integers, so CP-SAT takes the same model); a non-positive optimum proves the
incumbent optimal, a positive one gives a better deployment and the next ratio. Starting from
the best vertex of the layouts' upper hulls (each a reachable deployment) usually leaves a
single step: the optimality proof.
"""

from __future__ import annotations

import time

from formulations import afd_program
from formulations.layouts import AfdLayouts
from formulations.types import IntRange
from solver.backends import Backend, Status, make_backend


def warm_start(lay: AfdLayouts, hulls: list[list[tuple[int, int]]]) -> afd_program.AfdChoice | None:
    """The best hull vertex by S / (N_A + N_F): every vertex is a reachable deployment."""
    best: tuple[float, afd_program.AfdChoice] | None = None
    for c, hull in enumerate(hulls):
        f = int(lay.ffn_units[c])
        for a, slots in hull:
            ratio = slots / (a + f)
            if best is None or ratio > best[0]:
                best = (ratio, afd_program.AfdChoice(c, a, slots // a))
    return None if best is None else best[1]


def solve_ratio(
    lay: AfdLayouts, seqs: IntRange, backend: Backend, deadline: float, start: bool = True
) -> tuple[Status, afd_program.AfdChoice | None, float | None]:
    """Max S / (N_A + N_F) over `lay`: (status, choice, upper bound on the ratio or None).

    Args:
        seqs: the search range of b.
        deadline: `time.perf_counter()` value to stop at (then the incumbent is `feasible`).
        start: begin from the best hull vertex (False: from scratch, as tests check).
    """
    hulls = afd_program.layout_hulls(lay, seqs)
    num, den = (0, 1)
    choice = warm_start(lay, hulls) if start else None
    if choice is not None:
        num = choice.attention_units * choice.seqs
        den = choice.attention_units + int(lay.ffn_units[choice.layout])
    min_units = int((lay.attention_lo + lay.ffn_units).min())
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return (Status.FEASIBLE if choice else Status.TIME_LIMIT), choice, None
        prob, h = afd_program.build_afd_program(
            lay, seqs, "tokens_per_gpu", ratio=(num, den), hulls=hulls
        )
        sol = backend.solve(prob, remaining)
        if sol.status == Status.INFEASIBLE:
            return (Status.OPTIMAL if choice else Status.INFEASIBLE), choice, None
        if not sol.has_values:
            return (Status.FEASIBLE if choice else sol.status), choice, None
        found = afd_program.read_afd_choice(h, sol.values)
        slots = found.attention_units * found.seqs
        units = found.attention_units + int(lay.ffn_units[found.layout])
        improved = slots * den > num * units
        if improved:
            choice, num, den = found, slots, units
        if sol.status == Status.FEASIBLE:
            # Stopped by the time limit: S/U <= num/den + bound/(den * U_min).
            bound = None
            if sol.bound is not None:
                bound = num / den + max(0.0, sol.bound) / (den * min_units)
            return Status.FEASIBLE, choice, bound
        if not improved:
            return Status.OPTIMAL, choice, num / den


def solve_afd_ratio(
    lay: AfdLayouts, seqs: IntRange, backend_name: str = "highs", time_limit_s: float = 60.0
) -> tuple[Status, afd_program.AfdChoice | None]:
    """Max S / (N_A + N_F) over given layouts (for tests and studies of the program alone)."""
    deadline = time.perf_counter() + time_limit_s
    status, choice, _ = solve_ratio(lay, seqs, make_backend(backend_name), deadline)
    return status, choice
