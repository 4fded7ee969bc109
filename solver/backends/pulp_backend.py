"""PuLP translation of an `IntegerProgram`, solved by HiGHS (through highspy) or the bundled CBC."""

from __future__ import annotations

import contextlib
import math
import os
import time

import pulp

from formulations.program import IntegerProgram
from solver.backends.base import Backend, Capabilities, Solution, Status


@contextlib.contextmanager
def _quiet_stdout():
    """Silence C-level stdout (HiGHS prints a banner once per process, even with msg=False)."""
    fd = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(fd, 1)
        os.close(fd)


def _silence_highs_banner() -> None:
    try:
        import highspy
    except ImportError:  # pragma: no cover - highspy is a dependency
        return
    with _quiet_stdout():
        highspy.Highs()


def _to_pulp(
    prob: IntegerProgram,
    var_names: list[str] | None = None,
    con_names: list[str] | None = None,
) -> tuple[pulp.LpProblem, list[pulp.LpVariable]]:
    """The PuLP model of `prob`; names x<i> and c<k> unless given (the export's are readable)."""
    sense = pulp.LpMaximize if prob.maximize else pulp.LpMinimize
    lp = pulp.LpProblem(prob.name.replace(" ", "_"), sense)  # PuLP warns about spaces
    xs = [
        lp.add_variable(
            var_names[i] if var_names else f"x{i}",
            None if math.isinf(v.lo) else v.lo,
            None if math.isinf(v.hi) else v.hi,
            cat=pulp.LpInteger if v.integer else pulp.LpContinuous,
        )
        for i, v in enumerate(prob.variables)
    ]
    lp.setObjective(
        pulp.LpAffineExpression(
            [(xs[i], c) for i, c in prob.objective.items()], prob.objective_constant
        )
    )
    for k, con in enumerate(prob.constraints):
        expr = pulp.LpAffineExpression([(xs[i], c) for i, c in con.terms.items()])
        name = con_names[k] if con_names else f"c{k}"
        if con.lo == con.hi:
            lp.addConstraint(expr == con.lo, name)
            continue
        if not math.isinf(con.lo):
            lp.addConstraint(expr >= con.lo, f"{name}_lo")
        if not math.isinf(con.hi):
            lp.addConstraint(expr <= con.hi, f"{name}_hi")
    return lp, xs


class PulpBackend(Backend):
    """HiGHS (default) or CBC through PuLP."""

    capabilities = Capabilities(continuous=True, proves_bound=True, duals=True)

    def __init__(self, engine: str = "highs") -> None:
        if engine not in ("highs", "cbc"):
            raise ValueError(f"unknown PuLP engine {engine}")
        self.name = engine
        if engine == "cbc":
            self.capabilities = Capabilities(continuous=True, proves_bound=False)
            if not pulp.COIN_CMD(msg=False).available():
                raise RuntimeError("CBC not found: install it with `pip install 'pulp[cbc]'`")
        else:
            _silence_highs_banner()

    def solve(self, prob: IntegerProgram, time_limit_s: float, rel_gap: float = 0.0) -> Solution:
        self.check(prob)
        lp, xs = _to_pulp(prob)
        # An all-integer objective can only improve in whole steps: an absolute gap below 1
        # proves optimality without chasing the last fraction of the LP bound.
        abs_gap = 0.999 if prob.is_integral() else 1e-9
        if self.name == "highs":
            engine = pulp.HiGHS(
                msg=False, timeLimit=time_limit_s, threads=1, gapRel=rel_gap, gapAbs=abs_gap
            )
        else:
            # PuLP >= 3.3 ships CBC as the `cbcbox` package (extra `pulp[cbc]`) behind COIN_CMD.
            engine = pulp.COIN_CMD(
                msg=False, timeLimit=time_limit_s, gapRel=rel_gap, gapAbs=abs_gap
            )
        start = time.perf_counter()
        lp.solve(engine)
        elapsed = time.perf_counter() - start
        status = lp.status
        sol_status = lp.sol_status
        if status == pulp.LpStatusInfeasible:
            return Solution(Status.INFEASIBLE, solve_s=elapsed)
        if sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
            if status == pulp.LpStatusNotSolved:
                return Solution(Status.TIME_LIMIT, solve_s=elapsed, message="no incumbent")
            return Solution(Status.ERROR, solve_s=elapsed, message=pulp.LpStatus[status])
        values = [x.value() or 0.0 for x in xs]
        objective = prob.objective_value(values)
        proven = sol_status == pulp.LpSolutionOptimal
        bound = self._bound(lp, prob) if not proven or rel_gap > 0 else objective
        return Solution(
            Status.OPTIMAL if proven else Status.FEASIBLE,
            values=values,
            objective=objective,
            bound=bound,
            solve_s=elapsed,
            duals=self._duals(lp, prob),
        )

    def _duals(self, lp: pulp.LpProblem, prob: IntegerProgram) -> list[float]:
        """Row duals of an LP (no integer variables), in d objective / d bound; else empty."""
        if any(v.integer for v in prob.variables) or self.name != "highs":
            return []
        duals = []
        for k in range(len(prob.constraints)):
            total = 0.0
            for suffix in ("", "_lo", "_hi"):
                con = lp.get_constraint_by_name(f"c{k}{suffix}")
                if con is not None and con.pi is not None:
                    total += float(con.pi)
            # PuLP hands HiGHS the negated objective of a maximisation: flip back.
            duals.append(-total if prob.maximize else total)
        return duals

    def _bound(self, lp: pulp.LpProblem, prob: IntegerProgram) -> float | None:
        """HiGHS's dual bound in our sense (PuLP hands HiGHS -objective, without the constant)."""
        if self.name != "highs":
            return None
        dual = float(lp.solverModel.getInfo().mip_dual_bound)
        if not math.isfinite(dual):
            return None
        return (-dual if prob.maximize else dual) + prob.objective_constant
