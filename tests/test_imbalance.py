"""Imbalance inside the integer programs reproduces docs/model.md §8 in its limits."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from conftest import make_instance

from formulations import closed_forms as cf
from formulations import ep
from formulations.costs import CostModel, experts_per_gpu
from formulations.layouts import Layouts
from formulations.relaxation import continuous_optimum
from formulations.types import IntRange
from solver import solve
from solver.backends import make_backend
from solver.dinkelbach import solve_ratio
from solver.imbalance import expert_loads, imbalance_fn
from solver.optimize import optimize
from solver.placement.achieved import achieved_imbalance

SEQUENCES = IntRange(1, 30_000)


def _layout(pool_cap: int, seq_cap: int, ffn_units: int = 2, serving_hi: int = 64) -> Layouts:
    """One layout: N_F = 2, three micro-batches, n <= seq_cap sequences per attention GPU (its
    memory), S = N_A b <= pool_cap slots (its FFN pool's scale-up)."""
    one = np.ones(1, dtype=np.int64)
    return Layouts(
        architecture="afd",
        micro_batches=3,
        sequences=SEQUENCES,
        ffn_units=one * ffn_units,
        expert_units=one * ffn_units,
        serving_lo=one,
        serving_hi=one * serving_hi,
        redundant=one * 0,
        in_domain=one < 0,
        experts_per_gpu=one * 16,
        eps=one * 1.0,
        caps={"attention:hbm_capacity": one * seq_cap, "ffn:scale_up": one * pool_cap},
    )


def _ratio(lay: Layouts) -> float:
    """Best sequences in flight per unit, T / (N_A + N_F), proven by the program."""
    status, choice, _, _ = solve_ratio(lay, make_backend("highs"), time.perf_counter() + 60)
    assert str(status) == "optimal"
    return choice.serving * choice.sequences / (choice.serving + 2)


@pytest.mark.parametrize("sigma", [0.75, 0.8, 0.5, 0.9])
def test_whole_units_reproduce_alpha_afd(sigma):
    # Balanced: the FFN pool serves exactly N_A = 10 attention nodes of b = 160 (S = 1600).
    # Imbalanced: it keeps sigma of its capacity; the program picks between floor(sigma N_A)
    # nodes at the full batch and ceil(sigma N_A) nodes at a smaller one, as alpha_AFD does.
    balanced = _ratio(_layout(1600, 3 * 160))
    kept = _ratio(_layout(int(1600 * sigma), 3 * 160))
    assert balanced == pytest.approx(3 * 1600 / 12)
    assert kept / balanced == pytest.approx(cf.alpha_afd(sigma, 10, 2), rel=1e-12)


@pytest.mark.parametrize("sigma", [0.75, 0.6, 0.9])
def test_continuous_units_reproduce_alpha_exact(sigma):
    def relaxed(pool: float) -> float:
        lay = _layout(int(pool), 3 * 160)
        value = continuous_optimum(lay, "ratio", (np.array([pool]), np.array([3 * pool])))
        assert value is not None
        return value

    assert relaxed(1600 * sigma) / relaxed(1600) == pytest.approx(
        cf.alpha_exact(sigma, 10, 2), rel=1e-12
    )


def _attention_memory_cap(inst) -> int:
    """The largest micro-batch b whose 3 b sequences fit on an attention GPU, from the
    independent reference evaluator (tests/reference_model.py) by bisection."""
    import reference_model as ref

    model = ref.RefModel.from_dict(dataclasses.asdict(inst.model))
    hardware = ref.RefHardware.from_dict(dataclasses.asdict(inst.hardware))
    workload = ref.RefWorkload.from_dict(dataclasses.asdict(inst.workload))

    def fits(b: int) -> bool:
        d = ref.RefDeployment("afd", 3 * b, 3, 0, attention_units=1, ffn_units=2)
        out = ref.evaluate(model, hardware, workload, 8, 1.0, d)
        return out["attention_bytes"] <= out["usable_bytes"]

    lo, hi = 1, 4096
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


@pytest.mark.parametrize("sigma", [1.0, 0.8, 0.6])
def test_physical_instance_continuous_retention_is_alpha_exact(sigma):
    """End to end at the target: expert imbalance 1/sigma on DeepSeek-V3, N_F pinned at 2,
    N_A continuous. The FFN pool takes P = t_B / (4 pairs x 3H / B_up) slots (its scale-up,
    see test_solve_api), the attention GPU holds b sequences per micro-batch (its memory),
    so the balanced continuous pool has N_A = P / b attention units."""
    base = make_instance(
        objective="tokens_per_gpu_at_target",
        attention_nodes=(1, 256),
        ffn_nodes=(2, 2),
        sequences_per_gpu=(1, 1536),
    )
    w = dataclasses.replace(base.workload, expert_imbalance=1 / sigma)
    out_bal = optimize(base, "afd")
    out = optimize(base.replace(workload=w), "afd")
    cont_bal = out_bal.objective / (1 - out_bal.discrete_penalty)
    cont = out.objective / (1 - out.discrete_penalty)
    pool = (50 * 1.7 - 15) * 1e-3 / (61 * 3) / (4 * 3 * 7168 / 160e9)
    b = _attention_memory_cap(base)
    assert 100 < b < 200
    assert cont / cont_bal == pytest.approx(cf.alpha_exact(sigma, pool / b, 2), rel=2e-3)
    if sigma == 1.0:
        assert out.objective == out_bal.objective


def test_sigma_one_loses_nothing_and_imbalance_costs_throughput():
    inst = make_instance(
        attention_nodes=(1, 32), ffn_nodes=(1, 16), nodes=(1, 32), sequences_per_gpu=(1, 512)
    )
    archs = ["afd", "ep"]  # the architectures with expert ranks (TP: tests/test_tp.py)
    df = solve(inst, architectures=archs)
    assert (df["imbalance_loss"] == 0).all() and (df["expert_imbalance"] == 1).all()
    w = dataclasses.replace(inst.workload, expert_imbalance=1.25, dp_imbalance=0.9)
    df = solve(inst.replace(workload=w), architectures=archs)
    assert (df["imbalance_loss"] > 0.05).all()
    assert (df["expert_imbalance"] == 1.25).all()


def test_ep_retention_follows_alpha_ep_for_a_compute_bound_stage():
    """alpha_EP = (lam + 1) / (lam + 1/sigma): at the target, EP's stage is attention plus
    grouped GEMM, both compute-bound (linear in b, no intercept), so the hottest rank's GEMM
    stretched by 1/sigma shrinks b by exactly that factor (up to whole sequences)."""
    base = make_instance(
        objective="tokens_per_gpu_at_target", nodes=(8, 8), sequences_per_gpu=(1, 8192)
    )
    hw = dataclasses.replace(base.hardware, scaleout_gbps=400, scaleup_gbps=900)
    inst = base.replace(
        hardware=hw, workload=dataclasses.replace(base.workload, context_tokens=256)
    )
    bal = optimize(inst, "ep")
    s = ep.deployment_stages(CostModel.of(inst, "ep"), bal.deployment)
    # The stage is compute-bound on both parts: the closed form's setting.
    assert float(s.attention_flop_s) > float(s.attention_byte_s)
    assert float(s.gemm_compute_s) > float(s.gemm_weight_s)
    lam = float(s.attention_s) / float(s.gemm_s)
    for sigma in (0.9, 0.7):
        w = dataclasses.replace(inst.workload, expert_imbalance=1 / sigma)
        row = solve(inst.replace(workload=w), architectures=["ep"]).iloc[0]
        assert row["binding"].startswith("ep:compute"), row["binding"]
        kept = row["objective"] / bal.objective
        b = bal.deployment.micro_batch_size
        assert kept == pytest.approx(cf.alpha_ep(sigma, lam), rel=2.0 / b)
        assert kept < 1.0


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
        units = d.pool("ffn") if arch == "afd" else d.pool("ep")
        assert highs.eps == fn(np.array([units * 8]), np.array([d.redundant]))[0]
    # With replicas the placement balances the hot experts away; without, AFD loses throughput.
    free = solve(inst, architectures=["afd"]).iloc[0]
    assert free["redundant_experts"] > 0
    pinned = dataclasses.replace(inst.search, redundant_experts=IntRange(0, 0))
    row = solve(inst.replace(search=pinned), architectures=["afd"]).iloc[0]
    assert row["expert_imbalance"] > 1.5 and row["redundant_experts"] == 0
    assert free["expert_imbalance"] < row["expert_imbalance"] - 0.3
    assert free["objective"] > row["objective"]
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
