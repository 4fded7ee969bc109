"""HiGHS through highspy, the model passed as sparse arrays (the default backend).

The stage-level scheme solves many small programs, so building them fast matters: the program's
rows go to HiGHS as one compressed-row matrix instead of one Python object per term.
"""

from __future__ import annotations

import math
import time

import highspy
import numpy as np

from formulations.program import IntegerProgram
from solver.backends.base import Backend, Capabilities, Solution, Status

_INF = highspy.kHighsInf


def _quiet_banner() -> None:
    """HiGHS prints a banner on its first instance in a process, even with output off."""
    import os

    fd = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(fd, 1)
        os.close(fd)


_quiet_banner()


def _bound(x: float) -> float:
    return _INF if x == math.inf else (-_INF if x == -math.inf else float(x))


def _model(prob: IntegerProgram) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    n, m = len(prob.variables), len(prob.constraints)
    lp.num_col_ = n
    lp.num_row_ = m
    cost = np.zeros(n)
    for i, c in prob.objective.items():
        cost[i] = c
    lp.col_cost_ = cost
    lp.offset_ = prob.objective_constant
    lp.col_lower_ = np.array([_bound(v.lo) for v in prob.variables], dtype=np.float64)
    lp.col_upper_ = np.array([_bound(v.hi) for v in prob.variables], dtype=np.float64)
    lp.row_lower_ = np.array([_bound(c.lo) for c in prob.constraints], dtype=np.float64)
    lp.row_upper_ = np.array([_bound(c.hi) for c in prob.constraints], dtype=np.float64)
    starts: list[int] = [0]
    index: list[int] = []
    value: list[float] = []
    for con in prob.constraints:
        index.extend(con.terms.keys())
        value.extend(con.terms.values())
        starts.append(len(index))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value, dtype=np.float64)
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = m
    if any(v.integer for v in prob.variables):
        kinds = [
            highspy.HighsVarType.kInteger if v.integer else highspy.HighsVarType.kContinuous
            for v in prob.variables
        ]
        lp.integrality_ = kinds
    lp.sense_ = highspy.ObjSense.kMaximize if prob.maximize else highspy.ObjSense.kMinimize
    return lp


class HighsBackend(Backend):
    """Exact HiGHS solve (single thread, fixed seed: reproducible)."""

    name = "highs"
    capabilities = Capabilities(continuous=True, proves_bound=True, duals=True, relaxation=True)

    def relax(self, prob: IntegerProgram, time_limit_s: float) -> Solution:
        return self.solve(prob, time_limit_s, relaxed=True)

    def solve(
        self, prob: IntegerProgram, time_limit_s: float, rel_gap: float = 0.0, relaxed: bool = False
    ) -> Solution:
        self.check(prob)
        trivial = self.trivial(prob)
        if trivial is not None:
            return trivial
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", max(float(time_limit_s), 1e-3))
        h.setOptionValue("threads", 1)
        h.setOptionValue("random_seed", 0)
        h.setOptionValue("mip_rel_gap", float(rel_gap))
        # An all-integer objective improves in whole steps: an absolute gap below 1 proves it.
        h.setOptionValue("mip_abs_gap", 0.999 if prob.is_integral() else 1e-9)
        lp = _model(prob)
        if relaxed:
            lp.integrality_ = []
        h.passModel(lp)
        start = time.perf_counter()
        h.run()
        elapsed = time.perf_counter() - start
        status = h.getModelStatus()
        info = h.getInfo()
        has_mip = not relaxed and any(v.integer for v in prob.variables)
        if status == highspy.HighsModelStatus.kInfeasible:
            return Solution(Status.INFEASIBLE, solve_s=elapsed)
        found = info.primal_solution_status == 2  # kSolutionStatusFeasible
        if status == highspy.HighsModelStatus.kOptimal:
            proven = True
        elif status in (highspy.HighsModelStatus.kTimeLimit, highspy.HighsModelStatus.kInterrupt):
            proven = False
        else:
            text = h.modelStatusToString(status)
            return Solution(Status.ERROR, solve_s=elapsed, message=f"HiGHS: {text}")
        if not found:
            return Solution(Status.TIME_LIMIT, solve_s=elapsed, message="no incumbent")
        sol = h.getSolution()
        values = list(sol.col_value)
        objective = prob.objective_value(values)
        bound = objective
        if not proven and has_mip and math.isfinite(info.mip_dual_bound):
            bound = float(info.mip_dual_bound)
        duals: list[float] = []
        if not has_mip and sol.dual_valid:
            duals = [float(x) for x in sol.row_dual]
        return Solution(
            Status.OPTIMAL if proven else Status.FEASIBLE,
            values=values,
            objective=objective,
            bound=bound if not proven else objective,
            solve_s=elapsed,
            duals=duals,
        )
