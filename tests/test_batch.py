"""`solver.facade.solve_many`: many instance files on the sweep engine, one table in input order."""

from __future__ import annotations

import pytest
from conftest import INSTANCES

from solver.facade import solve, solve_many

SMALL = {"search.nodes": 4, "search.attention_nodes": 2, "search.ffn_nodes": 2}


@pytest.mark.parametrize("workers", [1, 2])
def test_rows_in_input_order_with_errors_isolated(tmp_path, workers):
    bad = tmp_path / "bad.toml"
    bad.write_text((INSTANCES / "step3-h800.toml").read_text() + "\nbogus = 1\n")
    paths = [
        str(INSTANCES / "deepseek-v3-h800.toml"),
        str(bad),
        "missing.toml",
        str(INSTANCES / "kimi-k2-h20.toml"),
        str(INSTANCES / "deepseek-v3-h800.toml"),
    ]
    df = solve_many(paths, workers=workers, overrides=SMALL, progress=False)
    assert df.columns[0] == "instance"
    assert (
        list(df["instance"])
        == [paths[0]] * 2 + [paths[1], paths[2]] + [paths[3]] * 3 + [paths[4]] * 2
    )
    errors = df[df["status"] == "error"]
    assert list(errors["instance"]) == [paths[1], paths[2]]
    assert "bogus: unknown field" in errors.iloc[0]["binding"]
    assert "file not found" in errors.iloc[1]["binding"]
    one = solve(paths[3], overrides=SMALL)
    got = df[df["instance"] == paths[3]].reset_index(drop=True)
    assert list(got["architecture"]) == list(one["architecture"])
    assert list(got["status"]) == list(one["status"])
    assert list(got["tokens_per_s"].fillna(-1)) == pytest.approx(
        list(one["tokens_per_s"].fillna(-1))
    )
    assert str(df["gpus"].dtype) == "Int64"
