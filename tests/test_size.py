"""`size` end to end on a tiny fleet: frontiers, plan, prices, shortages, CLI and files."""

from __future__ import annotations

import dataclasses
import json

import pytest

from solver import report
from solver.api import solve
from solver.cli import main
from solver.io.fleet import load_fleet
from solver.sizing.candidates import frontier_point, frontier_points
from solver.sizing.size import size

TINY = """
name = "tiny"
[[workload]]
name = "chat"
model = "deepseek-v3"
demand_tokens_per_s = 120000
tpot_ms = 50
context_tokens = 4096
mtp_acceptance = 1.7
step_gap_ms = 15
[[workload]]
name = "qa"
model = "deepseek-v3"
demand_tokens_per_s = 50000
tpot_ms = 50
context_tokens = 4096
mtp_acceptance = 1.7
step_gap_ms = 15
[[hardware]]
name = "h800"
price_per_gpu_hour = 2.0
inventory_gpus = INVENTORY
profile = "paper"
[[hardware]]
name = "h200"
price_per_gpu_hour = 3.5
inventory_gpus = 400
[search]
attention_nodes = { min = 1, max = 4 }
ffn_nodes = { min = 1, max = 2 }
nodes = { min = 1, max = 4 }
sequences_per_gpu = { min = 1, max = 256 }
"""


def write(tmp_path, inventory: int = 64, extra: str = "", name: str = "tiny.toml"):
    path = tmp_path / name
    path.write_text(TINY.replace("INVENTORY", str(inventory)) + extra)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = write(tmp_path_factory.mktemp("fleet"))
    return path, size(path, workers=1, progress=False)


def test_plan_meets_demand_within_inventory_at_its_cost(tiny):
    path, result = tiny
    fleet = load_fleet(path)
    assert result.status == "optimal"
    plan = report.records(result.plan)
    for w in fleet.workloads:
        served = sum(r["tokens_per_s"] for r in plan if r["workload"] == w.name)
        assert served >= w.demand_tokens_per_s * (1 - 1e-9)
    for hw in report.records(result.hardware):
        used = sum(r["gpus"] for r in plan if r["attention_hardware"] == hw["hardware"])
        assert used == hw["gpus"]
        if hw["inventory_gpus"] is not None:
            assert used <= hw["inventory_gpus"]
    assert sum(r["cost_per_hour"] for r in plan) == pytest.approx(result.cost_per_hour)
    prices = {h.name: h.price_per_gpu_hour for h in fleet.hardware}
    for r in plan:
        assert r["cost_per_hour"] == pytest.approx(r["gpus"] * prices[r["attention_hardware"]])
        assert r["tpot_ms"] <= 50 + 1e-9
        assert r["gpus"] % r["replicas"] == 0
    # Never dearer than EP alone or AFD alone.
    assert result.cost_per_hour <= result.ep_only_cost_per_hour + 1e-9
    assert result.cost_per_hour <= result.afd_only_cost_per_hour + 1e-9


def test_json_object_has_exactly_the_contract_keys(tiny):
    _, result = tiny
    data = json.loads(json.dumps(result.to_dict()))
    assert list(data) == [
        "status",
        "cost_per_hour",
        "ep_only_cost_per_hour",
        "afd_only_cost_per_hour",
        "plan",
        "hardware",
        "shortages",
        "tp_only_cost_per_hour",  # appended by issue 15
        "gap",  # appended by issue 14
    ]
    assert list(data["plan"][0]) == [
        "workload",
        "architecture",
        "attention_hardware",
        "ffn_hardware",
        "attention_nodes",
        "ffn_nodes",
        "nodes",
        "replicas",
        "gpus",
        "sequences_per_gpu",
        "tokens_per_s",
        "tpot_ms",
        "cost_per_hour",
        "tp_groups",  # appended by issue 15
        "tensor_parallel",
    ]
    assert list(data["hardware"][0]) == [
        "hardware",
        "gpus",
        "inventory_gpus",
        "cost_per_hour",
        "shadow_price_per_gpu_hour",
    ]
    assert data["shortages"] == []


def test_frontier_is_the_best_deployment_at_every_gpu_count(tmp_path):
    """The top-down frontier equals total_tokens solved at every max_gpus (none skipped).

    Its largest point is the fewest GPUs that meet the class's largest demand
    (the `min_gpus` optimum): it need not be the most throughput at that size,
    only cover every demand of the class, since bigger never helps.
    """
    fleet = load_fleet(write(tmp_path))
    points, _ = frontier_points(fleet, ("afd", "ep"))
    for point in [p for p in points if p["attention_hardware"] == p["ffn_hardware"] == "h800"]:
        rows = frontier_point(fleet.path, point)
        inst = fleet.instance(fleet.workloads[0], "h800")
        inst = inst.replace(workload=dataclasses.replace(inst.workload, demand_tokens_per_s=1e9))
        arch = point["architecture"]
        top = max(r["gpus"] for r in rows)
        for k in range(8, top + 1, 8):
            search = dataclasses.replace(inst.search, objective="total_tokens", max_gpus=k)
            best = report.records(solve(inst.replace(search=search), architectures=[arch]))[0]
            reach = [r["tokens_per_s"] for r in rows if r["gpus"] <= k]
            if best["status"] != "optimal":
                assert not reach, (arch, k)
                continue
            if k < top:
                assert max(reach) == pytest.approx(best["tokens_per_s"]), (arch, k)
            else:
                assert 120000 <= max(reach) <= best["tokens_per_s"] + 1e-6, arch


def test_shadow_price_is_the_saving_of_one_more_node(tmp_path):
    tight = size(write(tmp_path, inventory=16), workers=1, progress=False)
    looser = size(write(tmp_path, inventory=24, name="looser.toml"), workers=1, progress=False)
    h800 = report.records(tight.hardware)[0]
    assert h800["hardware"] == "h800" and h800["gpus"] <= 16
    saving = (tight.cost_per_hour - looser.cost_per_hour) / 8
    assert saving > 0  # the inventory binds
    assert h800["shadow_price_per_gpu_hour"] == pytest.approx(saving)
    assert report.records(tight.hardware)[1]["shadow_price_per_gpu_hour"] == 0.0


def test_over_constrained_fleet_names_its_shortage(tmp_path):
    extra = """
[[workload]]
name = "instant"
model = "deepseek-v3"
demand_tokens_per_s = 1000
tpot_ms = 1
context_tokens = 4096
"""
    path = (
        write(tmp_path, inventory=8, extra=extra)
        .read_text()
        .replace("inventory_gpus = 400", "inventory_gpus = 16")
    )
    (tmp_path / "short.toml").write_text(path)
    result = size(tmp_path / "short.toml", workers=1, progress=False)
    assert result.status == "infeasible" and result.cost_per_hour is None
    shortages = report.records(result.shortages)
    instant = [s for s in shortages if s["workload"] == "instant"]
    assert len(instant) == 1 and "no deployment meets TPOT 1 ms" in instant[0]["reason"]
    missing = {s["hardware"]: s["missing_gpus"] for s in shortages if s["hardware"]}
    assert missing and all(m > 0 for m in missing.values())
    # The plan shown buys exactly the missing GPUs on top of the inventory.
    for hw in report.records(result.hardware):
        assert hw["gpus"] <= hw["inventory_gpus"] + missing.get(hw["hardware"], 0)


def test_cli_json_out_and_export(tmp_path, capsys):
    path = write(tmp_path)
    out, export = tmp_path / "out", tmp_path / "export"
    args = ["size", str(path), "--workers", "1", "--format", "json", "--out", str(out)]
    assert main([*args, "--export", str(export)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "optimal" and data["plan"]
    assert sorted(p.name for p in out.iterdir()) == ["hardware.csv", "plan.csv", "plan.png"]
    assert sorted(p.name for p in export.iterdir()) == ["tiny.fleet.lp", "tiny.fleet.mps"]
    assert main(args) == 2  # refuses to overwrite
    assert "pass --force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


def test_table_fits_in_100_columns(tiny, capsys):
    from solver.sizing.output import render

    text = render(tiny[1], "table")
    assert "fleet tiny: optimal" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_truncated_candidates_keep_the_optimum(tmp_path):
    """Each workload keeps the rows below its demand and the covering rows no other covering
    row beats on every pool: the plan is no dearer than with every row of every frontier."""
    from formulations.fleet import Candidate, FleetProblem
    from solver.sizing.candidates import compute_frontiers
    from solver.sizing.problem import pool_gpus
    from solver.sizing.size import build_problem
    from solver.sizing.solve import solve_fleet

    fleet = load_fleet(write(tmp_path, inventory=16))
    frontiers, classes = compute_frontiers(fleet, ("afd", "ep"), workers=1, progress=False)
    truncated, _, _ = build_problem(fleet, frontiers, classes)
    every = [
        Candidate(w, float(r["tokens_per_s"]), pool_gpus(f.pairing, r), f.pairing.architecture)
        for c, members in classes.items()
        for w in members
        for f in frontiers[c]
        for r in f.rows
    ]
    full = FleetProblem(truncated.demands, truncated.pools, tuple(every))
    assert len(every) > len(truncated.candidates)
    for cand in every:
        demand = full.demands[cand.workload]
        kept = [x for x in truncated.candidates if x.workload == cand.workload]
        if cand.tokens_per_s < demand:
            assert cand in kept
        else:  # a covering row is kept or beaten on every pool by a kept covering one
            assert any(
                x.tokens_per_s >= demand and all(x.gpus_on(h) <= n for h, n in cand.gpus)
                and x.total_gpus <= cand.total_gpus
                for x in kept
            )  # fmt: skip
    assert solve_fleet(truncated).cost_per_hour == pytest.approx(solve_fleet(full).cost_per_hour)


def test_shadow_price_adds_exactly_one_node():
    from formulations.fleet import Candidate, FleetProblem, Pool
    from solver.sizing.size import shadow_prices
    from solver.sizing.solve import solve_fleet

    pools = (Pool("h20", 1.0, 8), Pool("h800", 3.0))
    cands = (Candidate(0, 1000.0, (("h20", 8),)), Candidate(0, 1000.0, (("h800", 8),)))
    problem = FleetProblem((3000.0,), pools, cands)
    base = solve_fleet(problem)
    assert base.cost_per_hour == pytest.approx(8 + 48)
    # One more h20 node: 2 x h20 + 1 x h800 = $40/h, so 16 $/h saved over 8 GPUs.
    assert shadow_prices(problem, base, 8, "highs", 30) == {"h20": 2.0, "h800": None}
