"""Solve many instance files at once on the sweep engine: one table, a leading `instance` column.

Each file is one point of `solver.analysis.engine.run_points` (local processes
or a Dask cluster). A file that fails (bad input, or any exception) becomes
one row with status `error` and its reason in `binding`; the other files
still run. Rows come back in input order, one per architecture solved.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from solver.errors import AfdSolverError


def _solve_file(options: dict[str, Any], _: str, point: dict[str, Any]) -> list[dict[str, Any]]:
    """The engine's point function: `solve` one file; an input error becomes an error row."""
    from solver import report
    from solver.api import solve  # lazily: forkserver workers preload this module

    try:
        df = solve(point["path"], **options)
    except AfdSolverError as exc:
        return [{"status": "error", "binding": "; ".join(str(exc).splitlines())}]
    return report.records(df)


def solve_many(
    paths: Sequence[str | Path],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    overrides: dict[str, Any] | None = None,
    architectures: Sequence[str] | None = None,
    backend: str | None = None,
    time_limit_s: float | None = None,
    shadow_prices: bool = False,
    progress: bool | None = None,
    export: str | Path | None = None,
) -> pd.DataFrame:
    """Solve every instance file; one DataFrame, `instance` (the path as given) first.

    Args:
        paths: instance files, solved in this order (a path may repeat).
        workers: local worker processes (default all cores; 1 runs in this process).
        scheduler: `tcp://HOST:PORT` of a Dask scheduler instead of local processes.
        overrides, architectures, backend, time_limit_s, shadow_prices: as for
            `solver.api.solve`, applied to every file.
        progress: progress bar (None: only on a terminal).

    Returns:
        The columns of `solver.api.COLUMNS` (plus the shadow-price columns if
        asked) after `instance`; a failed file is one row with status `error`
        and the reason in `binding`.
    """
    from solver.analysis.engine import run_points
    from solver.api import COLUMNS, INT_COLUMNS
    from solver.shadow import SHADOW_COLUMNS

    if not paths:
        raise ValueError("no instance files given")
    options: dict[str, Any] = {
        "architectures": list(architectures) if architectures else None,
        "backend": backend,
        "overrides": dict(overrides) if overrides else None,
        "time_limit_s": time_limit_s,
        "shadow_prices": shadow_prices,
        "export": None if export is None else os.path.abspath(export),
    }
    points = [{"index": i, "path": str(p)} for i, p in enumerate(paths)]
    point_fn = functools.partial(_solve_file, options)
    if scheduler is None:
        workers = min(workers or os.cpu_count() or 1, len(points))
    with tempfile.TemporaryDirectory(prefix="afd-batch-") as tmp:
        table = run_points(
            "", points, point_fn, tmp, workers=workers, scheduler=scheduler, progress=progress
        )
    columns = ["instance", *COLUMNS, *(SHADOW_COLUMNS if shadow_prices else ())]
    rows = []
    for rec in table.to_dict(orient="records"):
        rec = {k: (v if _present(v) else None) for k, v in rec.items()}
        row = {c: rec.get(c) for c in columns}
        row["instance"] = str(paths[int(rec["index"])])
        if rec.get("reason") is not None and row["binding"] is None:
            row["binding"] = rec["reason"]  # the engine caught an exception of the point
        rows.append(row)
    return pd.DataFrame(rows, columns=columns).astype({c: "Int64" for c in INT_COLUMNS})


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))
