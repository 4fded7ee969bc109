"""Issue 14's "fix on the way": shipped fleets, `validate` of a fleet, plan.png, the size table's
columns and the help of `--time-limit`."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import tomllib
from pathlib import Path

import matplotlib.figure
import pandas as pd
import pytest

from solver import columns
from solver.cli import main
from solver.sizing import output
from solver.sizing.tables import PLAN_COLUMNS, frame

ROOT = Path(__file__).resolve().parents[1]


def _shipped(rel: str, package_data: dict[str, list[str]]) -> bool:
    """Whether pyproject's package data puts `instances/<rel>` into the wheel."""
    for package, patterns in package_data.items():
        if not package.startswith("solver.instances"):
            continue
        folder = package.removeprefix("solver.instances").strip(".").replace(".", "/")
        if folder and not rel.startswith(folder + "/"):
            continue
        inner = rel.removeprefix(folder + "/") if folder else rel
        for pattern in patterns:
            parts, want = inner.split("/"), pattern.split("/")
            if len(parts) == len(want) and all(map(fnmatch.fnmatch, parts, want)):
                return True
    return False


def test_every_shipped_instance_file_is_in_the_wheel():
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    files = subprocess.run(
        ["git", "ls-files", "instances"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert any(f.startswith("instances/fleets/") for f in files)
    missing = [
        f for f in files if not _shipped(f.removeprefix("instances/"), setup["package-data"])
    ]
    assert not missing


@pytest.mark.parametrize("name", ["mixed", "superpod"])
def test_validate_recognises_a_fleet(name, capsys):
    path = ROOT / "instances" / "fleets" / f"{name}.toml"
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok: {path}: fleet {name}: 3 workloads")
    assert "missing required field" not in out


def test_validate_reports_a_bad_fleet_as_a_fleet(tmp_path, capsys):
    text = (ROOT / "instances" / "fleets" / "mixed.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("price_per_gpu_hour = 2.79", "price_per_gpu_hour = -1"))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "hardware[0].price_per_gpu_hour = -1 is out of range" in err
    assert "model: missing required field" not in err


def _mixed_plan() -> pd.DataFrame:
    """hardware.csv of this plan: h20 104 GPUs, h200 16 (the issue's superpod-like picture)."""
    afd = {"architecture": "afd", "nodes": None, "sequences_per_gpu": 64, "tpot_ms": 40.0}
    rows = [
        # 2 replicas of AFD with 6 attention nodes on h20 and 1 FFN node on h200: 56 GPUs each.
        {**afd, "workload": "chat", "attention_hardware": "h20", "ffn_hardware": "h200",
         "attention_nodes": 6, "ffn_nodes": 1, "replicas": 2, "gpus": 112,
         "tokens_per_s": 2e5, "cost_per_hour": 100.0},
        {**afd, "workload": "agent", "attention_hardware": "h20", "ffn_hardware": "h20",
         "attention_nodes": 0, "ffn_nodes": 1, "replicas": 1, "gpus": 8,
         "tokens_per_s": 1e4, "cost_per_hour": 10.0},
    ]  # fmt: skip
    return frame(rows, PLAN_COLUMNS)


def _drawn(monkeypatch, plan: pd.DataFrame, hardware: list[str], tmp_path):
    figures = []
    real = matplotlib.figure.Figure.savefig

    def keep(fig, *args, **kwargs):
        fig.canvas.draw()
        figures.append((fig, fig.canvas.get_renderer()))
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    output.plot_plan(plan, hardware, tmp_path / "plan.png")
    return figures[0]


def test_plot_puts_each_pools_gpus_on_its_own_hardware(monkeypatch, tmp_path):
    fig, _ = _drawn(monkeypatch, _mixed_plan(), ["h20", "h200"], tmp_path)
    ax = fig.axes[0]
    heights = {0: 0.0, 1: 0.0}
    for bar in ax.patches:
        heights[round(bar.get_x() + bar.get_width() / 2)] += bar.get_height()
    assert heights == {0: 96 + 8, 1: 16}


def test_plot_title_is_whole_and_the_legend_covers_no_bar(monkeypatch, tmp_path):
    fig, renderer = _drawn(monkeypatch, _mixed_plan(), ["gb200-nvl72", "b200"], tmp_path)
    ax = fig.axes[0]
    page = fig.bbox
    title = ax.title.get_window_extent(renderer)
    assert page.x0 <= title.x0 and title.x1 <= page.x1 and title.y1 <= page.y1
    legend = ax.get_legend().get_window_extent(renderer)
    assert legend.x1 <= page.x1
    for bar in ax.patches:
        assert not legend.overlaps(bar.get_window_extent(renderer))


def test_size_table_headers_mean_what_solves_mean():
    """A header the size table shares with solve's table names the same quantity."""
    plan = _mixed_plan()
    header = output.plan_lines(plan)[0].split()
    meaning = {c.header: c.name for c in columns._ALL if c.header}
    shown = {"N_A": "attention_nodes", "N_F": "ffn_nodes", "GPUs": "gpus", "tok/s": "tokens_per_s"}
    shown |= {"n/GPU": "sequences_per_gpu", "TPOT": "tpot_ms", "b": "sequences_per_gpu"}
    for label in header:
        if label in meaning and label in shown:
            assert meaning[label] == shown[label], label


@pytest.mark.parametrize("command", ["place", "size"])
def test_time_limit_help_says_it_bounds_the_whole_command(command):
    text = subprocess.run(
        [sys.executable, "-m", "solver.cli", command, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    flat = " ".join(text.split())
    part = flat[flat.index("--time-limit S wall") :][:300]
    assert part.startswith("--time-limit S wall-time limit of the whole command")


def test_solving_several_files_on_a_dask_cluster(tmp_path, capsys, monkeypatch):
    """The workers are checked on the files they solve, not on the working directory."""
    from cli_helpers import run, scenario
    from distributed import LocalCluster

    import solver

    first, second = scenario(tmp_path, name="a.toml"), scenario(tmp_path, name="b.toml")
    monkeypatch.chdir(tmp_path)
    with LocalCluster(
        n_workers=1, processes=True, threads_per_worker=1, dashboard_address=":0"
    ) as cluster:
        table = solver.solve(
            ["a.toml", "b.toml"], scheduler=cluster.scheduler_address, architectures=["ep"]
        )
        assert list(table["instance"]) == ["a.toml", "b.toml"]
        assert set(table["status"]) == {"optimal"}
        code, out, err = run(
            capsys, "solve", first, second, "--arch", "ep", "--scheduler", cluster.scheduler_address
        )
        assert code == 0, err
        assert str(first) in out and str(second) in out


def test_place_layers_share_the_time_limit():
    """58 layers on 2 workers run in 29 rounds: each layer gets a 29th of the whole limit."""
    from solver.cli.placement import layer_limit_s

    assert layer_limit_s(None, 58, 2) == 2.0  # no limit given: 2 s per layer, as before
    assert layer_limit_s(29.0, 58, 2) == pytest.approx(1.0)
    assert layer_limit_s(29.0, 1, 8) == pytest.approx(29.0)
    assert layer_limit_s(30.0, 3, 2) == pytest.approx(15.0)
