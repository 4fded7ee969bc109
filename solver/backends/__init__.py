"""Solver backends behind one interface (`Backend.solve(program, time_limit_s)`)."""

from __future__ import annotations

from solver.backends.base import Backend, Capabilities, Solution, Status

__all__ = ["Backend", "Capabilities", "Solution", "Status", "make_backend"]


def make_backend(name: str) -> Backend:
    """The program backend called `name` (highs, cbc or cpsat)."""
    if name == "highs":
        from solver.backends.highs_backend import HighsBackend

        return HighsBackend()
    if name == "cbc":
        from solver.backends.cbc_backend import CbcBackend

        return CbcBackend()
    if name == "cpsat":
        from solver.backends.cpsat_backend import CpSatBackend

        return CpSatBackend()
    raise ValueError(f"unknown backend {name}")
