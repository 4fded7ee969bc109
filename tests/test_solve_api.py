"""The solve/evaluate contract: JSON keys, statuses, reasons, pins, time limits, penalties."""

from __future__ import annotations

import dataclasses
import json

import pytest
from conftest import INSTANCES, deepseek_v3, make_instance

from formulations.types import IntRange, Workload
from solver import COLUMNS, evaluate, solve
from solver.cli import main
from solver.optimize import optimize

GOOD = INSTANCES / "deepseek-v3-h800.toml"
KEYS = [
    "architecture",
    "status",
    "attention_nodes",
    "ffn_nodes",
    "nodes",
    "gpus",
    "sequences_per_gpu",
    "micro_batches",
    "tokens_per_s_per_gpu",
    "tokens_per_s",
    "tpot_ms",
    "ffn_hfu",
    "ffn_ofu",
    "temporal_sparsity",
    "binding",
    "discrete_penalty",
    "objective",
    "backend",
    "solve_s",
    "expert_imbalance",
    "redundant_experts",
    "imbalance_loss",
]


def _json(capsys, *argv, code=0):
    assert main(list(argv)) == code
    return json.loads(capsys.readouterr().out)


def test_solve_json_has_exactly_the_contract_keys(capsys):
    rows = _json(capsys, "solve", str(GOOD), "--format", "json")
    assert [r["architecture"] for r in rows] == ["afd", "ep"]
    for row in rows:
        assert list(row) == KEYS
        assert row["status"] == "optimal"
        assert isinstance(row["tokens_per_s_per_gpu"], float)
        assert isinstance(row["gpus"], int)
    afd, ep = rows
    assert ep["attention_nodes"] is None and ep["ffn_nodes"] is None
    assert afd["nodes"] == afd["attention_nodes"] + afd["ffn_nodes"]
    assert afd["gpus"] == 8 * afd["nodes"]
    assert tuple(KEYS) == COLUMNS


def test_table_output_has_a_verdict(capsys):
    assert main(["solve", str(GOOD)]) == 0
    out = capsys.readouterr().out
    assert "verdict:" in out.splitlines()[-1]


def test_csv_output(capsys):
    assert main(["solve", str(GOOD), "--format", "csv", "--arch", "ep"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split(",") == KEYS and len(lines) == 2


def test_python_api_matches_cli(capsys):
    df = solve(GOOD)
    rows = _json(capsys, "solve", str(GOOD), "--format", "json")
    assert list(df.columns) == KEYS
    for (_, row), cli in zip(df.iterrows(), rows, strict=True):
        assert row["objective"] == pytest.approx(cli["objective"], rel=1e-12)


def test_throughput_formula_of_section_5():
    row = solve(GOOD, architectures=["afd"]).iloc[0]
    n_a, n_f, b = row["attention_nodes"], row["ffn_nodes"], row["sequences_per_gpu"]
    # N_A g b N_BO L / (T (N_A + N_F) g), T = SLO * L.
    expected = n_a * b * 3 / (0.050 * (n_a + n_f))
    assert row["tokens_per_s_per_gpu"] == pytest.approx(expected, rel=1e-12)
    assert row["objective"] == pytest.approx(expected, rel=1e-12)
    assert row["tpot_ms"] <= 50 + 1e-9
    assert row["ffn_hfu"] == pytest.approx(row["ffn_ofu"] * row["temporal_sparsity"], rel=1e-12)


def test_evaluate_reproduces_a_solved_deployment(capsys):
    afd = solve(GOOD, architectures=["afd"]).iloc[0]
    spec = (
        f"arch=afd,attention_nodes={afd['attention_nodes']},ffn_nodes={afd['ffn_nodes']},"
        f"sequences_per_gpu={afd['sequences_per_gpu']}"
    )
    rows = _json(capsys, "evaluate", str(GOOD), "--deployment", spec, "--format", "json")
    assert list(rows[0]) == KEYS
    assert rows[0]["status"] == "feasible"
    assert rows[0]["tpot_ms"] == pytest.approx(afd["tpot_ms"], rel=1e-12)
    # Evaluate runs at the deployment's own pace: at least the SLO-paced throughput.
    assert rows[0]["tokens_per_s"] >= afd["tokens_per_s"] * (1 - 1e-12)


def test_evaluate_reports_slo_miss_without_forcing_it():
    df = evaluate(GOOD, "arch=afd,attention_nodes=8,ffn_nodes=2,sequences_per_gpu=100")
    row = df.iloc[0]
    assert row["status"] == "slo_violated"
    assert row["tpot_ms"] > 50
    assert "ffn:scale" in row["binding"]
    # Throughput at its own (slower) pace.
    assert row["tokens_per_s"] == pytest.approx(8 * 8 * 100 * 3 * 1.7 / (row["tpot_ms"] * 1.7e-3))
    df = evaluate(GOOD, "arch=ep,nodes=4,sequences_per_gpu=2000")
    assert df.iloc[0]["status"] == "infeasible"
    assert "ep:hbm_capacity" in df.iloc[0]["binding"]


def test_infeasible_reason_in_words():
    # One FFN node cannot hold DeepSeek-V3's experts: 32 experts x 58 layers per GPU.
    inst = make_instance(ffn_nodes=(1, 1), attention_nodes=(1, 8), sequences_per_gpu=(1, 256))
    out = optimize(inst, "afd", "highs")
    assert str(out.status) == "infeasible"
    assert "FFN memory: experts need" in out.reason
    assert "the FFN pool of 1 node(s)" in out.reason
    assert "GB usable" in out.reason


def test_infeasible_budget_is_explained():
    w = Workload(tpot_ms=5, context_tokens=4096, mtp_acceptance=1.0, step_gap_ms=10)
    for arch in ("afd", "ep"):
        out = optimize(make_instance(workload=w), arch, "highs")
        assert str(out.status) == "infeasible"
        assert "latency budget" in out.reason


def test_infeasible_row_keeps_the_reason(capsys):
    rows = _json(
        capsys,
        "solve",
        str(GOOD),
        "--format",
        "json",
        "--set",
        "search.ffn_nodes=1",
        "--arch",
        "afd",
        code=1,  # no architecture produced a deployment
    )
    assert rows[0]["status"] == "infeasible"
    assert "experts need" in rows[0]["binding"]
    assert rows[0]["tokens_per_s"] is None


def test_time_limit_returns_incumbent_with_gap():
    inst = make_instance(
        attention_nodes=(1, 512), ffn_nodes=(1, 512), sequences_per_gpu=(1, 4096), time_limit_s=1e-4
    )
    out = optimize(inst, "afd", "highs")
    assert str(out.status) == "feasible"
    assert out.deployment is not None
    assert out.gap is not None and 0 <= out.gap < 0.2
    row = solve(inst, architectures=["afd"]).iloc[0]
    assert row["status"] == "feasible" and "time limit, gap" in row["binding"]


def test_discrete_penalty_shrinks_with_finer_units():
    coarse = optimize(
        make_instance(attention_nodes=(1, 32), ffn_nodes=(1, 32), sequences_per_gpu=(1, 512)),
        "afd",
        "highs",
    )
    fine = optimize(
        make_instance(
            unit_gpus=1, attention_nodes=(1, 256), ffn_nodes=(1, 256), sequences_per_gpu=(1, 512)
        ),
        "afd",
        "highs",
    )
    assert 0 <= fine.discrete_penalty <= coarse.discrete_penalty
    assert coarse.discrete_penalty > 0.005
    assert fine.objective >= coarse.objective * (1 - 1e-12)


def test_discrete_penalty_is_zero_when_the_ratio_is_whole():
    # Pin b and N_F where the FFN pool serves exactly a whole number of attention units.
    inst = make_instance(attention_nodes=(1, 64), ffn_nodes=(2, 2), sequences_per_gpu=(79, 79))
    out = optimize(inst, "afd", "highs")
    slots = out.deployment.attention_units * 79
    assert slots <= 711 < slots + 79  # the scale-up cap of N_F = 2 (see the regimes test)
    relaxed = 711 / 79
    assert out.discrete_penalty == pytest.approx(
        1 - (slots / (out.deployment.attention_units + 2)) / (711 / (relaxed + 2)), rel=1e-9
    )


def test_min_gpus_and_total_tokens_objectives():
    w = dataclasses.replace(make_instance().workload, demand_tokens_per_s=6e5)
    inst = make_instance(
        workload=w,
        objective="min_gpus",
        attention_nodes=(1, 64),
        ffn_nodes=(1, 16),
        nodes=(1, 64),
        sequences_per_gpu=(1, 512),
    )
    for arch in ("afd", "ep"):
        out = optimize(inst, arch, "highs")
        ref = optimize(inst, arch, "enumerate")
        assert out.objective == ref.objective
        row = solve(inst, architectures=[arch]).iloc[0]
        assert row["tokens_per_s"] >= 6e5 * (1 - 1e-9)
        assert row["binding"].startswith("demand")
        assert row["gpus"] == out.objective
    inst = make_instance(
        objective="total_tokens",
        max_gpus=96,
        attention_nodes=(1, 16),
        ffn_nodes=(1, 16),
        nodes=(1, 16),
        sequences_per_gpu=(1, 512),
    )
    for arch in ("afd", "ep"):
        out = optimize(inst, arch, "highs")
        assert out.deployment.gpus(8) <= 96
        assert out.objective == pytest.approx(optimize(inst, arch, "enumerate").objective)


def test_node_limited_routing_helps_afd():
    worst = make_instance(attention_nodes=(1, 32), ffn_nodes=(1, 32), sequences_per_gpu=(1, 512))
    w = dataclasses.replace(worst.workload, routing="node-limited")
    limited = worst.replace(workload=w)
    assert deepseek_v3().topk_group == 4
    a = optimize(worst, "afd", "highs").objective
    b = optimize(limited, "afd", "highs").objective
    assert b >= a


def test_micro_batch_search():
    inst = make_instance(
        attention_nodes=(1, 16),
        ffn_nodes=(1, 8),
        sequences_per_gpu=(1, 256),
        afd_micro_batches=(3, 5),
    )
    out = optimize(inst, "afd", "highs")
    assert out.deployment.micro_batches in (3, 4, 5)
    assert out.objective == pytest.approx(optimize(inst, "afd", "enumerate").objective)
    assert inst.search.afd_micro_batches == IntRange(3, 5)


@pytest.mark.parametrize("objective", ["tokens_per_gpu", "total_tokens", "min_gpus"])
def test_discrete_penalty_against_a_direct_relaxation(objective):
    """The continuous-N_A optimum, recomputed over every (layout, b) without pruning."""
    import numpy as np

    from formulations.costs import CostModel
    from formulations.layouts import afd_layouts, constant_imbalance

    w = dataclasses.replace(make_instance().workload, demand_tokens_per_s=4e5)
    inst = make_instance(
        workload=w,
        objective=objective,
        max_gpus=160,
        attention_nodes=(1, 24),
        ffn_nodes=(1, 8),
        sequences_per_gpu=(1, 256),
    )
    out = optimize(inst, "afd")
    lay = afd_layouts(CostModel.of(inst), 3, inst.search, constant_imbalance(1.0))
    served = 3 * 8 / 0.05  # tokens/s per slot: N_BO g / SLO
    best = None
    for c in range(len(lay)):
        f = int(lay.ffn_units[c])
        for b in range(1, min(256, int(lay.seq_cap()[c])) + 1):
            if objective == "min_gpus":
                n_a = max(float(lay.attention_lo[c]), 4e5 / served / b)
                if n_a > lay.attention_hi[c] or n_a * b > lay.slot_cap()[c] * (1 + 1e-12):
                    continue
                value = (n_a + f) * 8
                best = value if best is None else min(best, value)
                continue
            n_a = min(float(lay.attention_hi[c]), lay.slot_cap()[c] / b)
            if n_a < lay.attention_lo[c]:
                continue
            value = served * n_a * b / ((n_a + f) * 8 if objective == "tokens_per_gpu" else 1)
            best = value if best is None else max(best, value)
    expected = 1 - best / out.objective if objective == "min_gpus" else 1 - out.objective / best
    assert out.discrete_penalty == pytest.approx(max(0.0, expected), abs=1e-9)
    assert np.isfinite(out.discrete_penalty)
