"""The public entry points that join the core API (`solver.api`) and the analysis engine.

`solve` takes an instance or a list of instance files; `solve_many` solves many files on the
sweep engine, each file one point of `solver.analysis.engine.run_points` (a file that fails
becomes one `error` row with its reason in `binding` while the others run); `pareto` is the
exact TPOT frontier (`solver.analysis.pareto`). `solver.api` imports nothing from
`solver.analysis`, which builds on it; this module depends on both.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from formulations.types import Instance
from solver import api
from solver.api import PathLike
from solver.columns import typed
from solver.errors import AfdSolverError
from solver.io import arguments
from solver.rows import BREAKDOWN_PREFIX, COLUMNS
from solver.shadow import SHADOW_COLUMNS


def solve(
    path_or_instance: PathLike | Instance | list[PathLike] | tuple[PathLike, ...],
    *,
    architectures: list[str] | tuple[str, ...] | None = None,
    backend: str | None = None,
    overrides: dict[str, Any] | None = None,
    time_limit_s: float | None = None,
    shadow_prices: bool = False,
    breakdown: bool = False,
    export: PathLike | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[str, int, float], None] | None = None,
    force: bool = False,
) -> pd.DataFrame:
    """`solver.api.solve` of one instance; a list of instance files is solved on the sweep
    engine (`workers`, `scheduler`) into one table with a leading `instance` column, rows in
    input order (`solve_many`)."""
    arguments.workers(workers)  # checked on either path: a bad value is an error, not ignored
    arguments.scheduler(scheduler)
    if isinstance(path_or_instance, list | tuple):
        return solve_many(
            path_or_instance,
            workers=workers,
            scheduler=scheduler,
            overrides=overrides,
            architectures=architectures,
            backend=backend,
            time_limit_s=time_limit_s,
            shadow_prices=shadow_prices,
            breakdown=breakdown,
            export=export,
            force=force,
        )
    return api.solve(
        path_or_instance,
        architectures=architectures,
        backend=backend,
        overrides=overrides,
        time_limit_s=time_limit_s,
        shadow_prices=shadow_prices,
        breakdown=breakdown,
        export=export,
        progress=progress,
        force=force,
    )


def pareto(
    path_or_instance: PathLike | Instance,
    tpot_ms: tuple[float, float] | list[float] | str | None = None,
    *,
    architectures: list[str] | tuple[str, ...] | None = None,
    backend: str | None = None,
    overrides: dict[str, Any] | None = None,
    time_limit_s: float | None = None,
) -> pd.DataFrame:
    """The exact frontier of own-pace tokens/s per GPU against the TPOT target (docs/model.md
    §12.4): per architecture, one row per breakpoint, each the optimal deployment for targets
    from its `tpot_ms` up to the next row's. `tpot_ms`: (LO, HI) or "LO:HI"; default a fifth
    of the instance's target to four times it. Columns: `solver.analysis.pareto.COLUMNS`."""
    from solver.analysis.pareto import pareto as frontier

    archs = arguments.architectures(architectures)
    backend = arguments.backend(backend)
    time_limit_s = arguments.time_limit(time_limit_s)
    inst = api.as_instance(path_or_instance, overrides)
    return frontier(inst, tpot_ms, tuple(archs) if archs else None, backend, time_limit_s)


# ---- many instance files on the sweep engine ----------------------------------------------


def _solve_file(options: dict[str, Any], _: str, point: dict[str, Any]) -> list[dict[str, Any]]:
    """The engine's point function: `solve` one file; an input error becomes an error row."""
    from solver import report

    try:
        inst = api.as_instance(point["path"], options["overrides"])
        df = api._solve_instance(
            inst,
            time.perf_counter(),
            options["architectures"],
            options["backend"],
            options["time_limit_s"],
            options["shadow_prices"],
            options["breakdown"],
            options["export"],  # checked by solve_many before any point ran
            None,
        )
    except AfdSolverError as exc:
        return [{"status": "error", "binding": "; ".join(str(exc).splitlines())}]
    return report.records(df)


def solve_many(
    paths: Sequence[PathLike],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    overrides: dict[str, Any] | None = None,
    architectures: Sequence[str] | None = None,
    backend: str | None = None,
    time_limit_s: float | None = None,
    shadow_prices: bool = False,
    breakdown: bool = False,
    progress: bool | None = None,
    export: PathLike | None = None,
    force: bool = False,
) -> pd.DataFrame:
    """Solve every instance file; one DataFrame, `instance` (the path as given) first.

    Args:
        paths: instance files, solved in this order (a path may repeat).
        workers: local worker processes (default all cores; 1 runs in this process).
        scheduler: `tcp://HOST:PORT` of a Dask scheduler instead of local processes.
        overrides, architectures, backend, time_limit_s, shadow_prices: as for
            `solve`, applied to every file.
        progress: progress bar (None: only on a terminal).

    Returns:
        The columns of `COLUMNS` (plus the shadow-price columns if
        asked) after `instance`; a failed file is one row with status `error`
        and the reason in `binding`.
    """
    from solver.analysis.engine import run_points

    paths = arguments.paths(paths)
    workers = arguments.workers(workers)
    scheduler = arguments.scheduler(scheduler)
    overrides = arguments.overrides(overrides)
    architectures, backend, time_limit_s, export = arguments.solve_options(
        architectures, backend, time_limit_s, shadow_prices, breakdown, export, force
    )
    progress = arguments.optional_flag(progress, "progress")
    if export is not None:
        api.check_export(export, [api.export_stem(p) for p in paths], force)
    options: dict[str, Any] = {
        "architectures": list(architectures) if architectures else None,
        "backend": backend,
        "overrides": dict(overrides) if overrides else None,
        "time_limit_s": time_limit_s,
        "shadow_prices": shadow_prices,
        "breakdown": breakdown,
        "export": None if export is None else os.path.abspath(export),
    }
    # A Dask worker may run in another directory: it reads (and is checked on) absolute paths.
    files = [os.path.abspath(p) for p in paths]
    points = [
        {"index": i, "path": f if scheduler else str(p)}
        for i, (f, p) in enumerate(zip(files, paths, strict=True))
    ]
    point_fn = functools.partial(_solve_file, options)
    if scheduler is None:
        workers = min(workers or os.cpu_count() or 1, len(points))
    with tempfile.TemporaryDirectory(prefix="afd-batch-") as tmp:
        table = run_points(
            "",
            points,
            point_fn,
            tmp,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
            worker_files=files,
        )
    columns = ["instance", *COLUMNS, *(SHADOW_COLUMNS if shadow_prices else ())]
    if breakdown:  # each architecture's own terms, in the order they first appear
        columns += list(dict.fromkeys(c for c in table.columns if c.startswith(BREAKDOWN_PREFIX)))
    rows = []
    for rec in table.to_dict(orient="records"):
        rec = {k: (v if _present(v) else None) for k, v in rec.items()}
        row = {c: rec.get(c) for c in columns}
        row["instance"] = str(paths[int(rec["index"])])
        if rec.get("reason") is not None and row["binding"] is None:
            row["binding"] = rec["reason"]  # the engine caught an exception of the point
        rows.append(row)
    return typed(pd.DataFrame(rows, columns=columns))


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))
