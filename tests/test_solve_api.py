"""The solve/evaluate contract: JSON keys, statuses, reasons, pins, time limits, penalties."""

from __future__ import annotations

import dataclasses
import json

import pytest
from conftest import INSTANCES, make_instance

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
    "micro_batch_size",
    "attention_hardware",
    "ffn_hardware",
    # issue 15: the units of an architecture that sizes its own (tensor parallelism)
    "tp_groups",
    "tensor_parallel",
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


def test_throughput_counts_the_deployments_own_pace():
    """tokens/s = sigma * attention GPUs * n / TPOT, TPOT = (t_g + N_layers N_BO stage) / L."""
    row = solve(GOOD, architectures=["afd"]).iloc[0]
    n_a, n_f, n = row["attention_nodes"], row["ffn_nodes"], row["sequences_per_gpu"]
    assert row["micro_batch_size"] == -(-n // row["micro_batches"])
    expected = n_a * 8 * n * 1000 / row["tpot_ms"]
    assert row["tokens_per_s"] == pytest.approx(expected, rel=1e-12)
    assert row["tokens_per_s_per_gpu"] == pytest.approx(expected / ((n_a + n_f) * 8), rel=1e-12)
    assert row["objective"] == pytest.approx(row["tokens_per_s_per_gpu"], rel=1e-12)
    assert row["tpot_ms"] <= 50 * (1 + 1e-9)


def test_evaluate_reproduces_a_solved_deployment(capsys):
    for arch in ("afd", "ep"):
        solved = solve(GOOD, architectures=[arch]).iloc[0]
        shape = (
            f"attention_nodes={solved['attention_nodes']},ffn_nodes={solved['ffn_nodes']}"
            if arch == "afd"
            else f"nodes={solved['nodes']}"
        )
        spec = f"arch={arch},{shape},sequences_per_gpu={solved['sequences_per_gpu']}"
        rows = _json(capsys, "evaluate", str(GOOD), "--deployment", spec, "--format", "json")
        assert list(rows[0]) == KEYS
        assert rows[0]["status"] == "feasible"
        for key in (
            "tokens_per_s_per_gpu",
            "tokens_per_s",
            "tpot_ms",
            "ffn_hfu",
            "ffn_ofu",
            "temporal_sparsity",
        ):
            assert rows[0][key] == pytest.approx(solved[key], rel=1e-9), key


def test_evaluate_takes_any_whole_batch_per_gpu():
    """Micro-batches differ by at most one sequence; the largest sets the stage time."""
    even = evaluate(GOOD, "arch=afd,attention_nodes=4,ffn_nodes=2,sequences_per_gpu=300").iloc[0]
    odd = evaluate(GOOD, "arch=afd,attention_nodes=4,ffn_nodes=2,sequences_per_gpu=301").iloc[0]
    assert (even["micro_batch_size"], odd["micro_batch_size"]) == (100, 101)
    top = evaluate(GOOD, "arch=afd,attention_nodes=4,ffn_nodes=2,sequences_per_gpu=303").iloc[0]
    assert top["micro_batch_size"] == 101
    assert odd["tpot_ms"] == pytest.approx(top["tpot_ms"], rel=1e-12)  # same largest batch
    assert odd["tpot_ms"] > even["tpot_ms"]
    for row, n in ((even, 300), (odd, 301), (top, 303)):
        assert row["tokens_per_s"] == pytest.approx(4 * 8 * n * 1000 / row["tpot_ms"], rel=1e-12)


def test_evaluate_reports_slo_miss_without_forcing_it():
    df = evaluate(GOOD, "arch=afd,attention_nodes=8,ffn_nodes=2,sequences_per_gpu=300")
    row = df.iloc[0]
    assert row["status"] == "slo_violated"
    assert row["tpot_ms"] > 50
    assert "ffn:scale" in row["binding"]
    # Throughput at its own (slower) pace: Little's law.
    assert row["tokens_per_s"] == pytest.approx(8 * 8 * 300 * 1000 / row["tpot_ms"])
    df = evaluate(GOOD, "arch=ep,nodes=4,sequences_per_gpu=4000")
    assert df.iloc[0]["status"] == "infeasible"
    assert "ep:hbm_capacity" in df.iloc[0]["binding"]


def test_infeasible_reason_in_words():
    # One FFN node cannot hold DeepSeek-V3's experts: 32 experts x 58 layers per GPU.
    inst = make_instance(ffn_nodes=(1, 1), attention_nodes=(1, 8), sequences_per_gpu=(1, 256))
    out = optimize(inst, "afd", "highs")
    assert str(out.status) == "infeasible"
    memory = [r for r in out.reason.split("; ") if r.startswith("ffn:hbm_capacity")]
    assert memory, out.reason
    # 32 experts x 3 H M bytes x 58 MoE layers = 81.7 GB (and the buffers of one sequence)
    # against 0.9 x 80 = 72 GB usable.
    experts_gb = 32 * 3 * 7168 * 2048 * 58 / 1e9
    need_gb = float(memory[0].split("needs ")[1].split(" GB")[0])
    assert need_gb == pytest.approx(experts_gb, abs=0.06)  # printed to 0.1 GB
    assert "against 72.0 GB of usable HBM per GPU" in memory[0]
    assert "N_F = 1" in memory[0] and memory[0].endswith("fix: more FFN nodes")
    # Streaming those weights also overruns the stage budget: 32 x 44 MB / 3.35 TB/s.
    assert "ffn:gemm" in out.reason


def test_infeasible_reason_names_the_most_favourable_layout():
    """EP at 20 GB of HBM: the reason describes the layout that comes closest (the most nodes,
    the fewest experts per GPU), not the smallest one."""
    inst = make_instance(nodes=(1, 32), sequences_per_gpu=(1, 64))
    small = inst.replace(hardware=dataclasses.replace(inst.hardware, hbm_gb=20))
    out = optimize(small, "ep", "highs")
    assert str(out.status) == "infeasible"
    assert "N = 32," in out.reason, out.reason
    # At 32 nodes a GPU holds ceil(256 / 256) = 1 expert per layer: 58 x 44 MB = 2.55 GB of
    # experts on top of the attention weights, far below what 1 node would need (32 experts).
    need_gb = float(out.reason.split("needs ")[1].split(" GB")[0])
    assert need_gb < 30, out.reason


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
    assert "ffn:hbm_capacity: FFN-GPU memory" in rows[0]["binding"]
    assert rows[0]["tokens_per_s"] is None


def test_time_limit_returns_incumbent_with_gap():
    inst = make_instance(
        attention_nodes=(1, 512), ffn_nodes=(1, 512), sequences_per_gpu=(1, 4096), time_limit_s=1e-4
    )
    out = optimize(inst, "afd", "highs")
    assert str(out.status) == "feasible"
    assert out.deployment is not None
    assert out.gap is not None and 0 <= out.gap < 1
    row = solve(inst, architectures=["afd"]).iloc[0]
    assert row["status"] == "feasible" and "time limit, gap" in row["binding"]


def test_discrete_penalty_shrinks_with_finer_units():
    coarse = optimize(
        make_instance(attention_nodes=(1, 32), ffn_nodes=(1, 32), sequences_per_gpu=(1, 1536)),
        "afd",
        "highs",
    )
    fine = optimize(
        make_instance(
            unit_gpus=1, attention_nodes=(1, 256), ffn_nodes=(1, 256), sequences_per_gpu=(1, 1536)
        ),
        "afd",
        "highs",
    )
    assert 0 <= fine.discrete_penalty <= coarse.discrete_penalty
    assert coarse.discrete_penalty > 0.005
    assert fine.objective >= coarse.objective * (1 - 1e-12)


def test_discrete_penalty_against_the_scale_up_closed_form():
    """At the target, N_F = 2 on the paper's H800 takes at most P slots: its scale-up ingress
    carries sigma g q K / (N_F g) = 4 expert-token pairs per slot, 3H bytes each, at 160 GB/s
    within the stage budget t_B = (50 x 1.7 - 15) ms / (61 x 3). With b pinned at 79 the best
    whole N_A takes floor(P / 79) units; the fractional optimum takes P / 79 (P real)."""
    t_b = (50 * 1.7 - 15) * 1e-3 / (61 * 3)
    pairs_per_slot = 1 * 8 * 1 * 8 / (2 * 8)
    cap = t_b / (pairs_per_slot * 3 * 7168 / 160e9)
    assert int(cap) == 711
    inst = make_instance(
        objective="tokens_per_gpu_at_target",
        attention_nodes=(1, 64),
        ffn_nodes=(2, 2),
        sequences_per_gpu=(3 * 79, 3 * 79),
    )
    out = optimize(inst, "afd", "highs")
    n_a = out.deployment.pool("attention")
    assert n_a == int(cap) // 79
    relaxed = cap / 79
    assert out.discrete_penalty == pytest.approx(
        1 - (n_a * 79 / (n_a + 2)) / (cap / (relaxed + 2)),
        abs=1e-8,  # caps allow 1e-9 slack
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


def test_node_limited_routing_halves_the_fanout_where_it_binds():
    """DeepSeek-V3 routes each token to at most 4 of 8 expert groups. With N_F = 8 nodes each
    group sits on one node: a token reaches 4 nodes instead of min(K, N_F) = 8, so the FFN
    pool's scale-out ingress halves; with scale-out the binding resource, AFD serves more."""
    from formulations import afd
    from formulations.costs import CostModel

    slow = dataclasses.replace(make_instance().hardware, scaleout_gbps=10)
    worst = make_instance(
        hardware=slow, attention_nodes=(1, 32), ffn_nodes=(8, 8), sequences_per_gpu=(1, 1536)
    )
    limited = worst.replace(workload=dataclasses.replace(worst.workload, routing="node-limited"))
    s_worst = afd.stages(CostModel.of(worst), 4, 8, 300, 0, 3)
    s_limited = afd.stages(CostModel.of(limited), 4, 8, 300, 0, 3)
    assert float(s_limited.ffn_scaleout_s) == pytest.approx(float(s_worst.ffn_scaleout_s) / 2)
    a = optimize(worst, "afd", "highs")
    b = optimize(limited, "afd", "highs")
    assert "ffn:scale_out" in solve(worst, architectures=["afd"]).iloc[0]["binding"]
    assert b.objective > a.objective * 1.05


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


@pytest.mark.parametrize(
    "objective", ["tokens_per_gpu", "total_tokens", "min_gpus", "tokens_per_gpu_at_target"]
)
def test_discrete_penalty_against_a_direct_relaxation(objective):
    """The fractional-N_A optimum at the optimum's own TPOT (the target for the at-target
    objective), recomputed from the forward model: for each layout and micro-batch size, the
    largest real N_A whose FFN pool still meets the stage budget and holds its experts."""
    import numpy as np

    from formulations import afd
    from formulations.costs import CostModel

    w = dataclasses.replace(make_instance().workload, demand_tokens_per_s=4e5)
    inst = make_instance(
        workload=w,
        objective=objective,
        max_gpus=160,
        attention_nodes=(1, 24),
        ffn_nodes=(1, 8),
        sequences_per_gpu=(1, 768),
    )
    out = optimize(inst, "afd")
    cm = CostModel.of(inst)
    tpot_s = 0.05 if objective == "tokens_per_gpu_at_target" else out.deployment and None
    if tpot_s is None:
        m = __import__("formulations.metrics", fromlist=["metrics"]).metrics(cm, out.deployment)
        tpot_s = m.tpot_ms * 1e-3 * (1 + 1e-12)
    budget = float(cm.stage_budget_s(3, tpot_s))
    usable = cm.rates.hbm_usable_bytes
    best = None
    for f in range(1, 9):
        for b in range(1, 257):
            n = 3 * b
            att = afd.attention_times(cm, f, b, False)
            mem = afd.attention_memory(cm, f, n, False)
            if max(float(att["attention_s"]), float(att["attention_wire_s"])) > budget * (1 + 1e-9):
                continue
            if float(mem["attention_bytes"]) > usable * (1 + 1e-9):
                continue

            # Largest real N_A: bisection on the FFN pool's time and memory (monotone in N_A).
            def ok(a: float, f: int = f, b: int = b, n: int = n) -> bool:
                t = afd.ffn_times(cm, f, 0, afd.pool_tokens(cm, a * b), False)
                m_ = afd.ffn_memory(cm, f, 0, afd.pool_tokens(cm, a * n))
                slow = max(
                    float(t["gemm_s"]), float(t["ffn_scaleout_s"]), float(t["ffn_scaleup_s"])
                )
                return slow <= budget * (1 + 1e-9) and float(m_["ffn_bytes"]) <= usable * (1 + 1e-9)

            hi = 160 / 8 - f
            if not ok(1.0):
                continue
            lo_a, hi_a = 1.0, float(min(24, hi))
            if ok(hi_a):
                a = hi_a
            else:
                for _ in range(80):
                    mid = (lo_a + hi_a) / 2
                    lo_a, hi_a = (mid, hi_a) if ok(mid) else (lo_a, mid)
                a = lo_a
            if objective == "min_gpus":
                need = 4e5 * tpot_s / 8  # slots a n with TPOT <= tpot_s serve the demand
                if a * n < need * (1 - 1e-12):
                    continue
                value = max(1.0, need / n) + f
                best = value if best is None else min(best, value)
            else:
                value = a * n if objective == "total_tokens" else a * n / (a + f)
                best = value if best is None else max(best, value)
    d = out.deployment
    mine = d.pool("attention") * d.sequences_per_gpu
    if objective == "min_gpus":
        expected = 1 - best / d.total_units
    elif objective == "total_tokens":
        expected = 1 - mine / best
    else:
        expected = 1 - mine / d.total_units / best
    assert out.discrete_penalty == pytest.approx(max(0.0, expected), abs=1e-6)
    assert np.isfinite(out.discrete_penalty)
