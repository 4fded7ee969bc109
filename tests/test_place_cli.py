"""`afd-solver place` and `afd-solver imbalance`: contract keys, files, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import INSTANCES

from solver.cli import main
from solver.io.loader import load_instance
from solver.io.loads import load_expert_loads

GOOD = INSTANCES / "deepseek-v3-h800.toml"
SPEC = "zipf:s=1.1,seed=7,layers=3"


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_place_json_keys_and_written_placement(tmp_path, capsys):
    out_csv = tmp_path / "placement.csv"
    code, out, err = _run(
        capsys,
        "place",
        GOOD,
        "--loads",
        SPEC,
        "--ranks",
        32,
        "--replicas",
        8,
        "--format",
        "json",
        "--out",
        out_csv,
        "--workers",
        1,
    )
    assert code == 0, err
    rows = json.loads(out)
    keys = "layer ranks slots_per_rank replicas max_load mean_load lower_bound greedy_max_load"
    assert [list(r) for r in rows] == [[*keys.split(), "status", "gap", "solve_s"]] * 3
    placement = pd.read_csv(out_csv)
    assert list(placement.columns) == ["layer", "rank", "expert", "replica_share"]
    loads = load_expert_loads(SPEC, load_instance(GOOD).model)
    for row in rows:
        layer = placement[placement["layer"] == row["layer"]]
        assert row["ranks"] == 32 and row["replicas"] == 8
        assert len(layer) <= 256 + 8
        assert set(layer["expert"]) == set(range(256))
        shares = layer.groupby("expert")["replica_share"].sum()
        assert np.allclose(shares.to_numpy(), 1.0)
        assert layer.groupby("rank").size().max() <= row["slots_per_rank"]
        tokens = layer["replica_share"] * loads[row["layer"]][layer["expert"].to_numpy()]
        recomputed = tokens.groupby(layer["rank"]).sum().max()
        assert recomputed == pytest.approx(row["max_load"], abs=1.0)
        assert row["lower_bound"] <= row["max_load"] <= row["greedy_max_load"]


def test_place_table_and_bad_loads(tmp_path, capsys):
    code, out, _ = _run(capsys, "place", GOOD, "--loads", SPEC, "--workers", 1)
    assert code == 0 and "max/mean" in out and "mean over 3 layers" in out
    bad = tmp_path / "loads.csv"
    bad.write_text("layer,expert,tokens\n0,1,5\n0,300,7\n")
    code, _, err = _run(capsys, "place", GOOD, "--loads", bad)
    assert code == 2 and "line 3" in err and "Traceback" not in err
    code, _, err = _run(capsys, "place", GOOD)
    assert code == 2 and "no expert loads" in err


def test_imbalance_table(capsys):
    code, out, err = _run(capsys, "imbalance", GOOD, "--sigmas", "1,0.8", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    first = rows[0]
    assert first["sigma"] == 1.0
    for key in ("alpha_ep", "ep_program", "alpha_exact", "alpha_afd", "afd_program"):
        assert first[key] == pytest.approx(1.0)
    second = rows[1]
    assert second["alpha_afd"] <= second["alpha_exact"] <= 1
    assert 0 < second["afd_program"] <= 1 and 0 < second["ep_program"] <= 1
    code, _, err = _run(capsys, "imbalance", GOOD, "--sigmas", "1.5")
    assert code == 2 and "[0.001, 1]" in err
