"""Imbalance inside the integer programs reproduces MODEL.md section 6 in its limits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import make_instance

from formulations import closed_forms as cf
from formulations.costs import CostModel, experts_per_gpu
from formulations.layouts import AfdLayouts
from formulations.relaxation import afd_continuous_optimum
from formulations.types import IntRange
from solver import solve
from solver.dinkelbach import solve_afd_ratio
from solver.imbalance import expert_loads, imbalance_fn
from solver.optimize import optimize
from solver.placement.place import achieved_imbalance


def _layout(slot_cap: int, seq_cap: int, ffn_units: int = 2, attention_hi: int = 64) -> AfdLayouts:
    one = np.ones(1, dtype=np.int64)
    return AfdLayouts(
        micro_batches=3,
        ffn_units=one * ffn_units,
        redundant=one * 0,
        in_domain=one < 0,
        experts_per_gpu=one * 16,
        eps=one * 1.0,
        attention_lo=one,
        attention_hi=one * attention_hi,
        seq_caps={"attention:hbm_capacity": one * seq_cap},
        slot_caps={"ffn:scale_up": one * slot_cap},
    )


def _ratio(lay: AfdLayouts) -> float:
    status, choice = solve_afd_ratio(lay, IntRange(1, 10_000))
    assert str(status) == "optimal"
    return choice.attention_units * choice.seqs / (choice.attention_units + 2)


@pytest.mark.parametrize("sigma", [0.75, 0.8, 0.5, 0.9])
def test_whole_units_reproduce_alpha_afd(sigma):
    # Balanced: the FFN pool serves exactly N_A = 10 attention nodes of b = 160 (S = 1600).
    # Imbalanced: it keeps sigma of its capacity; the program picks between floor(sigma N_A)
    # nodes at the full batch and ceil(sigma N_A) nodes at a smaller one, as alpha_AFD does.
    balanced = _ratio(_layout(1600, 160))
    kept = _ratio(_layout(int(1600 * sigma), 160))
    assert balanced == pytest.approx(1600 / 12)
    assert kept / balanced == pytest.approx(cf.alpha_afd(sigma, 10, 2), rel=1e-12)


@pytest.mark.parametrize("sigma", [0.75, 0.6, 0.9])
def test_continuous_units_reproduce_alpha_exact(sigma):
    seqs = IntRange(1, 10_000)
    bal = afd_continuous_optimum(_layout(1600, 160), seqs, "tokens_per_gpu")
    imb = afd_continuous_optimum(_layout(int(1600 * sigma), 160), seqs, "tokens_per_gpu")
    assert imb[0] / bal[0] == pytest.approx(cf.alpha_exact(sigma, 10, 2), rel=1e-12)


@pytest.mark.parametrize("sigma", [1.0, 0.8, 0.6])
def test_physical_instance_continuous_retention_is_alpha_exact(sigma):
    """End to end: expert imbalance 1/sigma on DeepSeek-V3, N_F pinned, N_A continuous."""
    base = make_instance(attention_nodes=(1, 256), ffn_nodes=(2, 2), sequences_per_gpu=(1, 512))
    w = dataclasses.replace(base.workload, expert_imbalance=1 / sigma)
    out_bal = optimize(base, "afd")
    out = optimize(base.replace(workload=w), "afd")
    # The penalty is relative to each run's continuous optimum: recover both optima.
    cont_bal = out_bal.objective / (1 - out_bal.discrete_penalty)
    cont = out.objective / (1 - out.discrete_penalty)
    lay_cap = 711  # the scale-up slot cap of N_F = 2 (test_closed_forms' regimes)
    n_a = lay_cap / 123  # balanced continuous N_A at the attention memory cap b = 123
    assert cont / cont_bal == pytest.approx(cf.alpha_exact(sigma, n_a, 2), rel=2e-3)
    if sigma == 1.0:
        assert out.objective == out_bal.objective


def test_sigma_one_loses_nothing_and_imbalance_costs_throughput():
    inst = make_instance(
        attention_nodes=(1, 32), ffn_nodes=(1, 16), nodes=(1, 32), sequences_per_gpu=(1, 512)
    )
    df = solve(inst)
    assert (df["imbalance_loss"] == 0).all() and (df["expert_imbalance"] == 1).all()
    w = dataclasses.replace(inst.workload, expert_imbalance=1.25, dp_imbalance=0.9)
    df = solve(inst.replace(workload=w))
    assert (df["imbalance_loss"] > 0.05).all()
    assert (df["expert_imbalance"] == 1.25).all()


def test_ep_retention_follows_alpha_ep_for_a_compute_bound_stage():
    # Kimi-K2-like EP on a compute-bound GPU: t_a and t_f grow with b; EP shrinks b.
    inst = make_instance(nodes=(8, 8), sequences_per_gpu=(1, 4096))
    bal = optimize(inst, "ep")
    for sigma in (0.9, 0.7):
        w = dataclasses.replace(inst.workload, expert_imbalance=1 / sigma)
        kept = optimize(inst.replace(workload=w), "ep").objective / bal.objective
        assert kept <= 1.0 and kept >= sigma - 1e-9


def test_placement_imbalance_feeds_the_programs():
    """Loads -> per-layout imbalance from the placement program, used by every backend."""
    base = make_instance(
        attention_nodes=(1, 12),
        ffn_nodes=(2, 3),
        nodes=(2, 4),
        sequences_per_gpu=(1, 160),
        redundant_experts=(0, 8),
    )
    w = dataclasses.replace(base.workload, expert_loads="zipf:s=1.0,seed=3,layers=2")
    inst = base.replace(workload=w)
    fn = imbalance_fn(inst)
    loads = expert_loads(inst)
    assert loads.shape == (2, 256)
    for ranks, r in ((16, 0), (16, 8), (24, 8)):
        slots = int(experts_per_gpu(inst.model, r, ranks))
        assert fn(np.array([ranks]), np.array([r]))[0] == achieved_imbalance(loads, ranks, r, slots)
    for arch in ("afd", "ep"):
        highs = optimize(inst, arch, "highs")
        oracle = optimize(inst, arch, "enumerate")
        assert highs.objective == pytest.approx(oracle.objective, rel=1e-9)
        d = highs.deployment
        units = d.ffn_units if arch == "afd" else d.units
        assert highs.eps == fn(np.array([units * 8]), np.array([d.redundant]))[0]
    # With replicas the placement balances the hot experts away; without, AFD loses throughput.
    row = solve(inst, architectures=["afd"]).iloc[0]
    assert row["expert_imbalance"] == pytest.approx(1.0, abs=0.01) and row["redundant_experts"] > 0
    pinned = dataclasses.replace(inst.search, redundant_experts=IntRange(0, 0))
    row = solve(inst.replace(search=pinned), architectures=["afd"]).iloc[0]
    assert row["expert_imbalance"] > 1.5 and row["redundant_experts"] == 0
    assert 0.1 < row["imbalance_loss"] < 1


def test_replicas_trade_memory_for_balance():
    base = make_instance(attention_nodes=(1, 16), ffn_nodes=(4, 4), sequences_per_gpu=(1, 256))
    w = dataclasses.replace(base.workload, expert_loads="zipf:s=1.2,seed=1,layers=2")
    none = base.replace(workload=w)
    some = none.replace(search=dataclasses.replace(none.search, redundant_experts=IntRange(0, 32)))
    a, b = optimize(none, "afd"), optimize(some, "afd")
    assert b.objective >= a.objective
    assert b.eps <= a.eps
    cm = CostModel.of(some)
    assert cm.model.num_routed_experts == 256
