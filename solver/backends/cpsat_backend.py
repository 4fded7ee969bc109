"""OR-Tools CP-SAT translation of an all-integer `IntegerProgram`."""

from __future__ import annotations

import math
import os
import time

from ortools.sat.python import cp_model

from formulations.program import IntegerProgram
from solver.backends.base import Backend, Capabilities, Solution, Status

# CP-SAT needs finite integer bounds; anything beyond this is "unbounded" for our programs.
_BIG = 2**40


def _bound(x: float) -> int:
    if math.isinf(x):
        return _BIG if x > 0 else -_BIG
    return int(x)


class CpSatBackend(Backend):
    """Exact CP-SAT solve; refuses programs with continuous variables or fractional coefficients."""

    name = "cpsat"
    capabilities = Capabilities(continuous=False, proves_bound=True)

    def solve(self, prob: IntegerProgram, time_limit_s: float, rel_gap: float = 0.0) -> Solution:
        self.check(prob)
        trivial = self.trivial(prob)
        if trivial is not None:
            return trivial
        model = cp_model.CpModel()
        xs = [model.new_int_var(_bound(v.lo), _bound(v.hi), v.name) for v in prob.variables]
        for con in prob.constraints:
            idx = list(con.terms)
            expr = cp_model.LinearExpr.WeightedSum(
                [xs[i] for i in idx], [int(con.terms[i]) for i in idx]
            )
            model.add_linear_constraint(expr, _bound(con.lo), _bound(con.hi))
        idx = list(prob.objective)
        obj = cp_model.LinearExpr.WeightedSum(
            [xs[i] for i in idx], [int(prob.objective[i]) for i in idx]
        )
        if prob.maximize:
            model.maximize(obj)
        else:
            model.minimize(obj)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = float(time_limit_s)
        solver.parameters.num_workers = max(1, min(8, os.cpu_count() or 1))
        solver.parameters.relative_gap_limit = float(rel_gap)
        start = time.perf_counter()
        code = solver.solve(model)
        elapsed = time.perf_counter() - start
        if code == cp_model.INFEASIBLE:
            return Solution(Status.INFEASIBLE, solve_s=elapsed)
        if code == cp_model.MODEL_INVALID:
            return Solution(Status.ERROR, solve_s=elapsed, message=model.validate())
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return Solution(Status.TIME_LIMIT, solve_s=elapsed, message="no incumbent")
        values = [float(solver.value(x)) for x in xs]
        objective = prob.objective_value(values)
        proven = code == cp_model.OPTIMAL
        bound = objective if proven else prob.objective_constant + solver.best_objective_bound
        return Solution(
            Status.OPTIMAL if proven else Status.FEASIBLE,
            values=values,
            objective=objective,
            bound=bound,
            solve_s=elapsed,
        )
