"""The hardware parameters `calibrate` fits and `solve --uncertainty` samples (docs/model.md §19).

A parameter has a name, the Hardware field it sets and its allowed range:

    efficiency.<key>                 achieved fraction of a peak, in [0.01, 1]
    latency.<stage>                  fixed time of a stage (us), in [0, 10,000]
    gemm_calibration.<tokens>        measured grouped-GEMM TFLOP/s at that many tokens per expert,
                                     in (0, the FP8 peak]

`apply` writes values into a `Hardware` (the sustained profile), so the same forward model that
solves evaluates every candidate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from formulations.types import LATENCY_STAGES, Hardware
from solver.io.fit_record import EFFICIENCY_KEYS

MIN_EFFICIENCY = 0.01
MAX_LATENCY_US = 10_000.0


@dataclass(frozen=True)
class Parameter:
    """One fitted quantity: its name, the Hardware field it sets, its bounds and unit."""

    name: str
    field: str
    lo: float
    hi: float
    unit: str

    @property
    def knot(self) -> float | None:
        """Tokens per expert of a grouped-GEMM curve point; None for the other parameters."""
        if self.name.startswith("gemm_calibration."):
            return float(self.name.split(".", 1)[1])
        return None


def curve_name(tokens_per_expert: float) -> str:
    return f"gemm_calibration.{tokens_per_expert:g}"


def catalogue(hw: Hardware, knots: tuple[float, ...] = ()) -> list[Parameter]:
    """Every parameter of `hw` in the fixed priority order that identifiability follows:
    efficiencies, then fixed times, then grouped-GEMM curve points (one per knot)."""
    out = [
        Parameter(f"efficiency.{k}", f"{k}_efficiency", MIN_EFFICIENCY, 1.0, "1")
        for k in EFFICIENCY_KEYS
    ]
    out += [
        Parameter(f"latency.{s}", f"{s}_latency_us", 0.0, MAX_LATENCY_US, "us")
        for s in LATENCY_STAGES
    ]
    out += [
        Parameter(curve_name(x), "gemm_calibration", 1e-3, hw.fp8_tflops, "TFLOP/s") for x in knots
    ]
    return out


def by_name(hw: Hardware, names: tuple[str, ...]) -> list[Parameter]:
    """The parameters called `names` (curve points included), in that order."""
    knots = tuple(float(n.split(".", 1)[1]) for n in names if n.startswith("gemm_calibration."))
    known = {p.name: p for p in catalogue(hw, knots)}
    return [known[n] for n in names]


def value_of(hw: Hardware, p: Parameter) -> float:
    """The current value of parameter `p` in `hw` (a curve point: its TFLOP/s, interpolated)."""
    if p.knot is None:
        return float(getattr(hw, p.field))
    points = sorted(hw.gemm_calibration)
    if not points:
        return hw.fp8_tflops * hw.ffn_efficiency
    xs, ys = zip(*points, strict=True)
    return float(np.interp(p.knot, xs, ys))


def apply(hw: Hardware, params: list[Parameter], values: Sequence[float] | np.ndarray) -> Hardware:
    """`hw` with every parameter set to its value (curve points replace the whole curve)."""
    changes: dict[str, object] = {}
    curve = []
    for p, v in zip(params, values, strict=True):
        if p.knot is None:
            changes[p.field] = float(v)
        else:
            curve.append((p.knot, float(v)))
    if curve:
        changes["gemm_calibration"] = tuple(sorted(curve))
    return dataclasses.replace(hw, **changes)  # type: ignore[arg-type]


def monotone(points: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """A grouped-GEMM curve whose time per expert (tokens / rate) never falls as tokens grow,
    as the cap searches need (docs/model.md §5.2): adjacent points that break it are pooled
    to their mean time per expert (isotonic regression, pool-adjacent-violators)."""
    pts = sorted(points)
    xs = [x for x, _ in pts]
    blocks: list[list[float]] = [[x / r] for x, r in pts]
    i = 0
    while i < len(blocks) - 1:
        if np.mean(blocks[i]) > np.mean(blocks[i + 1]):
            blocks[i] += blocks.pop(i + 1)
            i = max(i - 1, 0)
        else:
            i += 1
    per_expert = [float(np.mean(b)) for b in blocks for _ in b]
    if all(u == x / r for u, (x, r) in zip(per_expert, pts, strict=True)):
        return tuple(pts)
    return tuple((x, x / u) for x, u in zip(xs, per_expert, strict=True))
