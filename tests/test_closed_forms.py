"""The cost model reproduces the closed forms of docs/model.md §3, §8.4 and §13."""

from __future__ import annotations

import math

import pytest
from conftest import deepseek_v3, h800_paper, make_instance, standard_workload, superpod_paper

from formulations import closed_forms as cf
from formulations.attention import geometry
from formulations.costs import CostModel
from formulations.types import Workload


def test_stage_budget_matches_section_2():
    cm = CostModel.of(make_instance())
    # (50 ms * 1.7 - 15 ms) / (61 layers * 3 micro-batches)
    assert cm.stage_budget_s(3) == pytest.approx((0.085 - 0.015) / (61 * 3), rel=1e-12)
    assert cm.stage_budget_s(2) == pytest.approx(0.070 / 122, rel=1e-12)


def test_budget_non_positive_when_gap_eats_the_step():
    w = Workload(tpot_ms=10, context_tokens=4096, step_gap_ms=12)
    assert CostModel.of(make_instance(workload=w)).stage_budget_s(3) <= 0


def test_mla_geometry_matches_published_sizes():
    geo = geometry(deepseek_v3())
    # Latent KV: 512 + 64 elements per token per layer; at 32k context, 61 layers, FP8:
    # 1.15e9 bytes per sequence (Step-3 paper, arXiv 2507.19427, table of attention costs).
    assert geo.kv_elements_per_token == 576
    assert 32768 * 61 * 576 == pytest.approx(1.15e9, rel=5e-3)
    # Score + value FLOPs per cached token: 2 h (576) + 2 h (512).
    assert geo.score_flops_per_ctx == 2 * 128 * 576 + 2 * 128 * 512


@pytest.mark.parametrize("hardware,expected", [(h800_paper(), 0.331), (superpod_paper(), 0.655)])
def test_hfu_ceiling_matches_paper(hardware, expected):
    cm = CostModel.of(make_instance(hardware=hardware))
    ceiling = cf.hfu_ceiling(cm, list(range(1, 65)))
    assert ceiling.hfu == pytest.approx(expected, abs=5e-4)
    assert ceiling.limited_by == "scale-up"
    # The closed form 2 B_link M / FLOPS by hand.
    link = 160e9 if hardware.name == "h800" else 720e9
    assert ceiling.hfu == pytest.approx(2 * link * 2048 / (hardware.fp8_tflops * 1e12), rel=1e-9)


def test_hfu_ceiling_is_hbm_limited_when_best_layout_cannot_hold_experts():
    # Shrink HBM so that only many FFN nodes hold the experts: the scale-up bound N_F (1, 2)
    # no longer fits and the ceiling falls back to the scale-out regime.
    small = h800_paper().__class__(**{**h800_paper().__dict__, "hbm_gb": 30.0})
    cm = CostModel.of(make_instance(hardware=small))
    ceiling = cf.hfu_ceiling(cm, list(range(1, 65)))
    assert ceiling.limited_by == "HBM-limited"
    assert ceiling.hfu < 0.331 - 0.01
    assert ceiling.best_ffn_nodes is not None and ceiling.best_ffn_nodes > 2


def test_model_hfu_equals_closed_form_for_every_ffn_count():
    cm = CostModel.of(make_instance())
    for n in range(1, 65):
        assert cf.ffn_point(cm, n).hfu == pytest.approx(cf.hfu_closed_form(cm, n), rel=1e-9)


def test_ffn_regimes_of_deepseek_v3_on_h800():
    cm = CostModel.of(make_instance())
    points = {p.ffn_nodes: p for p in cf.ffn_regimes(cm, list(range(1, 65)))}
    expected = {n: "scale-up" for n in (1, 2)}
    expected.update({n: "stable" for n in range(3, 8)})
    expected.update({n: "dead-zone" for n in range(8, 32)})
    expected.update({n: "max-intensity" for n in range(32, 65)})
    assert {n: p.regime for n, p in points.items()} == expected
    # Scale-up bound exactly while K / N_F > B_up / B_out = 3.2.
    assert all((p.link == "scale-up") == (8 / n > 160 / 50) for n, p in points.items())
    # Stable: the intensity with fractional experts does not move.
    stable = [points[n].intensity_continuous for n in range(3, 8)]
    assert max(stable) == pytest.approx(min(stable), rel=1e-12)
    # Dead zone: pairs per FFN GPU stop growing, so HFU stays flat at its floor.
    dead = [points[n].tokens_per_rank for n in range(8, 65)]
    assert max(dead) == pytest.approx(min(dead), rel=1e-12)
    assert points[8].hfu == pytest.approx(2 * 50e9 * 2048 / 1979e12, rel=1e-9)
    # Max intensity from one expert per GPU on.
    assert points[31].experts_per_gpu == 2 and points[32].experts_per_gpu == 1


def test_superpod_has_no_dead_zone():
    cm = CostModel.of(make_instance(hardware=superpod_paper()))
    points = cf.ffn_regimes(cm, list(range(1, 40)))
    assert all(p.link == "scale-up" for p in points)


@pytest.mark.parametrize("sigma", [0.5, 0.75, 0.9, 1.0])
def test_alpha_forms(sigma):
    n_a, n_f = 10, 2
    assert cf.alpha_afd(sigma, n_a, n_f) <= cf.alpha_exact(sigma, n_a, n_f) + 1e-12
    assert cf.alpha_afd(sigma, n_a, n_f) <= 1 + 1e-12
    if float(sigma * n_a).is_integer():
        assert cf.alpha_afd(sigma, n_a, n_f) == pytest.approx(cf.alpha_exact(sigma, n_a, n_f))
    assert cf.alpha_ep(sigma, 3.0) <= 1 + 1e-12
    assert cf.alpha_ep(1.0, 3.0) == 1.0


def test_alpha_afd_example_from_model_md():
    # N_A = 10, N_F = 2, sigma = 0.75: the paper's (lam + 1) prefactor would exceed 1.
    value = cf.alpha_afd(0.75, 10, 2)
    assert value < 1
    assert value == pytest.approx(max(12 / 10 * 7 / 9, 12 / 10 * 8 / 10 * 7.5 / 8), rel=1e-12)
    assert math.isclose(cf.alpha_exact(0.5, 4, 4), 0.5 * 8 / 6)


def test_workload_fixture_is_the_paper_standard():
    w = standard_workload()
    assert (w.tpot_ms, w.mtp_acceptance, w.step_gap_ms, w.context_tokens) == (50, 1.7, 15, 4096)


def test_alpha_ceil_keeps_one_attention_unit_for_a_tiny_sigma():
    """sigma N_A below the rounding guard still keeps one unit: (N_A+N_F)/N_A * 1/(1+N_F) * sigma
    N_A, by hand for sigma = 1e-15, N_A = 4, N_F = 2: 6/4 * 1/3 * 4e-15 = 2e-15."""
    from formulations.closed_forms import alpha_ceil

    assert alpha_ceil(1e-15, 4, 2) == pytest.approx(2e-15, rel=1e-12)
