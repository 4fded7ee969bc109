"""Sweeps of real solves, crossover search, sweep plots and the sweep/crossover CLI."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from solver import cli
from solver.analysis.crossover import find_crossovers
from solver.analysis.engine import SweepInterrupted
from solver.analysis.store import ResultStore
from solver.analysis.sweep import run_sweep
from solver.api import solve
from solver.report import records

ROOT = Path(__file__).resolve().parents[1]
INSTANCE = str(ROOT / "instances" / "deepseek-v3-h800.toml")
# Small search spaces keep one point at a few tens of ms.
SMALL = {
    "search.attention_nodes": {"min": 1, "max": 8},
    "search.ffn_nodes": {"min": 1, "max": 4},
    "search.nodes": {"min": 1, "max": 16},
}
SMALL_SET = [
    "--set",
    "search.attention_nodes={min=1,max=8}",
    "--set",
    "search.ffn_nodes={min=1,max=4}",
    "--set",
    "search.nodes={min=1,max=16}",
]
GRID = ["workload.tpot_ms=40,50,70", "hardware.scaleout_gbps=25,50"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def without_timing(df: pd.DataFrame) -> pd.DataFrame:
    """Everything but the wall-clock column, which differs run to run."""
    return df.drop(columns=[c for c in df.columns if c == "solve_s"]).reset_index(drop=True)


def assert_png(path: Path) -> None:
    assert path.is_file(), f"{path} missing"
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_MAGIC)


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("grid") / "out"
    return run_sweep(INSTANCE, GRID, workers=2, out_dir=out, progress=False, extra_overrides=SMALL)


# ---- sweep results ---------------------------------------------------------------------------


def test_sweep_equals_individual_solves(grid_sweep: Any) -> None:
    table = grid_sweep.table
    assert grid_sweep.n_points == 6 and grid_sweep.n_failed == 0
    # Parameters first, then the solve columns; --set keys are not columns.
    assert list(table.columns[:2]) == ["workload.tpot_ms", "hardware.scaleout_gbps"]
    assert not set(SMALL) & set(table.columns)
    expected = []
    for tpot_ms in (40, 50, 70):
        for gbps in (25, 50):
            point = {"workload.tpot_ms": tpot_ms, "hardware.scaleout_gbps": gbps}
            rows = records(solve(INSTANCE, overrides={**SMALL, **point}))
            expected += [{**point, **row} for row in rows]
    pd.testing.assert_frame_equal(
        without_timing(table), without_timing(pd.DataFrame(expected)), check_dtype=False
    )
    on_disk = pd.read_csv(grid_sweep.out_dir / "results.csv")
    assert list(on_disk.columns) == list(table.columns) and len(on_disk) == 12


def test_grid_sweep_writes_phase_and_ratio_plots(grid_sweep: Any) -> None:
    stem = "hardware.scaleout_gbps"
    names = {p.name for p in grid_sweep.plots}
    assert names == {f"phase_workload.tpot_ms__{stem}.png", f"ratio_workload.tpot_ms__{stem}.png"}
    for path in grid_sweep.plots:
        assert_png(path)


def test_one_at_a_time_plots_each_key(tmp_path: Path) -> None:
    result = run_sweep(
        INSTANCE,
        ["workload.tpot_ms=5,50,70,90", "hardware.hbm_gb=40,80"],
        workers=1,
        out_dir=tmp_path,
        one_at_a_time=True,
        progress=False,
        extra_overrides=SMALL,
    )
    # Each key alone: 4 + 2 points; TPOT 5 ms leaves no budget (infeasible, a gap).
    assert result.n_points == 6 and result.n_failed == 0
    assert (result.table["status"] == "infeasible").sum() == 2
    assert {p.name for p in result.plots} == {"workload.tpot_ms.png", "hardware.hbm_gb.png"}
    for path in result.plots:
        assert_png(path)


def test_three_grid_keys_plot_every_pair(tmp_path: Path) -> None:
    varies = ["workload.tpot_ms=50,70", "hardware.hbm_gb=40,80", "search.unit_gpus=8"]
    result = run_sweep(
        INSTANCE,
        varies,
        workers=1,
        out_dir=tmp_path,
        progress=False,
        extra_overrides={**SMALL, "search.architectures": ["ep"]},
    )
    assert len(result.plots) == 6  # 3 pairs x (phase, ratio)
    for path in result.plots:
        assert_png(path)


# ---- killed, resumed, distributed ------------------------------------------------------------


def _stored(out: Path) -> int:
    try:
        with sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM points").fetchone()[0])
    except sqlite3.Error:
        return 0  # not created yet


def _sweep_cmd(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "solver.cli",
        "sweep",
        INSTANCE,
        "--vary",
        "workload.tpot_ms=30:85:5",
        "--workers",
        "2",
        "--out",
        str(out),
        *extra,
    ]


def test_killed_sweep_resumes_to_the_uninterrupted_table(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    # Full default search space: ~0.15 s per point, 12 points, so the kill lands mid-way.
    child = subprocess.Popen(
        _sweep_cmd(out),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while _stored(out) < 3:
            assert child.poll() is None, "sweep ended before it could be killed"
            assert time.monotonic() < deadline, "sweep stored nothing in 60 s"
            time.sleep(0.02)
        os.killpg(child.pid, signal.SIGKILL)  # the CLI and its workers, no clean-up
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert 3 <= _stored(out) < 12
    done = subprocess.run(_sweep_cmd(out, "--resume"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "12 points" in done.stdout
    fresh = run_sweep(
        INSTANCE,
        ["workload.tpot_ms=30:85:5"],
        workers=2,
        out_dir=tmp_path / "fresh",
        progress=False,
        make_plots=False,
    )
    resumed = pd.read_csv(out / "results.csv")
    pd.testing.assert_frame_equal(
        without_timing(resumed), without_timing(pd.read_csv(fresh.out_dir / "results.csv"))
    )
    with ResultStore(out) as store:
        assert store.count() == 12 and len(store.done_keys()) == 12
    assert len(resumed) == 24


def test_dask_cluster_and_local_pool_give_the_same_table(tmp_path: Path) -> None:
    from distributed import LocalCluster

    local = run_sweep(
        INSTANCE,
        GRID,
        workers=2,
        out_dir=tmp_path / "local",
        progress=False,
        extra_overrides=SMALL,
        make_plots=False,
    )
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
    ) as cluster:
        remote = run_sweep(
            INSTANCE,
            GRID,
            scheduler=cluster.scheduler_address,
            out_dir=tmp_path / "dask",
            progress=False,
            extra_overrides=SMALL,
            make_plots=False,
        )
    pd.testing.assert_frame_equal(without_timing(remote.table), without_timing(local.table))


def test_resume_refuses_other_set_overrides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "sweep",
        INSTANCE,
        "--vary",
        "workload.tpot_ms=50",
        "--workers",
        "1",
        "--out",
        str(tmp_path),
        "--arch",
        "ep",
        *SMALL_SET,
    ]
    assert cli.main(args) == 0
    assert cli.main([*args, "--resume", "--set", "workload.step_gap_ms=10"]) == 2
    assert "pick another --out" in capsys.readouterr().err
    assert cli.main(args) == 2  # stored results and no --resume
    assert "--resume" in capsys.readouterr().err


# ---- CLI -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vary,message",
    [
        ("workload.tpotms=25,50", "workload.tpotms: unknown field"),
        ("workload.tpot_ms=-5,50", "workload.tpot_ms = -5 is out of range"),
        ("workload.tpot_ms=fast", "must be a number"),
        ("search.unit_gpus=0,8", "search.unit_gpus = 0 is out of range"),
        ("model.moe_intermediate_size=2048.5", "must be an integer"),
        ("nosuch.field=1", "section 'nosuch'"),
        ("workload.tpot_ms", "expected KEY=SPEC"),
        ("workload.tpot_ms=10:20", "START:STOP:STEP"),
        ("workload.tpot_ms=log:0:10:3", "START > 0"),
    ],
)
def test_bad_vary_exits_2_before_solving(
    vary: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never"
    assert cli.main(["sweep", INSTANCE, "--vary", vary, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert len(err.splitlines()) <= 3  # one clear line per bad value, not one per point
    assert not out.exists()


def test_ctrl_c_prints_how_to_resume(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise SweepInterrupted(7, 20, "somewhere")

    monkeypatch.setattr("solver.analysis.sweep.run_sweep", interrupted)
    assert cli.main(["sweep", INSTANCE, "--vary", "workload.tpot_ms=50"]) == 130
    assert "interrupted: 7 of 20 points stored; rerun with --resume" in capsys.readouterr().err


def test_sweep_json_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli.main(
            [
                "sweep",
                INSTANCE,
                "--vary",
                "workload.tpot_ms=40,50",
                "--workers",
                "1",
                "--arch",
                "ep",
                "--out",
                str(tmp_path),
                "--format",
                "json",
                *SMALL_SET,
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [(r["workload.tpot_ms"], r["architecture"]) for r in rows] == [(40, "ep"), (50, "ep")]


# ---- crossover -------------------------------------------------------------------------------


def advantage(value: float, key: str, overrides: dict[str, Any] | None = None) -> float:
    """AFD minus EP objective (tokens/s per GPU); an infeasible side counts as -inf."""
    df = solve(INSTANCE, overrides={**(overrides or {}), key: value})
    obj = {
        r["architecture"]: (r["objective"] if r["status"] in ("optimal", "feasible") else -math.inf)
        for r in records(df)
    }
    return obj["afd"] - obj["ep"]


def test_crossover_brackets_a_sign_change() -> None:
    # Less HBM caps EP's KV cache harder than AFD's (every EP GPU holds experts and KV):
    # AFD wins below about 28.6 GB, EP above; below about 21 GB neither fits.
    result = find_crossovers(INSTANCE, "hardware.hbm_gb", 24, 40)
    assert result.crossings and result.winner_everywhere is None
    for c in result.crossings:
        assert c.upper - c.lower < 16 / 1000
        below, above = advantage(c.lower, "hardware.hbm_gb"), advantage(c.upper, "hardware.hbm_gb")
        assert math.copysign(1, below) != math.copysign(1, above)
        assert c.winner_below == ("afd" if below > 0 else "ep")
        assert c.winner_above == ("afd" if above > 0 else "ep")
    first = result.crossings[0]
    assert (first.winner_below, first.winner_above) == ("afd", "ep")


def test_crossover_integer_key_stops_at_adjacent_integers() -> None:
    result = find_crossovers(
        INSTANCE, "search.attention_nodes", 1, 32, overrides={"hardware.hbm_gb": 26}
    )
    assert result.crossings
    for c in result.crossings:
        assert c.upper - c.lower == 1 and float(c.lower).is_integer()
        signs = [
            advantage(int(x), "search.attention_nodes", {"hardware.hbm_gb": 26}) > 0
            for x in (c.lower, c.upper)
        ]
        assert signs[0] != signs[1]


def test_crossover_winner_everywhere_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli.main(
            [
                "crossover",
                INSTANCE,
                "--vary",
                "workload.tpot_ms=20:40",
                "--grid",
                "5",
                "--format",
                "json",
                *SMALL_SET,
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert {"key", "lo", "hi", "crossings", "winner_everywhere"} <= set(out)
    assert out["crossings"] == [] and out["winner_everywhere"] == "ep"
    assert 1 < out["min_advantage"] <= out["max_advantage"]
    assert all(advantage(x, "workload.tpot_ms", SMALL) < 0 for x in (20, 40))


@pytest.mark.parametrize(
    "vary,message",
    [
        ("hardware.hbm_gb=80:40", "must be below HI"),
        ("hardware.hbmgb=40:80", "hardware.hbmgb: unknown field"),
        ("hardware.hbm_gb=40", "expected KEY=LO:HI"),
        ("search.unit_gpus=1.5:8", "whole LO and HI"),
    ],
)
def test_crossover_bad_input_exits_2(
    vary: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["crossover", INSTANCE, "--vary", vary]) == 2
    assert message in capsys.readouterr().err
