"""Equal optima and the defects of issue 15: one smallest deployment everywhere (docs/model.md
§11.10), solve and pareto agree on deployment and binding, the own-pace chain past its first
level, breakdown columns of a list of files, pareto's row edges and its hardware pairings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from cli_helpers import run
from conftest import INSTANCES

import solver
from formulations import architectures
from formulations import levels as lv
from formulations.costs import CostModel
from formulations.types import Deployment
from solver import report
from solver.api import evaluate
from solver.io.loader import load_instance
from solver.optimize import optimize

H800 = INSTANCES / "deepseek-v3-h800.toml"


def _own_value(inst, d: Deployment) -> float:
    """tokens/s per GPU at own pace, straight from the forward model."""
    return report.records(evaluate(inst, d))[0]["tokens_per_s_per_gpu"]


@pytest.mark.parametrize(
    "path, target_ms, nodes",
    [(H800, 20.0, 11), (INSTANCES / "deepseek-v3-gb200-nvl72.toml", None, 32)],
)
def test_fewest_gpus_win_among_equal_optima(path, target_ms, nodes):
    """EP's per-GPU throughput stops depending on N once its fan-out saturates: many N tie.
    Every backend returns the fewest GPUs, and a larger N really is an equal optimum."""
    over = {} if target_ms is None else {"workload.tpot_ms": target_ms}
    inst = load_instance(path, over)
    got = {b: optimize(inst, "ep", b).deployment for b in ("highs", "cpsat")}
    assert {d.pool("ep") for d in got.values()} == {nodes}
    d = got["highs"]
    bigger = d.with_pool("ep", d.pool("ep") + 4)
    assert math.isclose(_own_value(inst, bigger), _own_value(inst, d), rel_tol=1e-9)


def test_solve_and_pareto_return_the_same_deployment_and_binding():
    """At every target the pareto row that covers it is solve's optimum, binding included, and
    a row is found at exactly its own TPOT (target_from_ms <= tpot_ms)."""
    inst = load_instance(H800)
    front = solver.pareto(inst, (15.0, 100.0))
    for row in report.records(front):
        if row["tpot_ms"] >= 15.0:
            assert row["target_from_ms"] <= row["tpot_ms"], row
    for target_ms in (20.0, 35.0, 50.0, 80.0):
        solved = report.records(solver.solve(H800, overrides={"workload.tpot_ms": target_ms}))
        for row in solved:
            arch = row["architecture"]
            live = front[
                (front["architecture"] == arch)
                & (front["target_from_ms"] <= target_ms)
                & (front["target_to_ms"] >= target_ms)
            ]
            assert len(live) >= 1, (arch, target_ms)
            ours = report.records(live)[-1]
            for key in ("attention_nodes", "ffn_nodes", "nodes", "sequences_per_gpu", "binding"):
                assert ours[key] == row[key], (arch, target_ms, key, ours[key], row[key])


def test_the_chain_goes_past_its_first_level(monkeypatch):
    """With candidates from the hull vertices only (as for a search space too large to scan),
    the first level's incumbent is not the optimum; the levels below must find it."""
    inst = load_instance(H800)
    full = optimize(inst, "afd", "enumerate")
    monkeypatch.setattr(lv, "FULL_SCAN", 0)
    seen: list[float] = []
    out = optimize(inst, "afd", "highs", on_level=lambda i, t: seen.append(t))
    assert math.isclose(out.objective, full.objective, rel_tol=1e-9)
    assert len(seen) > 1
    # The first level alone would have stopped lower.
    from solver import levels as scheme
    from solver.backends import make_backend
    from solver.imbalance import imbalance_fn

    ctx = scheme.Context.of(
        inst, architectures.get("afd"), imbalance_fn(inst), make_backend("highs"), 1e18
    )
    first = scheme.solve_level(ctx, inst.workload.tpot_ms * 1e-3, total=False)
    assert first.incumbent is not None and first.incumbent[0] < full.objective * (1 - 1e-6)


def test_a_list_of_files_keeps_the_breakdown_columns():
    df = solver.solve([H800], breakdown=True, workers=1)
    cols = [c for c in df.columns if c.startswith("breakdown_")]
    assert "breakdown_stage_s" in cols and "breakdown_gemm_latency_s" in cols
    assert df["breakdown_stage_s"].notna().all()


def test_pareto_walks_every_pairing_and_names_it(tmp_path, capsys):
    path = INSTANCES / "qwen3-235b-a22b-h20-h800-64k.toml"
    code, text, err = run(capsys, "pareto", path, "--tpot", "40:55", "--format", "json")
    assert code == 0, err
    import json

    rows = json.loads(text)
    assert {r["attention_hardware"] for r in rows} <= {"h20", "h800"}
    assert {r["architecture"] for r in rows} == {"afd", "ep", "tp"}
    code, text, err = run(capsys, "pareto", path, "--tpot", "40:55", "--arch", "ep")
    assert code == 0, err
    assert "is better" not in text  # one architecture: no verdict


def test_objective_at_the_target_is_shown_as_such():
    inst = load_instance(H800, {"search.objective": "tokens_per_gpu_at_target"})
    df = solver.solve(inst)
    table = report.render(df, "table", inst.search.objective)
    header = table.splitlines()[0]
    assert "tok/s/GPU @target" in header and "own tok/s/GPU" in header
    afd = report.records(df)[0]
    assert f"{afd['objective']:,.0f}" in table.splitlines()[1]


def test_ties_are_judged_at_one_part_in_a_billion():
    """The tolerance of formulations.order: values within 1e-9 relative are equal optima; the
    enumeration oracle and the levels use the same one (a looser oracle would return the
    smaller deployment where the programs return the better value)."""
    from formulations import order

    assert order.same(1.0, 1.0 + 5e-10) and not order.same(1.0, 1.0 + 2e-9)
    values = np.array([5.0, 5.0 * (1 + 1e-10), 4.0])
    assert order.pick(values, [np.array([3, 1, 0])]) == 1
    cm = CostModel.of(load_instance(H800), "ep")
    assert cm.unit_gpus == 8
