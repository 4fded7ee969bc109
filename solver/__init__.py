"""afd-solver: integer programs for AFD versus EP deployments of MoE models.

Python API: `solve(path_or_instance, **options)` and `evaluate(path_or_instance,
deployment)`, both returning a pandas DataFrame with one row per architecture.
"""

from __future__ import annotations

from solver.api import COLUMNS, evaluate, solve

__all__ = ["COLUMNS", "evaluate", "solve"]
