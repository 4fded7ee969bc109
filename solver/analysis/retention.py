"""Imbalance retention: the closed forms of docs/model.md §8.4 next to what the programs achieve.

For each sigma (the share of its capacity the imbalanced expert stage keeps; the hottest rank
carries 1/sigma of the mean load):
- EP: alpha_EP(sigma, lambda) over a grid of lambda, and at the instance's own
  lambda = t_a / t_G of its balanced EP optimum, next to the EP program's retention.
- AFD: alpha_exact and alpha_AFD for the N_A, N_F of the balanced AFD optimum, next to the AFD
  program's retention with N_F pinned to that optimum (the closed forms' setting) and with
  everything free.
Retention is the objective with imbalance over the objective without (tokens/s per GPU).
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from formulations import closed_forms as cf
from formulations import ep
from formulations.costs import CostModel
from formulations.types import Instance, IntRange
from solver.api import balanced
from solver.optimize import optimize

DEFAULT_SIGMAS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5)
DEFAULT_LAMBDAS = (1.0, 2.0, 3.0, 4.0)


def _with_sigma(inst: Instance, sigma: float, pin_ffn: int | None = None) -> Instance:
    w = dataclasses.replace(inst.workload, expert_imbalance=1.0 / sigma)
    s = inst.search
    if pin_ffn is not None:
        s = dataclasses.replace(s, ffn_nodes=IntRange(pin_ffn, pin_ffn))
    return inst.replace(workload=w, search=s)


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or not reference:
        return None
    return value / reference


def ep_lambda(inst: Instance, backend: str | None = None) -> float | None:
    """lambda = t_a / t_G at the balanced EP optimum (docs/model.md §8.4)."""
    out = optimize(balanced(inst), "ep", backend)
    d = out.deployment
    if d is None:
        return None
    s = ep.deployment_stages(CostModel.of(inst, "ep"), d)
    return float(s.attention_s) / float(s.gemm_s)


def retention_table(
    inst: Instance,
    sigmas: tuple[float, ...] = DEFAULT_SIGMAS,
    lambdas: tuple[float, ...] = DEFAULT_LAMBDAS,
    backend: str | None = None,
) -> pd.DataFrame:
    """One row per sigma: closed forms and program retentions, AFD and EP."""
    base = balanced(inst)
    afd0 = optimize(base, "afd", backend)
    ep0 = optimize(base, "ep", backend)
    lam = ep_lambda(inst, backend)
    n_a = afd0.deployment.pool("attention") if afd0.deployment else None
    n_f = afd0.deployment.pool("ffn") if afd0.deployment else None
    rows = []
    for sigma in sigmas:
        row: dict[str, float | None] = {"sigma": sigma}
        for value in lambdas:
            row[f"alpha_ep_lambda_{value:g}"] = cf.alpha_ep(sigma, value)
        row["lambda"] = lam
        row["alpha_ep"] = None if lam is None else cf.alpha_ep(sigma, lam)
        row["ep_program"] = _ratio(
            optimize(_with_sigma(base, sigma), "ep", backend).objective, ep0.objective
        )
        row["n_attention"] = n_a
        row["n_ffn"] = n_f
        if n_a and n_f:
            row["alpha_exact"] = cf.alpha_exact(sigma, n_a, n_f)
            row["alpha_afd"] = cf.alpha_afd(sigma, n_a, n_f)
            pinned = optimize(_with_sigma(base, sigma, n_f), "afd", backend)
            row["afd_program"] = _ratio(pinned.objective, afd0.objective)
        else:
            row.update(alpha_exact=None, alpha_afd=None, afd_program=None)
        row["afd_program_free"] = _ratio(
            optimize(_with_sigma(base, sigma), "afd", backend).objective, afd0.objective
        )
        rows.append(row)
    return pd.DataFrame(rows)
