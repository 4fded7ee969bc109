"""Expert placement: bounds, the program on every backend, heuristics, tables (model.md §14)."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formulations.placement import (
    Placement,
    PlacementError,
    build_placement_program,
    check_problem,
    extract_placement,
    lower_bound,
    node_spread,
    validate_placement,
)
from formulations.placement_heuristics import greedy_placement, greedy_replica_counts
from formulations.placement_split import rebalance_tokens
from formulations.types import Hardware, Instance, Model, Search, Workload
from solver.backends import Status, make_backend
from solver.placement.achieved import achieved_imbalance, default_slots_per_rank
from solver.placement.place import PLACEMENT_COLUMNS, SUMMARY_COLUMNS, place_layers, solve_layer

REPO = Path(__file__).resolve().parents[1]
BACKENDS = ("highs", "cbc", "cpsat")
TOKEN_TOL = 1e-6  # relative tolerance when loads are rebuilt from float shares

# ---- an independent brute force ----


def split_max_load(loads, masks, ranks) -> int:
    """Min-max integer split on fixed replicas by Hall's condition.

    The rank loads can stay below T iff every set Q of ranks can absorb the
    experts whose replicas all lie in Q: T = max_Q ceil(W_Q / |Q|).
    """
    best = 0
    for q in range(1, 1 << ranks):
        inside = sum(w for w, m in zip(loads, masks, strict=True) if m & ~q == 0)
        best = max(best, -(-inside // bin(q).count("1")))
    return best


def brute_force(loads, ranks, slots, replicas) -> int:
    """Optimal max load by enumerating every replica set (each expert: a non-empty rank set)."""
    experts, budget = len(loads), len(loads) + replicas
    subsets = list(range(1, 1 << ranks))
    best = math.inf

    def rec(e, used, counts, masks):
        nonlocal best
        if e == experts:
            best = min(best, split_max_load(loads, masks, ranks))
            return
        for m in subsets:
            size = bin(m).count("1")
            if e == 0 and m != (1 << size) - 1:
                continue  # ranks are identical: expert 0 takes the first ranks
            if used + size + (experts - e - 1) > budget:
                continue
            bumped = [c + ((m >> r) & 1) for r, c in enumerate(counts)]
            if max(bumped) > slots:
                continue
            rec(e + 1, used + size, bumped, masks + [m])

    rec(0, 0, [0] * ranks, [])
    return int(best)


TINY = [
    # (loads, ranks, slots_per_rank, replicas)
    ([9, 7, 5, 3], 2, 2, 0),
    ([9, 7, 5, 3], 2, 3, 1),
    ([10, 1, 1, 1, 1], 2, 3, 0),
    ([10, 1, 1, 1, 1], 2, 3, 1),
    ([13, 8, 6, 6, 2, 1], 3, 2, 0),
    ([13, 8, 6, 6, 2, 1], 3, 3, 2),
    ([20, 4, 3, 3, 2, 2, 1], 3, 3, 2),
    ([5, 5, 5, 4, 4, 3, 2, 1], 4, 2, 0),
    ([30, 2, 2, 1, 0], 4, 2, 2),
    ([100, 3, 2], 3, 1, 0),
    ([12, 11, 10, 2, 2, 1], 2, 4, 2),
    ([7, 7, 7, 7, 7], 4, 2, 3),
]


@pytest.mark.parametrize("loads, ranks, slots, replicas", TINY)
def test_pipeline_matches_brute_force(loads, ranks, slots, replicas):
    res = solve_layer(np.array(loads), ranks, slots, replicas, time_limit_s=10)
    assert res.status == Status.OPTIMAL
    assert res.max_load == brute_force(loads, ranks, slots, replicas)
    assert not validate_placement(res.placement, np.array(loads), ranks, slots, replicas)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loads, ranks, slots, replicas", TINY[:9])
def test_every_backend_solves_the_program_exactly(backend, loads, ranks, slots, replicas):
    w = np.array(sorted(loads, reverse=True))
    prob, handles = build_placement_program(w, ranks, slots, replicas)
    assert prob.is_integral()
    sol = make_backend(backend).solve(prob, time_limit_s=20)
    assert sol.status == Status.OPTIMAL
    pl = extract_placement(handles, sol.values)
    assert not validate_placement(pl, w, ranks, slots, replicas)
    assert pl.max_load == round(sol.objective) == brute_force(list(w), ranks, slots, replicas)


def test_program_families_and_symmetry_breaking():
    w = np.array([9, 7, 5, 3, 1])
    prob, handles = build_placement_program(w, ranks=4, slots_per_rank=3, replicas=1)
    families = {c.family for c in prob.constraints}
    assert families == {"tokens", "link", "replicas", "budget", "slots", "load"}
    # Canonical solutions: rank 0 holds expert 0, expert j only on ranks 0..j+R.
    assert prob.variables[handles.replica[0, 0]].lo == 1
    assert (0, 2) not in handles.replica and (1, 2) in handles.replica
    assert all(r <= e + 1 for e, r in handles.replica)


# ---- bounds ----


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    loads=st.lists(st.integers(0, 30), min_size=2, max_size=5),
    ranks=st.integers(1, 3),
    slots=st.integers(1, 4),
    replicas=st.integers(0, 3),
)
def test_lower_bound_never_exceeds_the_optimum(loads, ranks, slots, replicas):
    w = np.array(loads)
    try:
        check_problem(w, ranks, slots, replicas)
    except PlacementError:
        return
    assert lower_bound(w, ranks, slots, replicas) <= brute_force(loads, ranks, slots, replicas)


def test_bounds_on_known_cases():
    # Perfect balance.
    assert lower_bound(np.array([4, 4, 4, 4]), 2, 4, 0) == 8
    # One hot expert with 2 extra replicas: at least 30 / 3.
    assert lower_bound(np.array([30, 1, 1]), 4, 3, 2) == 10 == brute_force([30, 1, 1], 4, 3, 2)
    # Full ranks without replicas: the hot expert's rank also holds S-1 whole experts.
    assert lower_bound(np.array([50, 5, 4, 3, 2, 1]), 2, 3, 0) == 50 + 2 + 1
    assert brute_force([50, 5, 4, 3, 2, 1], 2, 3, 0) == 53
    # Room: the ranks of 39's pieces and of 25 (2 slots each) must also host the
    # 3s and the 2, which the balance and count bounds (25) do not see.
    assert lower_bound(np.array([39, 25, 3, 3, 2]), 3, 2, 1) == 27
    assert brute_force([39, 25, 3, 3, 2], 3, 2, 1) == 27


# ---- heuristics ----


def test_greedy_replicates_by_load_per_replica():
    counts = greedy_replica_counts(np.array([100, 60, 10]), ranks=8, replicas=3)
    # 100 -> 50 per replica; then 60 > 50 -> 60 gets one; then 50 vs 30: 100 again.
    assert counts.tolist() == [3, 2, 1]
    # Saturated experts stop at one replica per rank.
    assert greedy_replica_counts(np.array([100, 1]), ranks=2, replicas=2).tolist() == [2, 2]


def test_greedy_balances_counts_and_splits_evenly():
    loads = np.array([90, 50, 20, 10, 7, 3, 1])
    pl = greedy_placement(loads, ranks=3, slots_per_rank=4, replicas=2)
    assert not validate_placement(pl, loads, 3, 4, 2)
    assert sorted(pl.replica.sum(axis=1).tolist()) == [3, 3, 3]  # 9 replicas on 3 ranks
    for e in range(len(loads)):
        pieces = pl.tokens[pl.replica[:, e], e]
        assert pieces.max() - pieces.min() <= 1


def test_rebalance_finds_the_hall_optimum():
    rng = np.random.default_rng(5)
    for _ in range(30):
        loads = rng.integers(0, 20, size=5)
        replica = rng.random((3, 5)) < 0.5
        replica[rng.integers(0, 3, size=5), np.arange(5)] = True
        pl = rebalance_tokens(loads, replica)
        masks = [sum(1 << r for r in range(3) if replica[r, e]) for e in range(5)]
        assert pl.max_load == split_max_load(list(loads), masks, 3)
        assert (pl.tokens.sum(axis=0) == loads).all()
        assert not pl.tokens[~replica].any()


# ---- the pipeline on random instances ----


@st.composite
def layers(draw):
    experts = draw(st.integers(3, 40))
    ranks = draw(st.integers(2, 8))
    slots = draw(st.integers(max(1, -(-experts // ranks)), max(1, -(-experts // ranks)) + 3))
    replicas = draw(st.integers(0, min(ranks * slots - experts, experts * (ranks - 1))))
    loads = draw(st.lists(st.integers(0, 400), min_size=experts, max_size=experts))
    return np.array(loads), ranks, slots, replicas


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers())
def test_never_worse_than_greedy_nor_below_the_bound(layer):
    loads, ranks, slots, replicas = layer
    res = solve_layer(loads, ranks, slots, replicas, time_limit_s=0.3)
    greedy = greedy_placement(np.sort(loads)[::-1], ranks, slots, replicas)
    assert res.greedy_max_load == greedy.max_load
    assert res.bound <= res.max_load <= res.greedy_max_load
    assert res.max_load >= lower_bound(loads, ranks, slots, replicas)
    assert not validate_placement(res.placement, loads, ranks, slots, replicas)
    assert res.placement.replica.sum() == len(loads) + replicas  # the budget is padded
    if res.status == Status.OPTIMAL:
        assert res.gap == 0


def test_large_layer_reaches_the_bound_fast():
    rng = np.random.default_rng(0)
    loads = rng.multinomial(32768, rng.dirichlet(np.ones(256)))
    res = solve_layer(loads, 32, 9, 32, time_limit_s=2.0)
    assert res.max_load <= res.bound * 1.01
    assert res.max_load < res.greedy_max_load


# ---- tables ----


def _check_tables(summary, placement, loads, ranks, slots, replicas):
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert list(placement.columns) == PLACEMENT_COLUMNS
    assert len(summary) == len(loads)
    for layer, rows in placement.groupby("layer"):
        w = loads[layer]
        shares = rows.groupby("expert")["replica_share"].sum()
        assert sorted(shares.index) == list(range(len(w)))  # every expert placed
        assert np.allclose(shares.to_numpy(), 1.0)
        assert rows.groupby("rank").size().max() <= slots
        assert not rows.duplicated(["rank", "expert"]).any()
        assert len(rows) == len(w) + replicas
        rank_load = (rows["replica_share"] * w[rows["expert"]]).groupby(rows["rank"]).sum()
        row = summary.loc[summary["layer"] == layer].iloc[0]
        assert rank_load.max() == pytest.approx(row["max_load"], rel=TOKEN_TOL)
        assert row["mean_load"] == pytest.approx(w.sum() / ranks)
        assert row["lower_bound"] <= row["max_load"] <= row["greedy_max_load"]
        assert row["status"] in {s.value for s in Status}
        optimal = row["status"] == "optimal"
        expected_gap = 0.0 if optimal else 1 - row["lower_bound"] / row["max_load"]
        assert row["gap"] == pytest.approx(expected_gap)


def test_place_layers_tables_are_valid(tmp_path):
    rng = np.random.default_rng(3)
    loads = rng.integers(0, 50, size=(4, 12))
    loads[2] = loads[0][::-1]  # same multiset as layer 0: solved once, relabelled
    summary, placement = place_layers(
        loads, ranks=4, slots_per_rank=4, replicas=3, workers=1, time_limit_s=1.0
    )
    _check_tables(summary, placement, loads, 4, 4, 3)
    assert summary.loc[2, "max_load"] == summary.loc[0, "max_load"]
    # The file round trip is what users see.
    path = tmp_path / "placement.csv"
    placement.to_csv(path, index=False)
    _check_tables(summary, pd.read_csv(path), loads, 4, 4, 3)


def test_process_pool_gives_the_same_tables():
    rng = np.random.default_rng(4)
    loads = rng.integers(1, 60, size=(3, 10))
    one = place_layers(loads, 3, 5, 2, workers=1, time_limit_s=2.0)
    two = place_layers(loads, 3, 5, 2, workers=2, time_limit_s=2.0)
    cols = ["layer", "max_load", "lower_bound", "greedy_max_load", "status"]
    pd.testing.assert_frame_equal(one[0][cols], two[0][cols])


def test_zero_load_expert_shares_are_defined():
    loads = np.array([[10, 0, 5, 0]])
    summary, placement = place_layers(loads, 2, 3, 1, workers=1)
    _check_tables(summary, placement, loads, 2, 3, 1)


def test_bad_problems_are_rejected():
    with pytest.raises(PlacementError, match="do not fit"):
        check_problem(np.array([1, 2, 3]), 1, 2, 0)
    with pytest.raises(PlacementError, match="one replica per expert per rank"):
        check_problem(np.array([1, 2]), 2, 4, 3)
    with pytest.raises(PlacementError, match="non-negative"):
        check_problem(np.array([1, -2]), 2, 4, 0)


# ---- node spread ----


def test_node_spread_objective_keeps_the_max_load():
    loads = np.array([40, 30, 8, 6, 5, 4, 3, 2])
    plain = solve_layer(loads, 4, 3, 4, time_limit_s=10)
    spread = solve_layer(loads, 4, 3, 4, time_limit_s=10, gpus_per_node=2)
    assert spread.status == Status.OPTIMAL
    assert spread.max_load == plain.max_load
    assert node_spread(spread.placement, 2) <= node_spread(plain.placement, 2)
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    grouped = solve_layer(loads, 4, 3, 4, time_limit_s=10, gpus_per_node=2, groups=groups)
    assert grouped.max_load == plain.max_load
    assert node_spread(grouped.placement, 2, groups) <= node_spread(plain.placement, 2, groups)


# ---- sizing helpers ----


def _model(experts=256, k=8) -> Model:
    return Model(
        name="toy-v3",
        num_layers=61,
        num_dense_layers=3,
        hidden_size=7168,
        num_routed_experts=experts,
        experts_per_token=k,
        num_shared_experts=1,
        moe_intermediate_size=2048,
        vocab_size=129280,
        attention="mla",
        num_attention_heads=128,
        q_lora_rank=1536,
        kv_lora_rank=512,
        qk_rope_head_dim=64,
        qk_nope_head_dim=128,
        v_head_dim=128,
    )


def test_default_slots_per_rank_from_memory():
    hw = Hardware(
        name="h800",
        fp8_tflops=1979,
        bf16_tflops=989,
        hbm_gb=80,
        hbm_tbps=3.35,
        scaleup_gbps=200,
        scaleout_gbps=50,
        gpus_per_node=8,
        scaleup_domain_gpus=8,
    )
    inst = Instance("toy", _model(), hw, Workload(tpot_ms=50, context_tokens=4096), Search())
    expert_bytes = 3 * 7168 * 2048
    expected = math.floor(80e9 * 0.9 / (58 * expert_bytes))
    assert default_slots_per_rank(inst) == expected == 28


def test_achieved_imbalance_matches_the_tables_and_caches():
    rng = np.random.default_rng(8)
    loads = rng.integers(1, 100, size=(3, 16))
    summary, _ = place_layers(loads, 4, 7, 4, workers=1)
    expected = float((summary["max_load"] / summary["mean_load"]).mean())
    assert achieved_imbalance(loads, 4, 4, 7, rel_gap=0.0) == pytest.approx(expected)
    assert achieved_imbalance(loads, 4, 4, 7) >= 1.0
    more = achieved_imbalance(loads, 4, 12, 7)  # more replicas never hurt
    assert more <= achieved_imbalance(loads, 4, 4, 7) + 1e-12


# ---- layering ----


@pytest.mark.parametrize(
    "module",
    [
        "formulations/placement.py",
        "formulations/placement_bounds.py",
        "formulations/placement_heuristics.py",
        "formulations/placement_split.py",
    ],
)
def test_formulations_do_not_import_solver(module):
    tree = ast.parse((REPO / module).read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n.split(".")[0] in ("solver", "pandas")]


def test_placement_dataclass_loads():
    pl = Placement(np.array([[True, False], [True, True]]), np.array([[3, 0], [1, 4]]))
    assert pl.rank_loads.tolist() == [3, 5]
    assert pl.max_load == 5
    assert pl.replica_counts.tolist() == [2, 1]
