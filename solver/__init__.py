"""afd-solver: integer programs for AFD versus EP deployments of MoE models.

Python API: `solve(path_or_instance, **options)` and `evaluate(path_or_instance,
deployment)`, both returning a pandas DataFrame with one row per architecture (`solve` of a
list of files, or `solve_many`, one table for them all); `pareto(path_or_instance, tpot_ms)`
the exact TPOT frontier;
`size(fleet_path, **options)` sizes a fleet (`solver.sizing.size.SizeResult`);
`calibrate(measurements_csv, hardware, model=None)` fits a hardware file to measurements
(`solver.calibration.run.Calibrated`: `.report()`, `.table()`, `.write(path)`);
`uncertainty(path_or_instance, samples, seed)` samples the hardware and re-solves
(`solver.uncertainty.run.Uncertainty`, `.to_dict()` is `solve --uncertainty --format json`).
The names are resolved lazily (PEP 562), so importing a submodule such as
`solver.io.loader` does not pull in the whole API (and no import circle forms).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "COLUMNS",
    "calibrate",
    "evaluate",
    "pareto",
    "size",
    "solve",
    "solve_many",
    "uncertainty",
]


def __getattr__(name: str) -> Any:
    if name == "uncertainty":
        from solver.uncertainty.run import uncertainty

        return uncertainty
    if name == "calibrate":
        from solver.calibration.run import calibrate

        return calibrate
    if name == "size":
        from solver.sizing import size

        return size.size
    if name in ("solve", "solve_many", "pareto"):
        from solver import facade

        return getattr(facade, name)
    if name in __all__:
        from solver import api

        return getattr(api, name)
    raise AttributeError(f"module 'solver' has no attribute {name!r}")
