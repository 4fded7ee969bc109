"""A backend-neutral integer linear program.

Formulations build an `IntegerProgram`; the backends in `solver.backends`
translate it to PuLP (HiGHS, CBC) or OR-Tools CP-SAT. Keeping the model as
plain data lets every backend solve exactly the same problem, and lets tests
inspect constraints by family.

All coefficients that the CP-SAT backend will see must be integers; builders
that target it keep them integral (integer caps are computed by exact
monotone search, never by rounding a float bound inside the program).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

INF = math.inf


@dataclass
class Variable:
    """One decision variable with inclusive bounds."""

    name: str
    lo: float
    hi: float
    integer: bool = True


@dataclass
class Constraint:
    """`lo <= sum(coef * x) <= hi`, tagged with the constraint family it belongs to."""

    terms: dict[int, float]
    lo: float
    hi: float
    family: str
    name: str


@dataclass
class IntegerProgram:
    """Variables, linear constraints and a linear objective."""

    name: str
    maximize: bool = True
    variables: list[Variable] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    objective: dict[int, float] = field(default_factory=dict)
    objective_constant: float = 0.0

    def add_var(self, name: str, lo: float, hi: float, integer: bool = True) -> int:
        """Add a variable and return its index."""
        if lo > hi:
            raise ValueError(f"variable {name}: empty domain [{lo}, {hi}]")
        self.variables.append(Variable(name, lo, hi, integer))
        return len(self.variables) - 1

    def add_constraint(
        self,
        terms: Mapping[int, float],
        *,
        lo: float = -INF,
        hi: float = INF,
        family: str,
        name: str,
    ) -> int:
        """Add `lo <= terms <= hi`; zero coefficients are dropped."""
        clean = {i: c for i, c in terms.items() if c != 0}
        self.constraints.append(Constraint(clean, lo, hi, family, name))
        return len(self.constraints) - 1

    def set_objective(self, terms: Mapping[int, float], constant: float = 0.0) -> None:
        self.objective = {i: c for i, c in terms.items() if c != 0}
        self.objective_constant = constant

    def index(self, name: str) -> int:
        for i, var in enumerate(self.variables):
            if var.name == name:
                return i
        raise KeyError(name)

    def is_integral(self) -> bool:
        """True when every variable is integer and every coefficient is whole (CP-SAT ready)."""

        def whole(x: float) -> bool:
            return math.isinf(x) or float(x).is_integer()

        if not all(v.integer and whole(v.lo) and whole(v.hi) for v in self.variables):
            return False
        for con in self.constraints:
            if not (whole(con.lo) and whole(con.hi) and all(whole(c) for c in con.terms.values())):
                return False
        return all(whole(c) for c in self.objective.values())

    def evaluate(self, values: list[float], tol: float = 1e-6) -> list[str]:
        """Names of the constraints (and bounds) that `values` violates."""
        bad = []
        for var, x in zip(self.variables, values, strict=True):
            if x < var.lo - tol or x > var.hi + tol:
                bad.append(f"bound:{var.name}")
        for con in self.constraints:
            lhs = sum(c * values[i] for i, c in con.terms.items())
            if lhs < con.lo - tol or lhs > con.hi + tol:
                bad.append(con.name)
        return bad

    def objective_value(self, values: list[float]) -> float:
        return self.objective_constant + sum(c * values[i] for i, c in self.objective.items())
