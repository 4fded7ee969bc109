"""What `calibrate` prints and writes: a table or JSON report, and the calibrated hardware TOML."""

from __future__ import annotations

import json
import math
import os
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from formulations.types import LATENCY_STAGES
from solver.calibration.parameters import by_name, value_of
from solver.errors import InputError
from solver.io.files import read_toml
from solver.io.fit_record import EFFICIENCY_KEYS
from solver.io.outputs import check_out_file, replacing
from solver.io.tables import validate_hardware_file

if TYPE_CHECKING:
    from solver.calibration.run import Calibrated


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(float(x)) else None


def report(c: Calibrated) -> dict[str, Any]:
    """The JSON object of `calibrate --format json` (README "Calibration")."""
    r, p = c.result, c.problem
    params = []
    for q, v, se in zip(r.fitted, r.estimates, r.std_errors, strict=True):
        params.append(
            {
                "name": q.name,
                "value": float(v),
                "std_error": _num(se),
                "catalogue": value_of(c.base, q),
                "unit": q.unit,
                "at_bound": q.name in r.at_bound,
            }
        )
    fixed = []
    for name, why in r.fixed.items():
        q = by_name(c.base, (name,))[0]
        fixed.append({"name": name, "value": value_of(c.base, q), "reason": why})
    rows: list[dict[str, Any]] = []
    for i, o in enumerate(p.observations):
        row = p.rows[o.row]
        loo = r.loo_predicted[i] if len(r.loo_predicted) else math.nan
        rows.append(
            {
                "line": row.line,
                "kind": row.kind,
                "quantity": o.quantity,
                "measured": o.measured,
                "predicted": float(r.predicted[i]),
                "error": float(r.predicted[i] / o.measured - 1.0),
                "loo_predicted": _num(loo),
                "loo_error": _num(loo / o.measured - 1.0),
            }
        )
    loo_errors = [float(x["loo_error"]) for x in rows if x["loo_error"] is not None]
    return {
        "hardware": c.base.name,
        "model": c.model.name if c.model else None,
        "measurements": str(c.csv_path),
        "rows": len(p.rows),
        "observations": len(p.observations),
        "dof": r.dof,
        "residual_rms": r.rms,
        "loo_rms": float(np.sqrt(np.mean(np.square(loo_errors)))) if loo_errors else None,
        "parameters": params,
        "fixed": fixed,
        "residuals": rows,
        "notes": list(r.notes),
    }


def table(c: Calibrated) -> str:
    """The report as text: parameters, what was not identified, and every row's error."""
    rep = report(c)
    lines = [
        f"calibrate {rep['hardware']} from {rep['measurements']}: {rep['rows']} rows, "
        f"{rep['observations']} observations, {len(rep['parameters'])} parameters fitted, "
        f"residual RMS {rep['residual_rms']:.2%} (log scale)"
    ]
    lines.append(f"{'parameter':<28}{'catalogue':>11}{'fitted':>11}{'std err':>11}  unit")
    for q in rep["parameters"]:
        se = "n/a" if q["std_error"] is None else f"{q['std_error']:.4g}"
        bound = "  (at its bound)" if q["at_bound"] else ""
        lines.append(
            f"{q['name']:<28}{q['catalogue']:>11.4g}{q['value']:>11.4g}{se:>11}  {q['unit']}{bound}"
        )
    if rep["fixed"]:
        lines.append("not identified by these rows (catalogue value kept):")
        lines += [f"  {f['name']} = {f['value']:.4g}: {f['reason']}" for f in rep["fixed"]]
    lines.append(
        f"{'line':>6}  {'kind':<13}{'quantity':<22}{'measured':>12}{'predicted':>12}"
        f"{'error':>9}{'LOO error':>11}"
    )
    for x in rep["residuals"]:
        loo = "n/a" if x["loo_error"] is None else f"{x['loo_error']:+.1%}"
        lines.append(
            f"{x['line']:>6}  {x['kind']:<13}{x['quantity']:<22}{x['measured']:>12.5g}"
            f"{x['predicted']:>12.5g}{x['error']:>+9.1%}{loo:>11}"
        )
    lines += [f"note: {n}" for n in rep["notes"]]
    return "\n".join(lines)


def to_json(c: Calibrated) -> str:
    return json.dumps(report(c), indent=2)


# ---- the calibrated hardware file -----------------------------------------------------------


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string is JSON-escaped text
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _short(x: float) -> float:
    """12 significant digits: readable, and 1e-12 of the fit's own value."""
    return float(f"{float(x):.12g}")


def _section(name: str, table: dict[str, Any]) -> list[str]:
    lines = [f"[{name}]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return lines


def hardware_toml(c: Calibrated, original: dict[str, Any], name: str, source: str) -> str:
    """The calibrated hardware file: the original's facts, the fitted [efficiency], [latency]
    and gemm_calibration, and a [calibration] table with the fit's covariance."""
    hw, r = c.result.hardware, c.result
    facts = {
        k: v for k, v in original.items()
        if not isinstance(v, dict) and k not in ("name", "source")
    }  # fmt: skip
    lines = [
        f"# {name}: {c.base.name} calibrated by `afd-solver calibrate` from {c.csv_path}",
        f"# on {date.today().isoformat()}; facts as in {c.hardware_path}.",
        f"name = {_toml_value(name)}",
    ]
    lines += [f"{k} = {_toml_value(v)}" for k, v in facts.items()]
    lines.append(f"source = {_toml_value(str(original.get('source', c.hardware_path)))}")
    lines.append("")
    lines += _section(
        "efficiency", {k: _short(getattr(hw, f"{k}_efficiency")) for k in EFFICIENCY_KEYS}
    )
    lines.append("")
    lines += _section(
        "latency", {k: _short(getattr(hw, f"{k}_latency_us")) for k in LATENCY_STAGES}
    )
    if hw.gemm_calibration:
        lines.append("")
        lines += _section(
            "gemm_calibration",
            {
                "tokens_per_expert": [x for x, _ in hw.gemm_calibration],
                "tflops": [_short(y) for _, y in hw.gemm_calibration],
            },
        )
    if isinstance(original.get("paper"), dict):
        lines.append("")
        lines += _section("paper", original["paper"])
    lines.append("")
    for q, v, se in zip(r.fitted, r.estimates, r.std_errors, strict=True):
        shown = "n/a" if not math.isfinite(se) else f"{se:.4g}"
        lines.append(f"# {q.name} = {v:.6g} +- {shown} {q.unit}")
    lines.append("")
    record: dict[str, Any] = {
        "rows": len(c.problem.rows),
        "residual_rms": float(r.rms),
    }
    if r.dof > 0 and r.fitted:
        record["parameters"] = [q.name for q in r.fitted]
        record["covariance"] = [[float(x) for x in row] for row in r.covariance]
    else:
        record["parameters"] = []
        record["covariance"] = []
    record["fixed"] = list(r.fixed)
    record["source"] = source
    lines += _section("calibration", record)
    return "\n".join(lines) + "\n"


def write_hardware(
    c: Calibrated, path: str | os.PathLike[str], *, force: bool = False, source: str = ""
) -> Path:
    """Write the calibrated hardware file at `path` (a new `.toml`, or any file with `force`):
    through a temporary file that is checked by the loader before it replaces anything."""
    if not str(path).endswith(".toml"):
        raise InputError([f"--out {path}: a hardware file name ending in .toml"])
    out = check_out_file(path, "--out", force)
    source = source or f"afd-solver calibrate {c.csv_path} ({date.today().isoformat()})"
    text = hardware_toml(c, read_toml(c.hardware_path), out.stem, source)
    with replacing(out) as tmp:
        tmp.write_text(text)
        validate_hardware_file(tmp)  # the written file loads like any other (else a bug)
    return out
