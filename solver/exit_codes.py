"""Exit codes of `afd-solver`, and the words for a row that has no deployment.

    0    the command produced what was asked (a reported `infeasible` row is an answer)
    1    no architecture produced a deployment, or a sweep had failed points
    2    bad input, output or resource request (one `error:` line per problem)
    130  interrupted (Ctrl-C)

A verdict must not call a time-limited architecture infeasible: `absent` says why a
row has no deployment, `verdict_note` and `no_deployment_verdict` phrase it for the
verdict line (`solver.report.verdict` calls them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

OK = 0
NO_RESULT = 1
BAD_INPUT = 2
INTERRUPTED = 130

DEPLOYED = ("optimal", "feasible")
"""Statuses of a row that carries a deployment (`feasible`: time-limited incumbent)."""

_ABSENT = {
    "infeasible": "infeasible",
    "time_limit": "time limit, no deployment found",
    "error": "solver error",
}


def absent(status: str | None) -> str:
    """Why a row has no deployment, in a few words (infeasible is not time-limited)."""
    return _ABSENT.get(str(status), f"no deployment ({status})")


def has_deployment(row: Mapping[str, Any]) -> bool:
    return row.get("status") in DEPLOYED


def why_not(row: Mapping[str, Any]) -> str:
    """`EP time limit, no deployment found`; a row without an architecture is a file that
    failed before any architecture was solved (`input error`)."""
    arch = row.get("architecture")
    if arch is None:
        return "input error" if row.get("status") == "error" else absent(row.get("status"))
    return f"{str(arch).upper()} {absent(row.get('status'))}"


def verdict_note(rows: Iterable[Mapping[str, Any]]) -> str:
    """The verdict's note on the architectures without a deployment, e.g.
    `(EP time limit, no deployment found)`; empty if every row has one."""
    notes = [why_not(r) for r in rows if not has_deployment(r)]
    return f" ({'; '.join(notes)})" if notes else ""


def no_deployment_verdict(rows: Iterable[Mapping[str, Any]]) -> str:
    """The verdict line when no architecture has a deployment, saying why for each."""
    rows = list(rows)
    if all(r.get("status") == "infeasible" for r in rows):
        return "verdict: no architecture has a feasible deployment"
    return "verdict: no deployment: " + "; ".join(why_not(r) for r in rows)


def solve_exit_code(rows: Iterable[Mapping[str, Any]]) -> int:
    """0 if some architecture produced a deployment, else 1."""
    return OK if any(has_deployment(r) for r in rows) else NO_RESULT


def sweep_exit_code(failed_points: int) -> int:
    """0 if every point was solved (infeasible rows included), else 1."""
    return OK if failed_points == 0 else NO_RESULT
