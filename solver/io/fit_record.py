"""The `[calibration]` table of a hardware file: what `afd-solver calibrate` fitted.

    [calibration]
    rows = 24                                   # measurement rows the fit used
    residual_rms = 0.031                        # RMS of log(predicted / measured)
    parameters = ["efficiency.ffn", "latency.attention"]
    covariance = [[1.2e-4, 0.0], [0.0, 0.81]]   # of the parameters, in the file's units
    fixed = ["efficiency.scaleup"]              # not identified: catalogue value kept
    source = "afd-solver calibrate ..."

The estimates themselves are the file's own `[efficiency]`, `[latency]` and `gemm_calibration`
values (a parameter named `gemm_calibration.<tokens per expert>` is the TFLOP/s of that point),
so the table stores no number twice. `solve --uncertainty` samples the parameters around those
values with this covariance (docs/model.md §19).
"""

from __future__ import annotations

import math
import re
from typing import Any

from formulations.types import LATENCY_STAGES, Calibration
from solver.io import numbers
from solver.io.schema import MAX_LIST_ITEMS, short, show

EFFICIENCY_KEYS = ("ffn", "attention", "hbm", "scaleup", "scaleout")
"""The `[efficiency]` keys: achieved fraction of each peak (docs/model.md §1.2)."""
_NAME = re.compile(
    r"^(efficiency\.(" + "|".join(EFFICIENCY_KEYS) + r")"
    r"|latency\.(" + "|".join(LATENCY_STAGES) + r")"
    r"|gemm_calibration\.[0-9]+(\.[0-9]+)?)$"
)
KEYS = ("rows", "residual_rms", "parameters", "covariance", "fixed", "source")


def _names(raw: Any, where: str, problems: list[str]) -> tuple[str, ...] | None:
    if not isinstance(raw, list) or len(raw) > MAX_LIST_ITEMS:
        problems.append(f"{where} = {show(raw)} must be a list of at most {MAX_LIST_ITEMS} names")
        return None
    bad = [v for v in raw if not isinstance(v, str) or not _NAME.match(v)]
    if bad:
        problems.append(
            f"{where}: {show(bad)} not parameter names; allowed: efficiency.<key>, "
            "latency.<stage>, gemm_calibration.<tokens per expert>"
        )
        return None
    if len(set(raw)) != len(raw):
        problems.append(f"{where}: a parameter is named twice")
        return None
    return tuple(raw)


def _finite(x: Any) -> bool:
    """A finite number (any size of integer judged without converting it first)."""
    return numbers.convert(x, "")[1] is None


def _covariance(raw: Any, size: int, where: str, problems: list[str]) -> Any:
    shape_ok = (
        isinstance(raw, list)
        and len(raw) == size
        and all(isinstance(r, list) and len(r) == size for r in raw)
    )
    if not shape_ok:
        problems.append(f"{where}: must be a {size} x {size} list of lists (one row per parameter)")
        return None
    if not all(_finite(x) for r in raw for x in r):
        problems.append(f"{where}: every entry must be a finite number")
        return None
    cov = tuple(tuple(float(x) for x in r) for r in raw)
    for i in range(size):
        if cov[i][i] < 0:
            problems.append(f"{where}: variance {cov[i][i]!r} of parameter {i + 1} is negative")
            return None
        for j in range(i):
            scale = math.sqrt(cov[i][i] * cov[j][j]) + abs(cov[i][j]) + 1e-300
            if abs(cov[i][j] - cov[j][i]) > 1e-9 * scale:
                problems.append(f"{where}: not symmetric at ({i + 1}, {j + 1})")
                return None
    return cov


def fit_record(raw: Any, prefix: str, problems: list[str]) -> Calibration | None:
    """The `[calibration]` table (`None` when absent); problems are appended with `prefix`."""
    if raw is None:
        return None
    where = f"{prefix}calibration"
    if not isinstance(raw, dict):
        problems.append(f"{where} = {show(raw)}: must be a table [calibration]")
        return None
    start = len(problems)
    for key in raw:
        if key not in KEYS:
            problems.append(f"{where}.{short(str(key))}: unknown field; allowed: {', '.join(KEYS)}")
    rows = raw.get("rows")
    if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= 1_000_000:
        problems.append(f"{where}.rows = {show(rows)} must be an integer in [1, 1,000,000]")
    rms: Any = raw.get("residual_rms")
    if not _finite(rms) or float(rms) < 0:
        problems.append(f"{where}.residual_rms = {show(rms)} must be a finite number >= 0")
    names = _names(raw.get("parameters"), f"{where}.parameters", problems)
    fixed = _names(raw.get("fixed", []), f"{where}.fixed", problems)
    cov = None
    if names is not None:
        cov = _covariance(raw.get("covariance"), len(names), f"{where}.covariance", problems)
    source = raw.get("source", "")
    if not isinstance(source, str) or len(source) > 10_000:
        problems.append(f"{where}.source must be a string of at most 10,000 characters")
    if len(problems) > start or names is None or cov is None or fixed is None:
        return None
    return Calibration(
        parameters=names,
        covariance=cov,
        rows=int(rows),  # type: ignore[arg-type]
        residual_rms=float(rms or 0.0),
        fixed=fixed,
        source=source,
    )
