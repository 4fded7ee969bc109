"""Bounded nonlinear least squares of the hardware parameters (docs/model.md §19.3).

Residuals are `log(predicted / measured)`, one per observation, so rows of every kind and scale
weigh alike and a 5 % error is 0.05 wherever it occurs. scipy's `least_squares` (trust-region
reflective, bounds from `solver.calibration.parameters`) minimises their sum of squares.

Identifiability: at the optimum the Jacobian's columns are taken in the parameters' priority
order (efficiencies, fixed times, curve points); a parameter no observation depends on, or whose
column lies in the span of those already kept, cannot be told apart by these rows: it keeps its
catalogue value and the fit is repeated without it, until every fitted parameter is identified.
Standard errors come from `s^2 (J'J)^-1` with `s^2` the residual variance over the degrees of
freedom; leave-one-out refits each row's prediction without that row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from formulations.types import Hardware
from solver.calibration.parameters import Parameter, apply, value_of
from solver.calibration.problem import Problem

COLLINEAR = 1e-7
"""Smallest singular value, relative to the largest, of the kept columns scaled to unit norm:
below it a parameter is a combination of the others as far as these rows can tell."""
FLAT = 1e-9
"""A column (scaled by the parameter's size) with a smaller norm: no row depends on it."""
MAX_ROUNDS = 8
"""Identify-and-refit rounds (each drops at least one parameter)."""
FLOOR = {"1": 0.01, "us": 1.0, "TFLOP/s": 1.0}
"""Smallest size a parameter is scaled by (a fixed time at 0 us still moves by 1 us)."""


@dataclass
class FitResult:
    """What a fit found: estimates, their uncertainty, and how well each row is predicted."""

    hardware: Hardware
    """The calibrated hardware (catalogue values where a parameter was not fitted)."""
    fitted: list[Parameter]
    estimates: np.ndarray
    std_errors: np.ndarray
    covariance: np.ndarray
    fixed: dict[str, str]
    """Parameter name -> why the rows cannot identify it."""
    at_bound: list[str]
    predicted: np.ndarray
    residuals: np.ndarray
    """log(predicted / measured) per observation."""
    weights: np.ndarray = field(default_factory=lambda: np.empty(0))
    """Each observation's weight (a row weighs 1 in all)."""
    loo_predicted: np.ndarray = field(default_factory=lambda: np.empty(0))
    dof: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def rms(self) -> float:
        """Root mean square of the rows' log residuals (weighted: one row counts once)."""
        if not len(self.residuals):
            return 0.0
        w2 = self.weights**2
        return float(np.sqrt(np.sum(w2 * self.residuals**2) / np.sum(w2)))


def _scale(p: Parameter, value: float) -> float:
    return max(abs(value), FLOOR[p.unit])


def _residuals(
    problem: Problem, base: Hardware, params: list[Parameter], x: np.ndarray
) -> np.ndarray:
    pred = problem.predict(apply(base, params, x))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(pred / problem.measured)
    r = np.where(np.isfinite(r), r, 50.0)  # a prediction of 0 or inf: far off, not NaN
    return r * problem.weights


def _jacobian(
    problem: Problem, base: Hardware, params: list[Parameter], x: np.ndarray, r0: np.ndarray
) -> np.ndarray:
    """Central differences (one-sided at a bound) of the residuals, per parameter unit."""
    jac = np.empty((len(r0), len(params)))
    for j, p in enumerate(params):
        h = 1e-5 * _scale(p, x[j])
        up, down = min(x[j] + h, p.hi), max(x[j] - h, p.lo)
        xu, xd = x.copy(), x.copy()
        xu[j], xd[j] = up, down
        ru = _residuals(problem, base, params, xu) if up > x[j] else r0
        rd = _residuals(problem, base, params, xd) if down < x[j] else r0
        jac[:, j] = (ru - rd) / (up - down)
    return jac


def _solve(
    problem: Problem,
    base: Hardware,
    params: list[Parameter],
    x0: np.ndarray,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """The least-squares estimate from `x0` (observations `rows` only, when given)."""
    if not params:
        return np.empty(0)
    lo = np.array([p.lo for p in params])
    hi = np.array([p.hi for p in params])
    start = np.clip(x0, lo, hi)
    scale = np.array([_scale(p, v) for p, v in zip(params, start, strict=True)])

    def fun(x: np.ndarray) -> np.ndarray:
        r = _residuals(problem, base, params, x)
        return r if rows is None else r[rows]

    result = least_squares(
        fun, start, bounds=(lo, hi), x_scale=scale, method="trf", xtol=1e-12, ftol=1e-12,
        gtol=1e-12, max_nfev=200 * (len(params) + 1),
    )  # fmt: skip
    return np.asarray(result.x)


def _flat_columns(jac: np.ndarray, params: list[Parameter], x: np.ndarray) -> list[int]:
    """Indices of the parameters whose (scaled) Jacobian column is zero."""
    scaled = jac * np.array([_scale(p, v) for p, v in zip(params, x, strict=True)])
    return [j for j, norm in enumerate(np.linalg.norm(scaled, axis=0)) if norm <= FLAT]


def _identified(
    params: list[Parameter], jac: np.ndarray, x: np.ndarray
) -> tuple[list[int], dict[int, str]]:
    """Indices of the parameters these rows identify, in priority order, and why the others
    are not (module docstring)."""
    scaled = jac * np.array([_scale(p, v) for p, v in zip(params, x, strict=True)])
    norms = np.linalg.norm(scaled, axis=0)
    kept: list[int] = []
    dropped: dict[int, str] = {}
    for j in range(len(params)):
        if norms[j] <= FLAT:
            dropped[j] = "no row depends on it"
            continue
        trial = scaled[:, [*kept, j]] / norms[[*kept, j]]
        sv = np.linalg.svd(trial, compute_uv=False)
        if len(sv) < len(kept) + 1 or sv[-1] < COLLINEAR * sv[0]:
            partner = max(kept, key=lambda i: abs(float(trial[:, -1] @ trial[:, kept.index(i)])))
            dropped[j] = f"the rows cannot tell it apart from {params[partner].name}"
            continue
        kept.append(j)
    return kept, dropped


def fit(
    problem: Problem, base: Hardware, candidates: list[Parameter], loo: bool = True
) -> FitResult:
    """Fit `candidates` (starting from `base`'s values) to the problem's observations."""
    start = np.array([value_of(base, p) for p in candidates])
    active = list(range(len(candidates)))
    fixed: dict[str, str] = {}
    x = start.copy()
    # A parameter no row depends on at the start is dropped before the first fit: a flat
    # direction only makes the solver run to its evaluation limit (the rows may still fail
    # to identify others; the rounds below find those).
    r0 = _residuals(problem, base, candidates, start)
    flat = _flat_columns(_jacobian(problem, base, candidates, start, r0), candidates, start)
    for j in flat:
        fixed[candidates[j].name] = "no row depends on it"
    active = [j for j in active if j not in flat]
    for _ in range(MAX_ROUNDS):
        params = [candidates[i] for i in active]
        x_active = _solve(problem, base, params, x[active])
        x[active] = x_active
        r0 = _residuals(problem, base, params, x_active)
        jac = _jacobian(problem, base, params, x_active, r0)
        kept, dropped = _identified(params, jac, x_active)
        if not dropped:
            break
        for j, why in dropped.items():
            fixed[params[j].name] = why
            x[active[j]] = start[active[j]]
        active = [active[j] for j in kept]
    params = [candidates[i] for i in active]
    x_active = x[active]
    hardware = apply(base, params, x_active) if params else base
    predicted = problem.predict(hardware)
    residuals = np.log(predicted / problem.measured)
    weighted = residuals * problem.weights
    jac = _jacobian(problem, base, params, x_active, weighted) if params else np.empty((0, 0))
    m, p = len(problem.rows), len(params)
    dof = m - p
    cov = np.full((p, p), np.nan)
    if p and dof > 0:
        s2 = float(weighted @ weighted) / dof
        cov = s2 * np.linalg.pinv(jac.T @ jac)
        cov = (cov + cov.T) / 2.0  # exactly symmetric, as the file's reader requires
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None)) if p else np.empty(0)
    tol = 1e-9
    at_bound = [
        q.name for q, v in zip(params, x_active, strict=True) if v <= q.lo + tol or v >= q.hi - tol
    ]
    result = FitResult(
        hardware=hardware,
        fitted=params,
        estimates=x_active,
        std_errors=se,
        covariance=cov,
        fixed=fixed,
        at_bound=at_bound,
        predicted=predicted,
        residuals=residuals,
        weights=problem.weights,
        dof=dof,
    )
    if dof <= 0 and p:
        result.notes.append(
            f"{m} rows for {p} parameters: no degrees of freedom left, so no standard errors "
            "(add rows)"
        )
    if loo:
        result.loo_predicted = leave_one_out(problem, base, params, x_active)
    return result


def leave_one_out(
    problem: Problem, base: Hardware, params: list[Parameter], x: np.ndarray
) -> np.ndarray:
    """Each observation predicted by the fit of every row but its own (same parameters)."""
    rows = np.array([o.row for o in problem.observations])
    out = np.full(len(rows), math.nan)
    for row in np.unique(rows):
        keep = np.flatnonzero(rows != row)
        if len(keep) == 0:
            continue
        x_loo = _solve(problem, base, params, x, keep) if params else x
        hw = apply(base, params, x_loo) if params else base
        pred = problem.predict(hw)
        out[rows == row] = pred[rows == row]
    return out
