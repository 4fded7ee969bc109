"""The small interface every integer-programming backend implements."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from formulations.program import IntegerProgram


class Status(enum.StrEnum):
    """Outcome of one solve. A time-limited incumbent is `feasible`, never `optimal`."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    TIME_LIMIT = "time_limit"
    ERROR = "error"


@dataclass(frozen=True)
class Solution:
    """What a backend returns: status, values, objective, best bound, gap and time."""

    status: Status
    values: list[float] = field(default_factory=list)
    objective: float | None = None
    bound: float | None = None
    solve_s: float = 0.0
    message: str = ""
    duals: list[float] = field(default_factory=list)
    """LP only: d objective / d (right-hand side) per constraint, when the backend reports it."""

    @property
    def has_values(self) -> bool:
        return self.status in (Status.OPTIMAL, Status.FEASIBLE)


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do; checked before a program is handed to it."""

    continuous: bool
    """Accepts continuous variables and fractional coefficients."""
    proves_bound: bool
    """Reports a dual bound when stopped by a time limit."""
    duals: bool = False
    """Reports constraint duals of a continuous program (an LP)."""
    relaxation: bool = False
    """Solves the LP relaxation of an integer program (`Backend.relax`): a bound at root cost."""


class Backend:
    """Solve an `IntegerProgram`; subclasses translate it to one solver's API."""

    name = "base"
    capabilities = Capabilities(continuous=False, proves_bound=False)

    def solve(self, prob: IntegerProgram, time_limit_s: float, rel_gap: float = 0.0) -> Solution:
        """Solve `prob`; stop at `time_limit_s` or once the relative gap is at most `rel_gap`."""
        raise NotImplementedError

    def relax(self, prob: IntegerProgram, time_limit_s: float) -> Solution:
        """The LP relaxation (integrality dropped): its optimum bounds the program's. Only for
        backends whose capabilities declare `relaxation`."""
        raise NotImplementedError(f"backend {self.name} does not solve LP relaxations")

    @staticmethod
    def trivial(prob: IntegerProgram) -> Solution | None:
        """The answer to a program without variables (solvers treat it as a corner case):
        optimal at the empty point if every row admits 0, else infeasible; None otherwise."""
        if prob.variables:
            return None
        if all(con.lo <= 0 <= con.hi for con in prob.constraints):
            value = prob.objective_constant
            return Solution(Status.OPTIMAL, [], value, value, duals=[0.0] * len(prob.constraints))
        return Solution(Status.INFEASIBLE)

    def check(self, prob: IntegerProgram) -> None:
        """Refuse programs this backend cannot represent exactly."""
        if not self.capabilities.continuous and not prob.is_integral():
            raise ValueError(
                f"backend {self.name} needs an all-integer program; {prob.name} is not"
            )
