"""Solver backends behind one interface (`Backend.solve(program, time_limit_s)`).

The registry: one class per name of `formulations.types.PROGRAM_BACKENDS` (the enumeration
oracle, `ORACLE_BACKEND`, is not a program backend: solver.enumerate walks the grid itself).
"""

from __future__ import annotations

import importlib

from formulations.types import PROGRAM_BACKENDS
from solver.backends.base import Backend, Capabilities, Solution, Status

__all__ = ["Backend", "Capabilities", "Solution", "Status", "make_backend"]

_CLASSES = {
    "highs": ("solver.backends.highs_backend", "HighsBackend"),
    "cbc": ("solver.backends.cbc_backend", "CbcBackend"),
    "cpsat": ("solver.backends.cpsat_backend", "CpSatBackend"),
}
if tuple(_CLASSES) != PROGRAM_BACKENDS:  # a programming error: the two lists must agree
    raise AssertionError(f"backend classes {tuple(_CLASSES)} != {PROGRAM_BACKENDS}")


def make_backend(name: str) -> Backend:
    """The program backend called `name` (one of PROGRAM_BACKENDS), imported on first use."""
    try:
        module, cls = _CLASSES[name]
    except KeyError:
        raise ValueError(f"unknown backend {name}; known: {', '.join(_CLASSES)}") from None
    backend: Backend = getattr(importlib.import_module(module), cls)()
    return backend
