"""Shadow prices: what one more GB/s, GB, TB/s or ms buys at an optimum (docs/model.md §15).

With the integer decisions fixed at their optimum (layout, unit counts, micro-batches) the
sequences per GPU n become continuous (micro-batch n / N_BO), and every quantity is affine in n.
At the deployment's own pace the objective is a ratio,

    max C n / (t_g + kappa s)   s.t.  s >= p_k(n) (every stage piece),  s <= t_B (the target),
                                      m_j(n) <= capacity_j (memory), n <= n_hi,

with C = sigma L_accept (serving GPUs / all GPUs) and kappa = N_layers N_BO. The Charnes-Cooper
substitution t = 1 / (t_g + kappa s), x = n t, z = s t turns it into the linear program

    max C x  s.t.  t_g t + kappa z = 1,  p_k(x, t) - z <= 0,  z - t_B t <= 0,  m_j(x, t) <= c_j t

(p and m homogenised: alpha t + beta x). For the objective at the target the plain LP
max C' n s.t. p_k(n) <= t_B, m_j(n) <= c_j is used. Rows are written in resource form; a
resource theta (a bandwidth, HBM, the TPOT target) may enter several rows, so its price follows
from the envelope theorem: d V / d theta = d L / d theta at the LP optimum (x*, duals), the
Lagrangian L = C x + sum_r pi_r (rhs_r - row_r(x*)) rebuilt at a perturbed theta.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from formulations import architectures, families
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

# The affine pieces of each time family (sums of stage fields); the stage is their maximum.
# A roofline's fixed time (docs/model.md §3.1) belongs to both of its pieces.
_ATT, _GEMM = "attention_latency_s", "gemm_latency_s"
PIECES: dict[str, tuple[tuple[str, ...], ...]] = {
    "attention:latency": ((_ATT, "attention_flop_s"), (_ATT, "attention_byte_s")),
    "ffn:gemm": ((_GEMM, "gemm_compute_s"), (_GEMM, "gemm_weight_s")),
    "ep:latency": tuple(
        (_ATT, _GEMM, att, gemm)
        for att in ("attention_flop_s", "attention_byte_s")
        for gemm in ("gemm_compute_s", "gemm_weight_s")
    ),
}


@dataclass(frozen=True)
class Row:
    """`sum coef * var <= rhs` (or `==` when `equal`), tagged with what it models."""

    label: str
    coef: dict[str, float]
    rhs: float
    equal: bool = False


@dataclass(frozen=True)
class LinearModel:
    """The LP with integers fixed: variables, rows and the objective (maximised)."""

    variables: tuple[str, ...]
    rows: list[Row]
    objective: dict[str, float]
    own_pace: bool


def _piece_label(fam: families.Family, fields: tuple[str, ...]) -> str:
    if fam.resource != "roofline":
        return fam.name
    parts = [f for f in fields if f not in (_ATT, _GEMM)]
    compute = all("flop" in f or "compute" in f for f in parts)
    memory = all("byte" in f or "weight" in f for f in parts)
    kind = "compute" if compute else ("hbm_bandwidth" if memory else "compute+hbm_bandwidth")
    return f"{fam.side}:{kind}"


def _affine(
    cm: CostModel, d: Deployment, eps: float, inst: Instance
) -> list[tuple[families.Family, str, float, float]]:
    """(family, label, value at n = 0, slope per sequence) of every piece of every family."""
    arch = architectures.get(d.architecture)
    lay = arch.single_layout(cm, d, eps, inst.search)
    scale = {
        "micro_batch": 1.0 / d.micro_batches,
        "sequences": 1.0,
        "pool_micro": d.serving_units / d.micro_batches,
        "pool_sequences": float(d.serving_units),
    }
    out = []
    for fam in families.of(d.architecture):
        per_n = scale[fam.batch]
        at0 = arch.quantities(cm, lay, fam.batch, np.zeros(1))
        at1 = arch.quantities(cm, lay, fam.batch, np.full(1, per_n))
        for fields in PIECES.get(fam.name, ((fam.field,),)):
            v0 = sum(float(np.asarray(at0[f]).reshape(-1)[0]) for f in fields)
            v1 = sum(float(np.asarray(at1[f]).reshape(-1)[0]) for f in fields)
            out.append((fam, _piece_label(fam, fields), v0, v1 - v0))
    return out


def linear_model(inst: Instance, d: Deployment, eps: float = 1.0) -> LinearModel:
    """The LP around deployment `d`: n continuous, everything else fixed (module docstring)."""
    cm = CostModel.for_deployment(inst, d)
    w = inst.workload
    budget = float(cm.stage_budget_s(d.micro_batches))
    per_seq = w.dp_imbalance * float(cm.ranks_per_gpu(d.serving_units, d.total_units))
    own = inst.search.objective != "tokens_per_gpu_at_target"
    rows: list[Row] = []
    n_hi = float(inst.search.sequences_per_gpu.hi)
    if not own:
        for fam, label, v0, slope in _affine(cm, d, eps, inst):
            cap = budget if fam.kind == "time" else cm.usable_bytes(fam.side)
            rows.append(Row(label, {"n": slope}, cap - v0))
        rows.append(Row("search:sequences_per_gpu", {"n": 1.0}, n_hi))
        return LinearModel(("n",), rows, {"n": per_seq / (w.tpot_ms * 1e-3)}, False)
    gap_s = w.step_gap_ms * 1e-3
    kappa = cm.model.num_layers * d.micro_batches
    rows.append(Row("pace", {"t": gap_s, "z": kappa}, 1.0, equal=True))
    for fam, label, v0, slope in _affine(cm, d, eps, inst):
        if fam.kind == "time":
            rows.append(Row(label, {"t": v0, "x": slope, "z": -1.0}, 0.0))
        else:
            rows.append(Row(label, {"t": v0 - cm.usable_bytes(fam.side), "x": slope}, 0.0))
    rows.append(Row("tpot", {"z": 1.0, "t": -budget}, 0.0))
    rows.append(Row("search:sequences_per_gpu", {"x": 1.0, "t": -n_hi}, 0.0))
    objective = {"x": per_seq * w.mtp_acceptance}
    return LinearModel(("x", "z", "t"), rows, objective, True)


def to_program(lm: LinearModel) -> IntegerProgram:
    """The LP as a (continuous) program for a backend that reports duals."""
    prob = IntegerProgram("sensitivity", maximize=True)
    index = {v: prob.add_var(v, 0.0, float("inf"), integer=False) for v in lm.variables}
    for row in lm.rows:
        prob.add_constraint(
            {index[v]: c for v, c in row.coef.items()},
            lo=row.rhs if row.equal else -float("inf"),
            hi=row.rhs,
            family=row.label,
            name=row.label,
        )
    prob.set_objective({index[v]: c for v, c in lm.objective.items()})
    return prob


def sequences_at_optimum(lm: LinearModel, values: dict[str, float]) -> float:
    """n at the LP optimum (x / t in the Charnes-Cooper form)."""
    return values["x"] / values["t"] if lm.own_pace else values["n"]


def perturbed(inst: Instance, resource: str, delta: float) -> Instance:
    """`inst` with one resource moved by `delta` (in the resource's own unit).

    A hardware resource moves on every GPU of the deployment: on both pools when they use
    different hardware (docs/model.md §17); a given inter-pool link stays as given.
    """
    section, field = RESOURCES[resource]
    obj = getattr(inst, section)
    moved = dataclasses.replace(obj, **{field: getattr(obj, field) + delta})
    changes = {section: moved}
    if section == "hardware" and inst.ffn_hardware is not None:
        ffn = inst.ffn_hardware
        changes["ffn_hardware"] = dataclasses.replace(ffn, **{field: getattr(ffn, field) + delta})
    return inst.replace(**changes)


def shadow_prices(
    inst: Instance,
    d: Deployment,
    values: dict[str, float],
    duals: list[float],
    rel_step: float = 1e-6,
    eps: float = 1.0,
) -> dict[str, float]:
    """d objective / d resource (tokens/s/GPU per GB/s, GB, TB/s or ms), envelope theorem.

    Args:
        values: the LP optimum by variable name.
        duals: one dual per row of `linear_model(inst, d)` (d objective / d rhs).
    """

    def lagrangian(lm: LinearModel) -> float:
        total = sum(c * values[v] for v, c in lm.objective.items())
        for row, pi in zip(lm.rows, duals, strict=True):
            load = sum(c * values[v] for v, c in row.coef.items())
            total += pi * (row.rhs - load)
        return total

    prices = {}
    for resource, (section, field) in RESOURCES.items():
        step = abs(getattr(getattr(inst, section), field)) * rel_step
        up = lagrangian(linear_model(perturbed(inst, resource, step), d, eps))
        down = lagrangian(linear_model(perturbed(inst, resource, -step), d, eps))
        prices[resource] = (up - down) / (2 * step)
    return prices
