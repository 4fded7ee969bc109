"""Where the best architecture changes along one parameter: a coarse grid, then bisection.

The integer optima are step functions of the parameter, so the objective
difference jumps rather than crossing zero smoothly: we look for changes of the
*winner* (an architecture, tie, or none when all are infeasible) between neighbouring
points of a coarse grid and bisect each one until the bracket is narrower than
the tolerance (integer-valued fields stop at adjacent integers). An infeasible
side counts as minus infinity; for the `min_gpus` objective fewer GPUs win.
Two changes between the same pair of grid points cancel out and stay hidden:
refine the grid (`--grid N`) when in doubt.
"""

from __future__ import annotations

import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from formulations import archspec
from formulations.types import Hardware, IntRange, Model, Search, Workload
from solver.analysis.sweep_spec import parse_key
from solver.errors import InputError
from solver.io.loader import load_instance

SECTION_TYPES: dict[str, type] = {
    "model": Model,
    "hardware": Hardware,
    "workload": Workload,
    "search": Search,
}
DEFAULT_GRID_POINTS = 9
DEFAULT_TOL_FRACTION = 1e-3
FEASIBLE = ("optimal", "feasible")


def winner(objectives: Mapping[str, float | None], objective: str) -> str:
    """The architecture with the best objective, `tie` when the best two are equal, `none`
    when every one is infeasible (None: infeasible or not solved); fewer GPUs win for
    `min_gpus`, more of the objective otherwise."""
    found = [
        (v if objective == "min_gpus" else -v, a) for a, v in objectives.items() if v is not None
    ]
    if not found:
        return "none"
    found.sort()
    if len(found) > 1 and math.isclose(found[0][0], found[1][0], rel_tol=1e-9):
        return "tie"
    return found[0][1]


def is_integer_key(key: str) -> bool:
    """Whether a dotted field holds whole numbers (int or a pinned integer range)."""
    section, _, name = key.partition(".")
    cls = SECTION_TYPES.get(section)
    if cls is None:
        return False
    tp = typing.get_type_hints(cls).get(name)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        tp = next((a for a in typing.get_args(tp) if a is not type(None)), None)
    return tp in (int, IntRange)


@dataclass(frozen=True)
class Crossing:
    """A bracket [lower, upper] in which the winner changes."""

    lower: float
    upper: float
    winner_below: str
    winner_above: str


@dataclass
class Crossover:
    """The result of `find_crossovers` (its `as_dict` is the CLI's JSON)."""

    key: str
    lo: float
    hi: float
    crossings: list[Crossing]
    winner_everywhere: str | None
    min_advantage: float | None = None
    """Winner's objective over the loser's, lowest on the grid (None: loser never feasible)."""
    max_advantage: float | None = None
    objective: str = "tokens_per_gpu"
    solves: int = 0
    evaluations: dict[float, dict[str, float | None]] = field(default_factory=dict)
    """Every architecture's objective at every evaluated value, None where infeasible."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "lo": self.lo,
            "hi": self.hi,
            "crossings": [asdict(c) for c in self.crossings],
            "winner_everywhere": self.winner_everywhere,
            "min_advantage": self.min_advantage,
            "max_advantage": self.max_advantage,
        }


class _Probe:
    """Solves both architectures at a parameter value, once per value."""

    def __init__(
        self, file: str, key: str, overrides: dict[str, Any], backend: str | None, integer: bool
    ) -> None:
        self.file, self.key, self.overrides = file, key, overrides
        self.backend, self.integer = backend, integer
        self.objective = load_instance(file, overrides).search.objective
        self.cache: dict[float, dict[str, float | None]] = {}

    def value(self, x: float) -> int | float:
        return int(round(x)) if self.integer else float(x)

    def objectives(self, x: float) -> dict[str, float | None]:
        from solver.api import solve

        if x not in self.cache:
            df = solve(
                self.file,
                architectures=list(archspec.NAMES),
                backend=self.backend,
                overrides={**self.overrides, self.key: self.value(x)},
            )
            found: dict[str, float | None] = dict.fromkeys(archspec.NAMES)
            for rec in df.to_dict(orient="records"):
                obj = rec["objective"]
                if rec["status"] in FEASIBLE and obj is not None and not math.isnan(obj):
                    found[rec["architecture"]] = float(obj)
            self.cache[x] = found
        return self.cache[x]

    def winner(self, x: float) -> str:
        return winner(self.objectives(x), self.objective)


def _bisect(probe: _Probe, a: float, wa: str, b: float, wb: str, tol: float) -> list[Crossing]:
    """Brackets of every winner change in [a, b] (a third winner inside splits the bracket)."""
    while (b - a > 1) if probe.integer else (b - a >= tol):
        m = float((int(a) + int(b)) // 2) if probe.integer else (a + b) / 2
        wm = probe.winner(m)
        if wm == wa:
            a = m
        elif wm == wb:
            b = m
        else:
            return _bisect(probe, a, wa, m, wm, tol) + _bisect(probe, m, wm, b, wb, tol)
    return [Crossing(a, b, wa, wb)]


def _grid(lo: float, hi: float, n: int, integer: bool) -> list[float]:
    xs = [lo + (hi - lo) * i / (n - 1) for i in range(n)]
    if integer:
        xs = [float(round(x)) for x in xs]
    return sorted(set(xs))


def _advantages(probe: _Probe, xs: list[float], best: str) -> tuple[float | None, float | None]:
    """The winner's objective over the best other architecture's, lowest and highest."""
    ratios = []
    for x in xs:
        found = probe.objectives(x)
        mine = found[best]
        others = [v for a, v in found.items() if a != best and v is not None]
        if mine is None or not others or min(mine, *others) <= 0:
            continue
        if probe.objective == "min_gpus":
            ratios.append(min(others) / mine)
        else:
            ratios.append(mine / max(others))
    return (min(ratios), max(ratios)) if ratios else (None, None)


def find_crossovers(
    file: str | os.PathLike[str],
    key: str,
    lo: float,
    hi: float,
    *,
    tol: float | None = None,
    grid_points: int = DEFAULT_GRID_POINTS,
    overrides: dict[str, Any] | None = None,
    backend: str | None = None,
) -> Crossover:
    """Every value of `key` in [lo, hi] where the better architecture changes.

    Args:
        file: the instance file.
        key: a dotted numeric field, e.g. `hardware.hbm_gb`.
        lo, hi: the interval (lo < hi); integer fields need whole bounds.
        tol: bracket width to stop at (default (hi - lo) / 1000; integers stop at 1).
        grid_points: coarse grid size before bisecting (>= 2).
        overrides: `--set` overrides for every solve.
        backend: solver backend (default the instance's).

    Raises:
        InputError: bad key, bounds, tolerance or grid, or values the instance rejects.
    """
    path, over = str(file), dict(overrides or {})
    try:
        key = parse_key(key)
    except ValueError as exc:
        raise InputError([str(exc).replace("--vary key", "key")]) from None
    integer = is_integer_key(key)
    problems = []
    if not lo < hi:
        problems.append(f"crossover {key}: LO {lo:g} must be below HI {hi:g}")
    if integer and not (float(lo).is_integer() and float(hi).is_integer()):
        problems.append(f"crossover {key}: an integer field needs whole LO and HI")
    if grid_points < 2:
        problems.append(f"--grid {grid_points}: need at least 2 points")
    tol_value = (hi - lo) * DEFAULT_TOL_FRACTION if tol is None else tol
    if not tol_value > 0 and (tol is not None or lo < hi):
        problems.append(f"--tol {tol_value:g}: must be positive")
    if key in over:
        problems.append(f"{key}: given both as --vary and --set; keep one")
    if problems:
        raise InputError(problems)
    probe = _Probe(path, key, over, backend, integer)
    for bound in (lo, hi):  # the instance's own checks, before any solve
        load_instance(path, {**over, key: probe.value(bound)})
    xs = _grid(float(lo), float(hi), grid_points, integer)
    wins = [probe.winner(x) for x in xs]
    crossings: list[Crossing] = []
    for i in range(len(xs) - 1):
        if wins[i] != wins[i + 1]:
            crossings += _bisect(probe, xs[i], wins[i], xs[i + 1], wins[i + 1], tol_value)
    everywhere = wins[0] if len(set(wins)) == 1 and wins[0] in archspec.NAMES else None
    lo_adv, hi_adv = _advantages(probe, xs, everywhere) if everywhere else (None, None)
    return Crossover(
        key,
        float(lo),
        float(hi),
        crossings,
        everywhere,
        lo_adv,
        hi_adv,
        probe.objective,
        len(probe.cache),
        dict(sorted(probe.cache.items())),
    )


def describe(result: Crossover) -> str:
    """The human summary printed by `afd-solver crossover`."""
    lines = [
        f"crossover of {' vs '.join(map(archspec.label, archspec.NAMES))} over {result.key} "
        f"in [{result.lo:g}, {result.hi:g}] "
        f"(objective {result.objective}, {result.solves} solves)"
    ]
    for c in result.crossings:
        lines.append(
            f"  {archspec.label(c.winner_below)} below, {archspec.label(c.winner_above)} above: "
            f"between {c.lower:.6g} and {c.upper:.6g}"
        )
    if result.winner_everywhere:
        adv = (
            "the other side is infeasible throughout"
            if result.min_advantage is None
            else f"advantage {result.min_advantage:.3f}x to {result.max_advantage:.3f}x"
        )
        lines.append(f"  {archspec.label(result.winner_everywhere)} wins everywhere ({adv})")
    elif not result.crossings:
        lines.append("  no winner change found")
    return "\n".join(lines)


CSV_COLUMNS = (
    "key",
    "lo",
    "hi",
    "lower",
    "upper",
    "winner_below",
    "winner_above",
    "winner_everywhere",
    "min_advantage",
    "max_advantage",
)


def csv_rows(result: Crossover) -> list[dict[str, Any]]:
    """One row per crossing, or one row naming the winner everywhere."""
    base = {"key": result.key, "lo": result.lo, "hi": result.hi}
    if not result.crossings:
        return [
            {
                **base,
                "lower": None,
                "upper": None,
                "winner_below": None,
                "winner_above": None,
                "winner_everywhere": result.winner_everywhere,
                "min_advantage": result.min_advantage,
                "max_advantage": result.max_advantage,
            }
        ]
    return [
        {
            **base,
            **asdict(c),
            "winner_everywhere": None,
            "min_advantage": None,
            "max_advantage": None,
        }
        for c in result.crossings
    ]
