"""Shadow prices: what one more GB/s, GB or ms buys at an optimum (issue: binding constraints).

With the integer decisions fixed at their optimum (layout, unit counts, micro-batches), the batch
b becomes continuous and the program is an LP. Its constraints are written in resource form,
`load(b) <= capacity`, so the dual of a row is the throughput one more unit of that capacity buys.
A resource (a bandwidth, HBM capacity, the TPOT target) may enter several rows and the objective;
its shadow price follows from the envelope theorem:

    d objective / d theta = d f/d theta + sum_k dual_k * d(capacity_k - load_k(x*)) / d theta

evaluated at the LP optimum x*, with the derivatives taken on the very row builder below.

Objective: output tokens/s per GPU at the TPOT target (MODEL.md section 5), linear in b.
Variables: b (AFD); b, tau_a, tau_f (EP: the attention and grouped-GEMM times of one micro-batch).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from formulations import deployment as dep
from formulations.costs import CostModel
from formulations.program import IntegerProgram
from formulations.types import Deployment, Instance

# Resources whose shadow price is reported, with the instance field each one perturbs.
RESOURCES = {
    "scaleout_gbps": ("hardware", "scaleout_gbps"),
    "scaleup_gbps": ("hardware", "scaleup_gbps"),
    "hbm_gb": ("hardware", "hbm_gb"),
    "hbm_tbps": ("hardware", "hbm_tbps"),
    "tpot_ms": ("workload", "tpot_ms"),
}


@dataclass(frozen=True)
class Row:
    """`sum coef * x <= capacity`, tagged with the constraint family it models."""

    family: str
    coef: dict[str, float]
    capacity: float


@dataclass(frozen=True)
class LinearModel:
    """The LP with integers fixed: variables, rows and the objective (maximised)."""

    variables: tuple[str, ...]
    rows: list[Row]
    objective: dict[str, float]


def _f(x: object) -> float:
    return float(np.asarray(x).reshape(-1)[0])


def _afd_rows(cm: CostModel, d: Deployment, eps: float) -> list[Row]:
    """AFD: every family as load per unit of b (plus a constant) against its capacity."""
    nbo = d.micro_batches
    budget = _f(cm.stage_budget_s(nbo))
    r = cm.rates
    inside = bool(np.all(dep.afd_in_domain(cm, d.n_attention, d.n_ffn)))

    def side(seqs: float) -> dict[str, float]:
        attn = dep.afd_attention_side(cm, d.n_ffn, seqs, nbo, inside)
        tokens = dep.afd_tokens(cm, d.n_attention * seqs)
        ffn = dep.afd_ffn_side(cm, d.n_ffn, d.redundant, nbo, tokens, inside, eps)
        return {k: _f(v) for k, v in {**attn, **ffn}.items()}

    # Every quantity is affine in b: value at 0 and slope from the value at 1.
    zero, one = side(0.0), side(1.0)

    def affine(key: str, scale: float = 1.0) -> tuple[float, float]:
        return zero[key] * scale, (one[key] - zero[key]) * scale

    link_attn = r.scaleup_bytes_per_s if inside else r.scaleout_bytes_per_s
    rows = []
    specs: list[tuple[str, str, float, float]] = [
        # family, key, scale to resource units, capacity
        ("attention:compute", "attention_flop_s", 1.0, budget),
        (
            "attention:hbm_bandwidth",
            "attention_byte_s",
            r.hbm_bytes_per_s,
            r.hbm_bytes_per_s * budget,
        ),
        (
            "attention:scale_up" if inside else "attention:scale_out",
            "attention_wire_s",
            link_attn,
            link_attn * budget,
        ),
        ("attention:hbm_capacity", "attention_bytes", 1.0, r.hbm_usable_bytes),
        ("ffn:compute", "gemm_compute_s", 1.0, budget),
        ("ffn:scale_up", "ffn_scaleup_s", r.scaleup_bytes_per_s, r.scaleup_bytes_per_s * budget),
        ("ffn:hbm_capacity", "ffn_bytes", 1.0, r.hbm_usable_bytes),
    ]
    if not inside:
        specs.append(
            (
                "ffn:scale_out",
                "ffn_scaleout_s",
                r.scaleout_bytes_per_s,
                r.scaleout_bytes_per_s * budget,
            )
        )
    for family, key, scale, capacity in specs:
        const, slope = affine(key, scale)
        rows.append(Row(family, {"b": slope}, capacity - const))
    return rows


def _ep_rows(cm: CostModel, d: Deployment, eps: float) -> list[Row]:
    """EP: tau_a >= attention roofline pieces, tau_f >= GEMM pieces, tau_a + tau_f <= t_B."""
    nbo = d.micro_batches
    budget = _f(cm.stage_budget_s(nbo))
    r = cm.rates

    def stages(seqs: float) -> dict[str, float]:
        s = dep.ep_stages(cm, d.n_units, seqs, d.redundant, nbo, eps)
        return {f.name: _f(getattr(s, f.name)) for f in dataclasses.fields(s)}

    zero, one = stages(0.0), stages(1.0)

    def affine(key: str, scale: float = 1.0) -> tuple[float, float]:
        return zero[key] * scale, (one[key] - zero[key]) * scale

    rows = []
    # Roofline pieces in time units: piece(b) - tau <= 0; HBM pieces scaled to bytes.
    for family, key, tau, scale in (
        ("ep:compute", "attention_flop_s", "tau_a", 1.0),
        ("ep:hbm_bandwidth", "attention_byte_s", "tau_a", r.hbm_bytes_per_s),
        ("ep:compute", "gemm_compute_s", "tau_f", 1.0),
        ("ep:hbm_bandwidth", "gemm_weight_s", "tau_f", r.hbm_bytes_per_s),
    ):
        const, slope = affine(key, scale)
        rows.append(Row(family, {"b": slope, tau: -scale}, -const))
    rows.append(Row("ep:latency", {"tau_a": 1.0, "tau_f": 1.0}, budget))
    for family, key, scale in (
        ("ep:scale_out", "scaleout_s", r.scaleout_bytes_per_s),
        ("ep:scale_up", "scaleup_s", r.scaleup_bytes_per_s),
    ):
        const, slope = affine(key, scale)
        rows.append(Row(family, {"b": slope}, scale * budget - const))
    const, slope = affine("gpu_bytes")
    rows.append(Row("ep:hbm_capacity", {"b": slope}, r.hbm_usable_bytes - const))
    return rows


def linear_model(inst: Instance, d: Deployment, eps: float | None = None) -> LinearModel:
    """The LP around deployment `d`: b continuous, everything else fixed.

    Args:
        eps: max/mean load of d's hottest expert rank (default: the workload's constant).
    """
    cm = CostModel.of(inst)
    eps = inst.workload.expert_imbalance if eps is None else eps
    w = inst.workload
    slo_s = w.tpot_ms * 1e-3
    if d.architecture == "afd":
        per_seq = (
            w.dp_imbalance * d.micro_batches * d.n_attention / (slo_s * (d.n_attention + d.n_ffn))
        )
        return LinearModel(("b",), _afd_rows(cm, d, eps), {"b": per_seq})
    per_seq = w.dp_imbalance * d.micro_batches / slo_s
    return LinearModel(("b", "tau_a", "tau_f"), _ep_rows(cm, d, eps), {"b": per_seq})


def to_program(lm: LinearModel) -> IntegerProgram:
    """The LP as a (continuous) program for a backend that reports duals."""
    prob = IntegerProgram("sensitivity", maximize=True)
    index = {v: prob.add_var(v, 0.0, float("inf"), integer=False) for v in lm.variables}
    for row in lm.rows:
        prob.add_constraint(
            {index[v]: c for v, c in row.coef.items()},
            hi=row.capacity,
            family=row.family,
            name=row.family,
        )
    prob.set_objective({index[v]: c for v, c in lm.objective.items()})
    return prob


def perturbed(inst: Instance, resource: str, delta: float) -> Instance:
    """`inst` with one resource moved by `delta` (in the resource's own unit)."""
    section, field = RESOURCES[resource]
    obj = getattr(inst, section)
    moved = dataclasses.replace(obj, **{field: getattr(obj, field) + delta})
    return inst.replace(**{section: moved})


def shadow_prices(
    inst: Instance,
    d: Deployment,
    values: dict[str, float],
    duals: list[float],
    rel_step: float = 1e-6,
    eps: float | None = None,
) -> dict[str, float]:
    """d objective / d resource (tokens/s/GPU per GB/s, GB, TB/s or ms) by the envelope theorem.

    Args:
        values: the LP optimum x* by variable name.
        duals: one dual per row of `linear_model(inst, d)` (>= 0 for binding rows).
    """

    def lagrangian(lm: LinearModel) -> float:
        total = sum(c * values[v] for v, c in lm.objective.items())
        for row, pi in zip(lm.rows, duals, strict=True):
            load = sum(c * values[v] for v, c in row.coef.items())
            total += pi * (row.capacity - load)
        return total

    prices = {}
    for resource, (section, field) in RESOURCES.items():
        step = abs(getattr(getattr(inst, section), field)) * rel_step
        up = lagrangian(linear_model(perturbed(inst, resource, step), d, eps))
        down = lagrangian(linear_model(perturbed(inst, resource, -step), d, eps))
        prices[resource] = (up - down) / (2 * step)
    return prices
