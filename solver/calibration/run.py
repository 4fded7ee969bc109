"""`calibrate`: fit a hardware file to a team's own measurements (docs/model.md §19).

    measurements CSV -> checked rows -> a Problem on the catalogue hardware -> bounded least
    squares -> a FitResult -> a table / JSON report and a hardware TOML with [calibration]

The hardware is taken in its sustained profile (the one that carries efficiencies and fixed
times); the calibrated file keeps every fact of the original and replaces `[efficiency]`,
`[latency]` and, when grouped-GEMM rows span three or more token counts, `gemm_calibration`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from formulations.types import Hardware, Model
from solver.calibration import parameters
from solver.calibration.fit import FitResult, fit
from solver.calibration.measurements import read_measurements
from solver.calibration.problem import Problem, build
from solver.errors import InputError
from solver.io.references import resolve
from solver.io.tables import validate_hardware_file, validate_model_file

MIN_CURVE_KNOTS = 3
"""Distinct tokens-per-expert values of grouped-GEMM rows from which a curve is fitted."""
MAX_CURVE_KNOTS = 16


@dataclass
class Calibrated:
    """A finished calibration: what went in and what the fit found.

    `report()` is the JSON object of `calibrate --format json`, `table()` its text, and
    `write(path)` writes the calibrated hardware file (never over an existing file unless
    `force`)."""

    csv_path: Path
    hardware_path: Path
    base: Hardware
    model: Model | None
    problem: Problem
    result: FitResult

    @property
    def hardware(self) -> Hardware:
        """The calibrated hardware (sustained profile)."""
        return self.result.hardware

    def report(self) -> dict[str, Any]:
        from solver.calibration import output

        return output.report(self)

    def table(self) -> str:
        from solver.calibration import output

        return output.table(self)

    def write(self, path: str | os.PathLike[str], *, force: bool = False, source: str = "") -> Path:
        from solver.calibration import output

        return output.write_hardware(self, path, force=force, source=source)


def _reference(kind: str, ref: str | os.PathLike[str], option: str) -> Path:
    problems: list[str] = []
    path = resolve(kind, str(ref), Path.cwd(), option, problems)
    if path is None:
        raise InputError(problems)
    return path


def _knots(problem: Problem) -> tuple[float, ...]:
    """Curve points to fit: the distinct tokens per expert of the grouped-GEMM rows (at most
    MAX_CURVE_KNOTS, spread over their range), or none when there are fewer than three."""
    idx = problem.kernel_rows.get("grouped_gemm")
    if idx is None:
        return ()
    values = np.unique(problem.kernel_inputs["grouped_gemm"]["tokens_per_expert"])
    if len(values) < MIN_CURVE_KNOTS:
        return ()
    if len(values) > MAX_CURVE_KNOTS:
        picks = np.round(np.linspace(0, len(values) - 1, MAX_CURVE_KNOTS)).astype(int)
        values = values[np.unique(picks)]
    return tuple(float(v) for v in values)


def calibrate(
    measurements: str | os.PathLike[str],
    hardware: str | os.PathLike[str],
    model: str | os.PathLike[str] | None = None,
    *,
    curve: bool = False,
    leave_one_out: bool = True,
) -> Calibrated:
    """Fit the hardware's efficiencies, fixed times and grouped-GEMM curve to measurements.

    Args:
        measurements: a CSV of kernel and deployment rows (README "Calibration").
        hardware: a catalogue hardware name or a hardware TOML path.
        model: a catalogue model name or path; needed by attention rows.
        curve: fit the grouped-GEMM curve (achieved TFLOP/s at each token count of the
            grouped_gemm rows, at least three) instead of the constant FFN efficiency and the
            grouped GEMM's fixed time.
        leave_one_out: refit once per row to report its leave-one-out prediction.
    """
    for name, ref in (("measurements", measurements), ("hardware", hardware)):
        if not isinstance(ref, (str, os.PathLike)) or not str(ref):
            raise InputError([f"calibrate: {name} must be a path or name, got {ref!r}"])
    if model is not None and (not isinstance(model, (str, os.PathLike)) or not str(model)):
        raise InputError([f"calibrate: model must be a name or path, got {model!r}"])
    for flag, value in (("curve", curve), ("leave_one_out", leave_one_out)):
        if not isinstance(value, bool):
            raise InputError([f"calibrate: {flag} must be true or false, got {value!r}"])
    csv_path = Path(measurements)
    hw_path = _reference("hardware", hardware, "--hardware")
    base = validate_hardware_file(hw_path)
    the_model = validate_model_file(_reference("models", model, "--model")) if model else None
    problems: list[str] = []
    rows = read_measurements(csv_path, problems)
    problem = build(rows, base, the_model, csv_path, problems)
    knots = _knots(problem) if curve else ()
    if curve and not knots:
        raise InputError(
            [f"--curve: the grouped_gemm rows of {csv_path} need at least {MIN_CURVE_KNOTS} "
             "distinct tokens_per_expert values"]
        )  # fmt: skip
    candidates = parameters.catalogue(base, knots)
    if knots:  # the curve's points take up the grouped GEMM's fixed time (docs/model.md §19.3)
        candidates = [p for p in candidates if p.name != "latency.grouped_gemm"]
    result = fit(problem, base, candidates, loo=leave_one_out)
    if knots:
        result.fixed.setdefault("latency.grouped_gemm", "folded into the fitted grouped-GEMM curve")
        for name in result.fixed:  # a point the rows do not determine is not written
            if name.startswith("gemm_calibration."):
                result.fixed[name] += "; left out of the curve"
        monotone_curve(result, problem)
    return Calibrated(csv_path, hw_path, base, the_model, problem, result)


def monotone_curve(result: FitResult, problem: Problem) -> None:
    """Make the fitted curve's time per expert non-decreasing, as the loader requires
    (`parameters.monotone`); noted when it changed a point."""
    curve = parameters.monotone(result.hardware.gemm_calibration)
    if curve == tuple(sorted(result.hardware.gemm_calibration)):
        return
    result.hardware = dataclasses.replace(result.hardware, gemm_calibration=curve)
    result.predicted = problem.predict(result.hardware)
    result.residuals = np.log(result.predicted / problem.measured)
    result.notes.append(
        "grouped-GEMM points pooled so that time per expert does not fall as tokens grow"
    )
