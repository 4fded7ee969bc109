"""Draw hardware samples for `solve --uncertainty` (docs/model.md §19.4).

Two sources, both optional, at least one required:

- a calibrated hardware file's `[calibration]` covariance: its parameters are drawn from the
  multivariate normal around the file's own values, redrawn until every parameter is inside
  its bounds (clipped after 1,000 tries); a drawn grouped-GEMM curve is made monotone;
- the scenario's `[uncertainty]` ranges (or `--set uncertainty.FIELD="LOW:HIGH"`): the field
  is drawn uniformly in its range on every hardware of the scenario; a range replaces what a
  calibration would draw for the same field.

A sample is a flat dict `{"<hardware>/<field or curve point>": value}` so that it can be
stored with the results and replayed: `instance_of(inst, sample)` is the scenario with every
hardware of that name changed. Draws are deterministic for a seed (numpy's PCG64).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from formulations import pairings
from formulations.types import Hardware, Instance
from solver.calibration.parameters import Parameter, by_name, monotone, value_of
from solver.errors import InputError

MAX_TRIES = 1000


@dataclass(frozen=True)
class Normal:
    """The fitted parameters of one calibrated hardware: centre and covariance."""

    hardware: str
    params: tuple[Parameter, ...]
    mean: np.ndarray
    covariance: np.ndarray


def hardware_of(inst: Instance) -> dict[str, Hardware]:
    """Every distinct hardware of the scenario by name (both pools, every listed pairing)."""
    found: dict[str, Hardware] = {}
    for arch in inst.search.architectures:
        for att, ffn in pairings.pairings(inst, arch):
            found.setdefault(att.name, att)
            found.setdefault(ffn.name, ffn)
    return found


def normals(inst: Instance) -> list[Normal]:
    """The calibrated hardware of the scenario, fields a range names excluded."""
    ranged = {field for field, _, _ in inst.uncertainty}
    out = []
    for name, hw in hardware_of(inst).items():
        cal = hw.calibration
        if cal is None or not cal.parameters:
            continue
        params = by_name(hw, cal.parameters)
        keep = [i for i, p in enumerate(params) if p.field not in ranged]
        if not keep:
            continue
        cov = np.asarray(cal.covariance, dtype=float)[np.ix_(keep, keep)]
        mean = np.array([value_of(hw, params[i]) for i in keep])
        out.append(Normal(name, tuple(params[i] for i in keep), mean, cov))
    return out


def check_sources(inst: Instance) -> None:
    """InputError when there is nothing to sample."""
    if not inst.uncertainty and not normals(inst):
        raise InputError(
            [
                f"{inst.path or inst.name}: --uncertainty needs something uncertain: an "
                '[uncertainty] table (e.g. ffn_efficiency = "0.45:0.65", or --set '
                "uncertainty.ffn_efficiency=0.45:0.65) or hardware written by "
                "`afd-solver calibrate` (its [calibration] covariance)"
            ]
        )


def _key(hardware: str, p: Parameter) -> str:
    return f"{hardware}/{p.name if p.knot is not None else p.field}"


def _normal_draw(rng: np.random.Generator, n: Normal) -> np.ndarray:
    lo = np.array([p.lo for p in n.params])
    hi = np.array([p.hi for p in n.params])
    draw = n.mean
    for _ in range(MAX_TRIES):
        draw = rng.multivariate_normal(n.mean, n.covariance, method="eigh")
        if np.all((draw >= lo) & (draw <= hi)):
            return draw
    return np.clip(draw, lo, hi)


def draw(inst: Instance, samples: int, seed: int) -> list[dict[str, float]]:
    """`samples` hardware samples of the scenario (deterministic for `seed`)."""
    check_sources(inst)
    rng = np.random.default_rng(seed)
    names = list(hardware_of(inst))
    gauss = normals(inst)
    out = []
    for _ in range(samples):
        sample: dict[str, float] = {}
        for n in gauss:
            for p, v in zip(n.params, _normal_draw(rng, n), strict=True):
                sample[_key(n.hardware, p)] = float(v)
        for field, lo, hi in inst.uncertainty:
            value = float(rng.uniform(lo, hi))
            for name in names:
                sample[f"{name}/{field}"] = value
        out.append(sample)
    return out


def _changed(hw: Hardware, values: dict[str, float]) -> Hardware:
    fields = {k: v for k, v in values.items() if not k.startswith("gemm_calibration.")}
    knots = [(float(k.split(".", 1)[1]), v) for k, v in values.items() if k not in fields]
    if knots:
        # A sampled curve replaces the points it names; time per expert may not fall.
        current = {x: r for x, r in hw.gemm_calibration}
        current.update(dict(knots))
        fields["gemm_calibration"] = monotone(sorted(current.items()))  # type: ignore[assignment]
    return dataclasses.replace(hw, **fields)  # type: ignore[arg-type]


def instance_of(inst: Instance, sample: dict[str, float]) -> Instance:
    """The scenario with every hardware changed as `sample` says (by hardware name)."""
    per_hw: dict[str, dict[str, float]] = {}
    for key, value in sample.items():
        name, _, field = key.partition("/")
        per_hw.setdefault(name, {})[field] = float(value)

    def swap(hw: Hardware | None) -> Hardware | None:
        if hw is None or hw.name not in per_hw:
            return hw
        return _changed(hw, per_hw[hw.name])

    return inst.replace(
        hardware=swap(inst.hardware),
        ffn_hardware=swap(inst.ffn_hardware),
        hardware_choices=tuple((swap(a), swap(f)) for a, f in inst.hardware_choices),
    )
