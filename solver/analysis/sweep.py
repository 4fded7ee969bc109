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

import dataclasses
import functools
import hashlib
import itertools
import json
import math
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from solver import report
from solver.analysis.dask_pool import check_scheduler
from solver.analysis.engine import RESULTS_CSV, PointFn, run_points
from solver.analysis.store import STORE_NAME, ResultStore
from solver.analysis.sweep_spec import Value, build_points, parse_vary
from solver.errors import InputError
from solver.io import limits
from solver.io.loader import load_instance
from solver.io.outputs import check_out_dir, given_path, remove_outputs, replacing

# A bad value in a 2,000-point sweep should not print 2,000 lines.
MAX_PROBLEMS_SHOWN = 12
_PARAMS_META = "sweep_parameters"
STORE_FILES = (STORE_NAME, f"{STORE_NAME}-wal", f"{STORE_NAME}-shm", RESULTS_CSV)


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
    failed_points: int = 0
    """Points with a row of status `error` (the sweep's exit code is 1 when > 0)."""
    first_failure: str | None = None
    """The reason of the first failed point, for the summary line."""


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
    sizes = [len(v.values) for v in varies]
    count = sum(sizes) if one_at_a_time else math.prod(sizes)
    if count > limits.MAX_SWEEP_POINTS:
        shape = " + ".join(map(str, sizes)) if one_at_a_time else " x ".join(map(str, sizes))
        raise InputError(
            [
                f"sweep: {shape} = {count:,} points; the limit is {limits.MAX_SWEEP_POINTS:,}: "
                "use fewer --vary values"
            ]
        )
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


def plot_files(varies: list[Vary], grid: bool) -> list[str]:
    """Names of the plots `solver.analysis.plots.plot_sweep` writes for these keys."""
    if not grid or len(varies) == 1:
        return [f"{v.key}.png" for v in varies]
    pairs = itertools.combinations(varies, 2)
    return [f"{kind}_{a.key}__{b.key}.png" for a, b in pairs for kind in ("phase", "ratio")]


def parameters(
    file: str, varies: list[Vary], one_at_a_time: bool, set_overrides: dict[str, Any]
) -> dict[str, Any]:
    """What makes two sweeps the same: the instance's content (its model and hardware files
    included), the varied values, the grid form and the `--set` overrides."""
    inst = load_instance(file, set_overrides)
    content = json.dumps(dataclasses.asdict(inst.replace(path=None)), sort_keys=True, default=str)
    return {
        "instance_sha256": hashlib.sha256(content.encode()).hexdigest(),
        "vary": [[v.key, list(v.values)] for v in varies],
        "one_at_a_time": one_at_a_time,
        "set": set_overrides,
    }


_WHAT = {
    "instance_sha256": "the instance (or a file it names) changed",
    "vary": "other --vary values",
    "one_at_a_time": "another --one-at-a-time setting",
    "set": "other --set/--arch/--backend overrides",
}


def _check_resume(store: ResultStore, params: dict[str, Any]) -> None:
    """Refuse to resume a store made with other parameters (its results would mix)."""
    text = store.get_meta(_PARAMS_META)
    if text is None:
        raise InputError(
            [
                f"{store.path}: holds {store.count()} results but does not say which sweep made "
                "them; pass --force to start over, or pick another --out directory"
            ]
        )
    stored = json.loads(text)
    mine = json.loads(json.dumps(params, sort_keys=True, default=str))
    diff = [k for k in dict.fromkeys([*_WHAT, *stored, *mine]) if stored.get(k) != mine.get(k)]
    if diff:
        if "set" in diff:
            detail = f" (stored --set {json.dumps(stored.get('set'), sort_keys=True)})"
        else:
            detail = ""
        raise InputError(
            [
                f"{store.path}: made by another run: "
                f"{'; '.join(_WHAT.get(k, f'another {k}') for k in diff)}"
                f"{detail}; rerun with the same options, --force to start over, or pick "
                "another --out directory"
            ]
        )


def prepare_out(
    out: Path, outputs: list[str], params: dict[str, Any], resume: bool, force: bool
) -> None:
    """Check the output directory before any point runs; --force clears earlier results."""
    if resume and force:
        raise InputError(
            ["--resume and --force: give one (continue the stored sweep, or replace it)"]
        )
    # A writable directory, and no link or device where any output (the store included) goes.
    check_out_dir(out, "--out", outputs, force=True)
    try:
        stored = 0
        if not force and (out / STORE_NAME).exists():
            with ResultStore(out) as store:
                stored = store.count()
                if stored and not resume:
                    raise InputError(
                        [
                            f"{store.path} already holds {stored} results; pass --resume "
                            "to continue that sweep, --force to start over, or pick another "
                            "--out directory"
                        ]
                    )
                if stored:
                    _check_resume(store, params)
        if not resume and not stored:
            others = [f for f in outputs if f not in STORE_FILES[:3]]
            check_out_dir(out, "--out", others, force=force)
        if force:
            remove_outputs(out, outputs)
        with ResultStore(out) as store:
            store.set_meta(_PARAMS_META, json.dumps(params, sort_keys=True, default=str))
    except sqlite3.Error as exc:
        raise InputError([f"--out {out}: {STORE_NAME}: {exc}"]) from None


def default_out_dir(file: str | os.PathLike[str]) -> Path:
    """`sweep-<instance stem>` in the current directory."""
    return Path(f"sweep-{Path(file).stem}")


def count_failed(table: pd.DataFrame) -> int:
    """Rows with status `error`: one per point that raised, or per architecture whose
    backend failed (infeasible points are results, not failures)."""
    if "status" not in table.columns:
        return 0
    return int((table["status"] == "error").sum())


def failed_points(out: Path) -> tuple[int, str | None]:
    """(points with an error, the first one's reason) from the store."""
    with ResultStore(out) as store:
        failed = [
            r
            for r in store.records()
            if r["status"] == "error" or any(row.get("status") == "error" for row in r["rows"])
        ]
    if not failed:
        return 0, None
    first = failed[0]
    reason = first["reason"] or next(
        (str(row.get("binding")) for row in first["rows"] if row.get("status") == "error"), None
    )
    return len(failed), reason


def _whole_counts(table: pd.DataFrame, out: Path) -> pd.DataFrame:
    """Node and GPU counts as (nullable) integers, also in results.csv: mixed AFD/EP rows
    (EP has no N_A) otherwise turn whole counts into floats such as 16.0."""
    from solver.api import INT_COLUMNS

    present = {c: "Int64" for c in INT_COLUMNS if c in table.columns}
    if not present:
        return table
    table = table.astype(present)
    with replacing(out / "results.csv") as tmp:
        table.to_csv(tmp, index=False)
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
    force: bool = False,
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
        force: replace the results and plots of an earlier sweep in `out_dir`.

    Raises:
        InputError: bad keys, values, `--set`, output directory or scheduler address, or a
            resumed store made with other parameters.
        SweepInterrupted: on Ctrl-C, after everything finished was stored.
    """
    path = str(file)
    parsed = parse_varies(varies)
    if not parsed:
        raise InputError(["sweep: give at least one --vary KEY=SPEC"])
    if workers is not None and not 1 <= workers <= limits.MAX_WORKERS:
        raise InputError([f"--workers {workers}: must be in [1, {limits.MAX_WORKERS}]"])
    set_overrides = dict(extra_overrides or {})
    points = sweep_points(parsed, one_at_a_time)
    validate(path, parsed, set_overrides)
    if scheduler:
        try:
            check_scheduler(scheduler, path)
        except ConnectionError as exc:
            raise InputError([str(exc)]) from None
    out = given_path(out_dir, "--out") if out_dir is not None else default_out_dir(path)
    outputs = [*STORE_FILES, *(plot_files(parsed, not one_at_a_time) if make_plots else [])]
    prepare_out(out, outputs, parameters(path, parsed, one_at_a_time, set_overrides), resume, force)
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
    except sqlite3.Error as exc:
        raise InputError([f"--out {out}: {STORE_NAME}: {exc}"]) from None
    table = _whole_counts(table, out)
    plots: list[Path] = []
    if make_plots:
        from solver.analysis.plots import plot_sweep  # matplotlib only when plotting

        objective = load_instance(path, set_overrides).search.objective
        plots = plot_sweep(table, parsed, not one_at_a_time, out, objective)
    n_bad, reason = failed_points(out)
    return SweepResult(table, out, len(points), count_failed(table), plots, n_bad, reason)
