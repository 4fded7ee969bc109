"""Parameter sweeps of `solve`: validate the varied values, run the points, plot the results.

A sweep varies dotted instance fields (`--vary KEY=SPEC`) over a full grid or one
key at a time around the instance's own values, solves every point with the
sweep engine (`solver.analysis.engine.run_points`: parallel, crash-safe, resumable) and
writes `DIR/results.csv` plus the plots of `solver.analysis.plots`.

`--set` overrides apply to every point but are not part of the points: the
point function carries them (a `functools.partial` of a module-level function,
so it pickles by reference to pool and Dask workers), and the results table
keeps one column per *varied* key only.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from solver import report
from solver.analysis.engine import PointFn, run_points
from solver.analysis.store import ResultStore
from solver.analysis.sweep_spec import Value, build_points, parse_vary
from solver.errors import InputError
from solver.io.loader import load_instance

# A bad value in a 2,000-point sweep should not print 2,000 lines.
MAX_PROBLEMS_SHOWN = 12
_SET_META = "sweep_set_overrides"


@dataclass(frozen=True)
class Vary:
    """One parsed `--vary KEY=SPEC` option."""

    key: str
    values: list[Value]
    log: bool = False
    """The spec was `log:...`: plots use a log axis."""


@dataclass
class SweepResult:
    """What a finished sweep produced."""

    table: pd.DataFrame
    """One row per point and architecture (the engine's `results.csv`)."""
    out_dir: Path
    n_points: int
    n_failed: int
    """Rows with status `error` (see `count_failed`)."""
    plots: list[Path] = field(default_factory=list)


# ---- point functions (module level: workers import them by reference) ---------------------


def solve_point(instance_path: str, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """Solve one sweep point: `solve` rows as plain JSON-safe dicts (the store adds the keys)."""
    from solver.api import solve  # lazily: forkserver workers preload this module

    return report.records(solve(instance_path, overrides=overrides))


def solve_point_with(
    set_overrides: dict[str, Any], instance_path: str, overrides: dict[str, Any]
) -> list[dict[str, Any]]:
    """`solve_point` with the sweep's `--set` overrides under the point's own."""
    return solve_point(instance_path, {**set_overrides, **overrides})


def point_function(set_overrides: dict[str, Any] | None) -> PointFn:
    """The engine's point function: picklable, with `--set` overrides bound if any."""
    if not set_overrides:
        return solve_point
    return functools.partial(solve_point_with, dict(set_overrides))


# ---- parsing and validation ----------------------------------------------------------------


def parse_varies(varies: Sequence[str | tuple[str, Sequence[Value]] | Vary]) -> list[Vary]:
    """`--vary` texts (or `(key, values)` pairs) as `Vary`; InputError on a bad one."""
    out: list[Vary] = []
    for item in varies:
        if isinstance(item, Vary):
            out.append(item)
        elif isinstance(item, str):
            try:
                key, parsed = parse_vary(item)
            except ValueError as exc:
                raise InputError([str(exc)]) from None
            spec = item.split("=", 1)[1].strip()
            out.append(Vary(key, parsed, log=spec.startswith("log:")))
        else:
            key, given = item
            out.append(Vary(key, list(given)))
    return out


def sweep_points(varies: list[Vary], one_at_a_time: bool) -> list[dict[str, Any]]:
    """Points of a full grid (first key slowest), or each key alone around the base."""
    pairs = [(v.key, v.values) for v in varies]
    try:
        if not one_at_a_time:
            return build_points(pairs, grid=True)
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            raise ValueError(f"--vary given more than once for {', '.join(dupes)}")
        return [p for pair in pairs for p in build_points([pair], grid=True)]
    except ValueError as exc:
        raise InputError([str(exc)]) from None


def _problems(exc: InputError, key: str, value: Value) -> list[str]:
    return [f"--vary {key}={value}: {p}" for p in exc.problems]


def validate(file: str, varies: list[Vary], set_overrides: dict[str, Any]) -> None:
    """Load the instance once per distinct (key, value), so a bad one fails before the sweep.

    Combinations can still fail (e.g. a pinned min above a varied max); those become
    error rows of their points.

    Raises:
        InputError: listing every bad `--set`, key or value (the first few of many).
    """
    load_instance(file, set_overrides)  # a bad file or --set: its own clear message
    clash = sorted({v.key for v in varies} & set(set_overrides))
    if clash:
        raise InputError([f"{k}: given both as --vary and --set; keep one" for k in clash])
    problems: list[str] = []
    for vary in varies:
        for value in dict.fromkeys(vary.values):
            try:
                load_instance(file, {**set_overrides, vary.key: value})
            except InputError as exc:
                problems += _problems(exc, vary.key, value)
                # An unknown key fails for every value: say it once.
                if any("unknown" in p for p in exc.problems):
                    break
    if problems:
        extra = len(problems) - MAX_PROBLEMS_SHOWN
        shown = problems[:MAX_PROBLEMS_SHOWN]
        raise InputError(shown + ([f"... and {extra} more"] if extra > 0 else []))


def _check_resume_set(out_dir: Path, set_overrides: dict[str, Any], resume: bool) -> None:
    """Refuse to resume a sweep that ran with different `--set` overrides (mixed results)."""
    text = json.dumps(set_overrides, sort_keys=True)
    with ResultStore(out_dir) as store:
        if store.count() and not resume:
            return  # the engine refuses with its own message
        stored = store.get_meta(_SET_META)
        if resume and store.count() and stored is not None and stored != text:
            raise InputError(
                [
                    f"{out_dir}: the stored sweep used --set {stored}, this run {text}; "
                    "rerun with the same --set or pick another --out directory"
                ]
            )
        store.set_meta(_SET_META, text)


def default_out_dir(file: str | os.PathLike[str]) -> Path:
    """`sweep-<instance stem>` in the current directory."""
    return Path(f"sweep-{Path(file).stem}")


def count_failed(table: pd.DataFrame) -> int:
    """Rows with status `error`: one per point that raised, or per architecture whose
    backend failed (infeasible points are results, not failures)."""
    if "status" not in table.columns:
        return 0
    return int((table["status"] == "error").sum())


def _whole_counts(table: pd.DataFrame, out: Path) -> pd.DataFrame:
    """Node and GPU counts as (nullable) integers, also in results.csv: mixed AFD/EP rows
    (EP has no N_A) otherwise turn whole counts into floats such as 16.0."""
    from solver.api import INT_COLUMNS

    present = {c: "Int64" for c in INT_COLUMNS if c in table.columns}
    if not present:
        return table
    table = table.astype(present)
    tmp = out / "results.csv.tmp"
    table.to_csv(tmp, index=False)
    os.replace(tmp, out / "results.csv")
    return table


def run_sweep(
    file: str | os.PathLike[str],
    varies: Sequence[str | tuple[str, Sequence[Value]] | Vary],
    workers: int | None = None,
    scheduler: str | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    one_at_a_time: bool = False,
    progress: bool | None = None,
    extra_overrides: dict[str, Any] | None = None,
    *,
    make_plots: bool = True,
) -> SweepResult:
    """Validate, run and plot a sweep of `solve` over the varied instance fields.

    Args:
        file: the instance file.
        varies: `KEY=SPEC` texts (list `25,50`, range `20:200:10`, `log:10:1000:12`),
            or `(key, values)` pairs.
        workers: local worker processes (default: all CPUs; 1 runs in process).
        scheduler: `tcp://HOST:PORT` of a Dask scheduler (overrides `workers`).
        out_dir: output directory (default `sweep-<instance stem>`).
        resume: continue a stored sweep instead of refusing to overwrite it.
        one_at_a_time: vary each key alone around the instance's values, not the grid.
        progress: progress bar (None: only on a terminal).
        extra_overrides: `--set` overrides applied to every point.
        make_plots: write the plots of `solver.analysis.plots` (benchmarks skip them).

    Raises:
        InputError: bad keys, values, `--set`, output directory or scheduler address.
        SweepInterrupted: on Ctrl-C, after everything finished was stored.
    """
    path = str(file)
    parsed = parse_varies(varies)
    if not parsed:
        raise InputError(["sweep: give at least one --vary KEY=SPEC"])
    if workers is not None and workers < 1:
        raise InputError([f"--workers {workers}: must be at least 1"])
    set_overrides = dict(extra_overrides or {})
    points = sweep_points(parsed, one_at_a_time)
    validate(path, parsed, set_overrides)
    out = Path(out_dir) if out_dir is not None else default_out_dir(path)
    _check_resume_set(out, set_overrides, resume)
    try:
        table = run_points(
            path,
            points,
            point_function(set_overrides),
            out,
            workers=workers,
            scheduler=scheduler,
            resume=resume,
            progress=progress,
        )
    except (ValueError, ConnectionError) as exc:  # refusals before any point runs
        raise InputError([str(exc)]) from None
    table = _whole_counts(table, out)
    plots: list[Path] = []
    if make_plots:
        from solver.analysis.plots import plot_sweep  # matplotlib only when plotting

        objective = load_instance(path, set_overrides).search.objective
        plots = plot_sweep(table, parsed, not one_at_a_time, out, objective)
    return SweepResult(table, out, len(points), count_failed(table), plots)
