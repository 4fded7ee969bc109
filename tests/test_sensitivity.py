"""Shadow prices from the LP with integers fixed equal finite differences of that LP's optimum."""

from __future__ import annotations

import pytest
from conftest import SCENARIOS, feasible_pairs

from formulations import sensitivity as sens
from solver import solve
from solver.backends import make_backend
from solver.io.loader import load_instance
from solver.optimize import optimize


def _lp_optimum(inst, d) -> float:
    sol = make_backend("highs").solve(sens.to_program(sens.linear_model(inst, d)), 30)
    assert str(sol.status) == "optimal"
    return float(sol.objective)


@pytest.mark.parametrize(("path", "arch"), feasible_pairs(("afd", "ep", "tp")))
def test_shadow_prices_match_finite_differences(path, arch):
    inst = load_instance(path)
    d = optimize(inst, arch).deployment
    lm = sens.linear_model(inst, d)
    sol = make_backend("highs").solve(sens.to_program(lm), 30)
    values = dict(zip(lm.variables, sol.values, strict=True))
    prices = sens.shadow_prices(inst, d, values, sol.duals)
    assert any(abs(v) > 1e-6 for v in prices.values()), "some resource must bind"
    base = _lp_optimum(inst, d)
    for resource, (section, field) in sens.RESOURCES.items():
        step = getattr(getattr(inst, section), field) * 1e-5
        up = _lp_optimum(sens.perturbed(inst, resource, step), d)
        down = _lp_optimum(sens.perturbed(inst, resource, -step), d)
        # A smooth stretch: both one-sided slopes agree, and the price equals them.
        right, left = (up - base) / step, (base - down) / step
        scale = max(1.0, abs(right))
        assert right == pytest.approx(left, abs=1e-3 * scale), (resource, "kink")
        assert prices[resource] == pytest.approx((up - down) / (2 * step), abs=1e-3 * scale), (
            resource
        )


def test_the_lp_bounds_the_integer_optimum_and_rounds_down_to_it():
    """With the layout fixed the own pace grows with n (docs/model.md §12), so the LP's
    continuous n* is the largest that fits and the integer optimum is the better of floor(n*)
    and the multiple of N_BO below it; the LP optimum bounds it from above."""
    import dataclasses

    from formulations.costs import CostModel
    from formulations.metrics import metrics
    from formulations.types import ARCHITECTURES

    inst = load_instance(SCENARIOS[0], {"search.architectures": list(ARCHITECTURES)})
    for arch in ARCHITECTURES:
        out = optimize(inst, arch)
        d = out.deployment
        lm = sens.linear_model(inst, d)
        sol = make_backend("highs").solve(sens.to_program(lm), 30)
        values = dict(zip(lm.variables, sol.values, strict=True))
        n_lp = sens.sequences_at_optimum(lm, values)
        assert sol.objective >= out.objective * (1 - 1e-9)
        cm = CostModel.for_deployment(inst, d)
        floor = int(n_lp + 1e-9)
        # Own pace grows with n, so one more sequence than the LP's n* bounds the LP from above
        # (TP's LP counted t GPUs as one and was t times too high).
        above = metrics(cm, dataclasses.replace(d, sequences_per_gpu=floor + 1))
        assert sol.objective <= above.tokens_per_s_per_gpu * (1 + 1e-9), arch
        rounded = [floor, floor - floor % d.micro_batches]
        own = [
            metrics(cm, dataclasses.replace(d, sequences_per_gpu=n)).tokens_per_s_per_gpu
            for n in rounded
        ]
        assert max(own) == pytest.approx(out.objective, rel=1e-9)
        assert d.sequences_per_gpu in rounded


def test_shadow_columns_extend_the_solve_table():
    df = solve(SCENARIOS[0], shadow_prices=True)
    plain = list(solve(SCENARIOS[0]).columns)
    assert list(df.columns[: len(plain)]) == plain
    assert "shadow_hbm_gb" in df.columns and "lp_binding" in df.columns
    assert df["lp_binding"].notna().all()
