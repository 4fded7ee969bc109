"""Dinkelbach's method for the per-GPU ratio max T / U at one stage budget, solved exactly.

T = a n sequence slots, U = a + N_F units (docs/model.md §11). Each step solves the program
max den*T - num*U for the incumbent ratio num/den (integers, so CP-SAT takes the same model); a
non-positive optimum proves the incumbent optimal, a positive one gives a better deployment and
the next ratio. Starting from the best vertex of the layouts' upper hulls (each a reachable
deployment, and the best ratio is at one of them) usually leaves a single step: the proof, which
the program's LP relaxation gives at root cost when the backend solves relaxations (the hull cuts
make it tight).
"""

from __future__ import annotations

import time
from fractions import Fraction

from formulations import deployment_program as dp
from formulations.deadline import Check
from formulations.hull import best_vertex, layout_hulls
from formulations.layouts import Layouts
from formulations.program import IntegerProgram
from solver.backends import Backend, Status


def relax_bound(backend: Backend, prob: IntegerProgram, time_limit_s: float) -> float | None:
    """The optimum of the program's LP relaxation (a bound on the program), or None when the
    backend does not solve relaxations or the LP did not finish."""
    if not backend.capabilities.relaxation:
        return None
    lp = backend.relax(prob, time_limit_s)
    if lp.status != Status.OPTIMAL or lp.objective is None:
        return None
    return lp.objective


def relaxation_proves(backend: Backend, prob: IntegerProgram, time_limit_s: float) -> bool:
    """True when the LP relaxation alone proves the program's optimum non-positive (max) or
    non-negative (min): the objective has integer coefficients on integer variables, so a
    relaxation below 1 (above -1) leaves no room for an improving integer point."""
    bound = relax_bound(backend, prob, time_limit_s)
    if bound is None:
        return False
    return bound < 1 - 1e-6 if prob.maximize else bound > -1 + 1e-6


def solve_ratio(
    lay: Layouts,
    backend: Backend,
    deadline: float,
    start: bool = True,
    proofs: list[tuple[IntegerProgram, float]] | None = None,
    check: Check | None = None,
) -> tuple[Status, dp.Choice | None, Fraction | None, int]:
    """Max T / U over `lay`: (status, choice, proven upper bound on the ratio or None, solves).

    Args:
        deadline: `time.perf_counter()` value to stop at (then the incumbent is `feasible`).
        start: begin from the best hull vertex (False: from scratch, as tests check).
        proofs: when given, receives the last step's program and its optimum (0: the incumbent
            ratio is optimal), the certificate `--export` writes.
        check: called once per layout by the loops over layouts (raises `deadline.Expired`).
    """
    hulls = layout_hulls(lay, check)
    num, den = 0, 1
    choice: dp.Choice | None = None
    vertex = best_vertex(lay, hulls) if start else None
    if vertex is not None:
        c, a, slots = vertex
        choice = dp.Choice(c, a, slots // a)
        num, den = slots, a + int(lay.ffn_units[c])
    min_units = int((lay.serving_lo + lay.ffn_units).min())
    solves = 0
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return (Status.FEASIBLE if choice else Status.TIME_LIMIT), choice, None, solves
        prob, h = dp.build(lay, "ratio", ratio=(num, den), hulls=hulls, check=check)
        if choice is not None and relaxation_proves(backend, prob, remaining):
            if proofs is not None:
                proofs.append((prob, 0.0))
            return Status.OPTIMAL, choice, Fraction(num, den), solves + 1
        sol = backend.solve(prob, remaining)
        solves += 1
        if sol.status == Status.INFEASIBLE:
            if choice is not None:
                # The incumbent itself is a feasible point of every step's program.
                return Status.ERROR, choice, None, solves
            return Status.INFEASIBLE, None, None, solves
        if not sol.has_values:
            return (Status.FEASIBLE if choice else sol.status), choice, None, solves
        found = dp.read_choice(lay, h, sol.values)
        slots = found.serving * found.sequences
        units = found.serving + int(lay.ffn_units[found.layout])
        improved = slots * den > num * units
        if improved:
            choice, num, den = found, slots, units
        if sol.status == Status.FEASIBLE:
            # Stopped by the time limit: T/U <= num/den + bound/(den * U_min).
            bound = None
            if sol.bound is not None:
                extra = Fraction(max(0.0, sol.bound)).limit_denominator(10**9)
                bound = Fraction(num, den) + extra / (den * min_units)
            return Status.FEASIBLE, choice, bound, solves
        if not improved:
            if proofs is not None:
                proofs.append((prob, float(sol.objective or 0.0)))
            return Status.OPTIMAL, choice, Fraction(num, den), solves
