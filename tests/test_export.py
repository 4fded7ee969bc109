"""Exported .lp/.mps files solve to the same optimum as the program that wrote them."""

from __future__ import annotations

import highspy
import pytest
from test_fleet import SEEDS, random_fleet

from formulations.fleet import build_fleet_program
from formulations.program import IntegerProgram
from solver.backends import make_backend
from solver.backends.export import export_solve_program, stem, write_program


def highs_objective(path) -> float:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return h.getInfo().objective_function_value


@pytest.mark.parametrize("seed", SEEDS[:6])
def test_fleet_program_mps_solved_by_highs_directly(tmp_path, seed):
    prob, _ = build_fleet_program(random_fleet(seed, inventories=False))
    expected = make_backend("highs").solve(prob, 30).objective
    lp, mps = write_program(prob, tmp_path, "fleet")
    assert (lp.suffix, mps.suffix) == (".lp", ".mps")
    assert highs_objective(mps) == pytest.approx(expected)
    assert highs_objective(lp) == pytest.approx(expected)


def test_maximisation_and_objective_constant_survive(tmp_path):
    prob = IntegerProgram("ratio step", maximize=True)
    a = prob.add_var("units[0]", 0, 5)
    b = prob.add_var("batch-size", 0, 7.5, integer=False)
    prob.add_constraint({a: 2, b: 1}, hi=9, family="cap", name="cap[a, b]")
    prob.add_constraint({a: 1, b: -1}, lo=-3, hi=3, family="range", name="range")
    prob.set_objective({a: 3, b: 2}, constant=-4.5)
    expected = make_backend("highs").solve(prob, 10).objective
    paths = export_solve_program(tmp_path, "instances/deepseek-v3-h800.toml", "afd", prob)
    assert [p.name for p in paths] == ["deepseek-v3-h800.afd.lp", "deepseek-v3-h800.afd.mps"]
    for path in paths:
        assert highs_objective(path) == pytest.approx(expected)
    text = paths[1].read_text().splitlines()
    assert text[0].startswith("NAME") and text[1] == "OBJSENSE"


def test_refuses_to_overwrite_without_force(tmp_path):
    prob, _ = build_fleet_program(random_fleet(SEEDS[0]))
    write_program(prob, tmp_path, "x")
    with pytest.raises(FileExistsError):
        write_program(prob, tmp_path, "x", force=False)
    assert stem("deepseek v3 (h800)", "ep") == "deepseek-v3--h800.ep"
