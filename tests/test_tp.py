"""Tensor parallelism through every command (issue 15, docs/model.md §20).

The cost terms are checked against the independent reference in test_reference_model.py and the
optima against enumeration in test_backends_agree.py; here: the allowed group sizes, ties, the
deployment spec, the verdict among three, and the commands that take a TP deployment.
"""

from __future__ import annotations

import json

import pytest
from cli_helpers import run
from conftest import INSTANCES

import solver
from formulations import tp
from solver import report
from solver.io.loader import load_instance
from solver.optimize import optimize

ONE_NODE = INSTANCES / "qwen3-235b-a22b-h200-one-node.toml"


def test_group_sizes_split_heads_kv_heads_and_the_expert_width_inside_a_domain():
    # DeepSeek-V3: 128 heads, MLA, M = 2048; an NVL72 domain of 72 GPUs.
    gb200 = load_instance(INSTANCES / "deepseek-v3-gb200-nvl72.toml")
    assert tp.unit_sizes(gb200) == (1, 2, 4, 8, 16, 32, 64)
    # Qwen3-235B: 64 heads, 4 KV heads (split at t <= 4, replicated beyond), M = 1536; 8 GPUs.
    qwen = load_instance(ONE_NODE)
    assert tp.unit_sizes(qwen) == (1, 2, 4, 8)
    assert not tp.allowed(qwen.model, 3, 8) and not tp.allowed(qwen.model, 16, 8)
    # Step-3 (MFA, one KV head, 64 heads, M = 5120) on H800: every power of two up to 8.
    step3 = load_instance(INSTANCES / "step3-h800.toml")
    assert tp.unit_sizes(step3) == (1, 2, 4, 8)


def test_no_allowed_size_is_infeasible_naming_the_field():
    inst = load_instance(ONE_NODE, {"search.tensor_parallel": {"min": 3, "max": 3}})
    out = optimize(inst, "tp")
    assert str(out.status) == "infeasible"
    assert "search:tensor_parallel" in out.reason and "[3, 3]" in out.reason


@pytest.mark.parametrize("backend", ["highs", "cbc", "cpsat", "enumerate"])
def test_equal_groups_tie_to_the_fewest_gpus_on_every_backend(backend):
    """Groups are independent: r = 1..8 give the same tokens/s per GPU, and the smallest
    deployment (one group) wins on every backend (formulations.order)."""
    out = optimize(load_instance(ONE_NODE), "tp", backend)
    assert out.deployment is not None
    assert out.deployment.pool("tp") == 1 and out.deployment.unit_gpus == 8
    assert out.deployment.sequences_per_gpu == 110


def test_total_tokens_takes_every_group_the_cap_allows():
    total = {"search.objective": "total_tokens", "search.tp_groups": {"min": 1, "max": 8}}
    one = optimize(load_instance(ONE_NODE, {**total, "search.max_gpus": 8}), "tp")
    four = optimize(load_instance(ONE_NODE, {**total, "search.max_gpus": 32}), "tp")
    assert one.deployment is not None and four.deployment is not None
    assert four.deployment.gpus(8) == 32  # every GPU the cap allows
    # Four copies of the best 8-GPU deployment fit in 32 GPUs: at least four times its tokens/s.
    assert four.objective >= 4 * one.objective * (1 - 1e-12)


def test_solve_names_the_winner_among_three_and_shows_the_group():
    df = solver.solve(ONE_NODE)
    assert list(df["architecture"]) == ["afd", "ep", "tp"]
    row = report.records(df)[2]
    assert row["tp_groups"] == 1 and row["tensor_parallel"] == 8 and row["gpus"] == 8
    assert row["nodes"] == 1 and row["attention_nodes"] is None
    assert report.verdict(df).startswith("verdict: TP wins")
    table = report.render(df, "table", "tokens_per_gpu")
    assert " t " in table.splitlines()[0] + " "


def test_evaluate_takes_a_tp_deployment_and_its_nodes_are_physical():
    df = solver.evaluate(ONE_NODE, "arch=tp,tp_groups=2,tensor_parallel=4,sequences_per_gpu=64")
    row = report.records(df)[0]
    assert row["gpus"] == 8 and row["nodes"] == 1 and row["tensor_parallel"] == 4
    # Little's law with one serving rank per group (docs/model.md §20.1).
    assert row["tokens_per_s"] == pytest.approx(2 * 64 * 1000 / row["tpot_ms"], rel=1e-12)
    with pytest.raises(solver.errors.InputError, match="tensor_parallel: missing"):
        solver.evaluate(ONE_NODE, "arch=tp,tp_groups=2,sequences_per_gpu=64")
    with pytest.raises(solver.errors.InputError, match="nodes: not a field of arch=tp"):
        solver.evaluate(
            ONE_NODE, "arch=tp,tp_groups=1,tensor_parallel=8,nodes=2,sequences_per_gpu=1"
        )


def test_pareto_and_sweep_carry_tp(tmp_path, capsys):
    code, text, err = run(capsys, "pareto", ONE_NODE, "--tpot", "20:40", "--format", "json")
    assert code == 0, err
    rows = json.loads(text)
    tp_rows = [r for r in rows if r["architecture"] == "tp"]
    assert tp_rows and all(r["tensor_parallel"] in (1, 2, 4, 8) for r in tp_rows)
    winners = {r["architecture"] for r in rows if r["target_from_ms"] <= 23 <= r["target_to_ms"]}
    assert "tp" in winners
    out = tmp_path / "sweep"
    code, _, err = run(
        capsys, "sweep", ONE_NODE, "--vary", "workload.tpot_ms=22,30", "--out", str(out),
        "--workers", "1",
    )  # fmt: skip
    assert code == 0, err
    table = (out / "results.csv").read_text()
    assert ",tp," in table


@pytest.mark.parametrize("backend", ["highs", "enumerate"])
def test_infeasible_reason_is_full_for_the_largest_size_and_short_for_the_others(backend):
    """DeepSeek-V3 on H800 at TP: every size fails; the reason names each size (t = 1, 2, 4
    fail on latency and/or memory) and spells out only t = 8's, which misses by 13 GB
    (671 GB of FP8 weights / 8 = 85 GB per GPU against 72 GB usable)."""
    out = optimize(load_instance(INSTANCES / "deepseek-v3-h800.toml"), "tp", backend)
    assert out.deployment is None
    parts = out.reason.split("; ")
    assert [p.split(":")[0] for p in parts] == [f"h800 t={t}" for t in (1, 2, 4, 8)]
    smaller = zip((1, 2, 4), parts[:3], strict=True)
    assert all(p.startswith(f"h800 t={t}: fails tp:") for t, p in smaller)
    assert out.reason.count("most favourable layout") == 1
    assert "85.0 GB against 72.0 GB" in parts[-1]


@pytest.mark.parametrize(
    ("stem", "arch"),
    [
        ("qwen3-235b-a22b-h200-one-node", "tp"),  # two all-reduces in series, N_BO = 1
        ("qwen3-235b-a22b-h200-one-node", "ep"),  # EP's all-to-all in series, N_BO = 1
        ("qwen3-235b-a22b-h200", "tp"),
        ("deepseek-v3-h800", "afd"),
        ("deepseek-v3-h800", "ep"),
    ],
)
def test_every_breakdown_shows_the_line_that_sets_the_pace(stem, arch):
    """Some printed stage line equals the own stage: the breakdown accounts for the pace (TP's
    all-reduces and the one-micro-batch sum were missing from it)."""
    df = solver.solve(INSTANCES / f"{stem}.toml", architectures=[arch], breakdown=True)
    rec = report.records(df)[0]
    lines = report.breakdown_text(rec)
    paced = [line for line in lines if line.endswith("<- sets the pace")]
    assert len(paced) >= 1, lines
    stage_us = rec["breakdown_stage_s"] * 1e6
    assert f"{stage_us:9.1f} us" in paced[0]
    assert (rec["micro_batches"] == 1) == any("in series" in line for line in lines)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("tensor_parallel=3,tp_groups=1", "tensor_parallel = 3: not a group size"),  # 64 heads
        ("tensor_parallel=16,tp_groups=1", "inside one 8-GPU scale-up domain"),  # 2 nodes
        ("tensor_parallel=8,tp_groups=1,redundant_experts=4", "TP has no expert ranks"),
    ],
)
def test_evaluate_refuses_what_is_not_a_tp_deployment(spec, fragment, capsys):
    """A size that does not split the heads or leaves the domain was evaluated as if it did
    (t = 16 on one H200 node came out feasible on two nodes); redundant experts were ignored."""
    path = INSTANCES / "qwen3-235b-a22b-h200-one-node.toml"
    code, _, err = run(
        capsys, "evaluate", path, "--deployment", f"arch=tp,{spec},sequences_per_gpu=10"
    )
    assert code == 2 and fragment in err and "Traceback" not in err
    with pytest.raises(solver.errors.InputError, match=fragment.split(":")[0]):
        solver.evaluate(path, f"arch=tp,{spec},sequences_per_gpu=10")


def test_size_plan_names_tp_groups_and_their_size():
    """A TP plan row carries r and t (appended columns, the table's `r` and `t`); a plan without
    TP keeps today's table."""
    from solver.sizing.output import plan_lines
    from solver.sizing.tables import PLAN_COLUMNS, frame

    base = {"workload": "qa", "attention_hardware": "h20", "ffn_hardware": "h20",
            "replicas": 47, "sequences_per_gpu": 255, "tokens_per_s": 4e5, "tpot_ms": 30.0,
            "cost_per_hour": 466.24}  # fmt: skip
    tp_row = {**base, "architecture": "tp", "tp_groups": 1, "tensor_parallel": 8, "gpus": 376}
    ep_row = {**base, "architecture": "ep", "nodes": 5, "gpus": 1880}
    with_tp = plan_lines(frame([tp_row, ep_row], PLAN_COLUMNS))
    head = with_tp[0].split()
    assert head[head.index("N") + 1 : head.index("N") + 3] == ["r", "t"]
    cells = with_tp[1].split()
    assert cells[head.index("r")] == "1" and cells[head.index("t")] == "8"
    assert with_tp[2].split()[head.index("t")] == "-"
    assert "t" not in plan_lines(frame([ep_row], PLAN_COLUMNS))[0].split()
