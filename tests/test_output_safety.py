"""Output paths that lead elsewhere (issue 17): links, devices, --force everywhere, and every
output path checked before any solving."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_helpers import GOOD, SWEEP, assert_clean, run, scenario
from conftest import INSTANCES

from solver.errors import InputError
from solver.io.outputs import check_out_dir, check_out_file, replacing

FLEET = INSTANCES / "fleets" / "mixed.toml"


@pytest.fixture
def no_solving(monkeypatch):
    """Any solve is a failure: the command must refuse its output path first."""

    def boom(*args, **kwargs):
        raise AssertionError("solved before checking the output path")

    import solver.analysis.pareto as pareto
    import solver.api as api
    import solver.sizing.size as sizing

    monkeypatch.setattr(pareto, "pareto", boom)
    monkeypatch.setattr(api, "_solve_instance", boom)
    monkeypatch.setattr(sizing, "compute_frontiers", boom)


def _link(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """`tmp_path/out/name` -> `tmp_path/outside/target`; returns (out dir, target)."""
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    target = outside / "target"
    (out / name).symlink_to(target)
    return out, target


@pytest.mark.parametrize(
    "argv, name",
    [
        (["pareto", GOOD, "--out"], "pareto.csv"),
        (["pareto", GOOD, "--out"], "pareto.png"),
        (["size", FLEET, "--out"], "plan.csv"),
        (["size", FLEET, "--export"], "mixed.fleet.mps"),
        (["solve", GOOD, "--export"], "deepseek-v3-h800.ep.level1.lp"),
        (["reproduce", "--only", "ffn_regimes", "--out"], "ffn_regimes.csv"),
        (["sweep", GOOD, *SWEEP, "--out"], "results.sqlite"),
        (["sweep", GOOD, *SWEEP, "--out"], "results.csv"),
        (["launch", GOOD, "--engine", "manifest", "--out"], "manifest.json"),
    ],
)
@pytest.mark.parametrize("force", [False, True])
def test_a_link_inside_the_output_directory_never_leads_writes_elsewhere(
    tmp_path, capsys, no_solving, argv, name, force
):
    out, target = _link(tmp_path, name)
    code, _, err = run(capsys, *argv, out, *(["--force"] if force else []))
    assert code == 2, err
    assert_clean(err)
    assert "symbolic link" in err and name in err
    assert not target.exists() and (out / name).is_symlink()


def test_a_device_is_never_replaced(capsys):
    argv = ["place", GOOD, "--loads", "zipf:layers=1", "--out", "/dev/null", "--force"]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "not a regular file" in err
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


@pytest.mark.parametrize(
    "argv",
    [
        ["pareto", GOOD, "--out", ""],
        ["size", FLEET, "--out", ""],
        ["size", FLEET, "--export", ""],
        ["solve", GOOD, "--export", ""],
        ["place", GOOD, "--loads", "zipf:layers=1", "--out", ""],
        ["sweep", GOOD, *SWEEP, "--out", ""],
        ["reproduce", "--out", ""],
        ["calibrate", INSTANCES / "measurements" / "h800-example.csv", "--hardware", "h800"],
    ],
)
def test_an_empty_output_path_is_refused_not_ignored(capsys, no_solving, argv):
    if argv[0] == "calibrate":
        argv = [*argv, "--out", ""]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "empty path" in err or "ending in .toml" in err, err
    assert_clean(err)


def test_solve_export_needs_force_to_replace_and_is_checked_first(tmp_path, capsys):
    export = tmp_path / "programs"
    argv = ["solve", GOOD, "--arch", "ep", "--export", export]
    assert run(capsys, *argv)[0] == 0
    written = sorted(p.name for p in export.iterdir())
    assert written and all(n.startswith("deepseek-v3-h800.ep.") for n in written)
    stale = export / "deepseek-v3-h800.ep.level99.lp"
    stale.write_text("from an earlier run")
    code, out, err = run(capsys, *argv)
    assert code == 2 and "would overwrite" in err and "--force" in err and out == ""
    code, _, err = run(capsys, *argv, "--force")
    assert code == 0, err
    assert sorted(p.name for p in export.iterdir()) == written  # the stale program is gone
    other = tmp_path / "other.lp"  # another instance's programs are left alone
    (export / other.name).write_text("mine")
    assert run(capsys, *argv, "--force")[0] == 0 and (export / other.name).exists()


def test_size_outputs_are_checked_before_the_frontiers(tmp_path, capsys, no_solving):
    out = tmp_path / "o"
    out.mkdir()
    (out / "plan.csv").write_text("an earlier plan")
    code, _, err = run(capsys, "size", FLEET, "--out", out)
    assert code == 2 and "would overwrite plan.csv" in err
    export = tmp_path / "e"
    export.mkdir()
    (export / "mixed.fleet.lp").write_text("an earlier program")
    code, _, err = run(capsys, "size", FLEET, "--export", export)
    assert code == 2 and "would overwrite mixed.fleet.lp" in err


def test_pareto_outputs_are_checked_before_the_frontier(tmp_path, capsys, no_solving):
    out = tmp_path / "o"
    out.mkdir()
    (out / "pareto.png").write_text("an earlier plot")
    code, _, err = run(capsys, "pareto", GOOD, "--out", out)
    assert code == 2 and "would overwrite pareto.png" in err


def test_replacing_refuses_a_link_planted_after_the_checks(tmp_path):
    out = check_out_dir(tmp_path / "o", "--out", ["a.csv"], force=False)
    (out / "a.csv").symlink_to(tmp_path / "elsewhere.csv")
    with pytest.raises(InputError, match="symbolic link"):
        with replacing(out / "a.csv") as tmp:
            tmp.write_text("x")
    assert not (tmp_path / "elsewhere.csv").exists()
    assert [p.name for p in out.iterdir()] == ["a.csv"]  # no temporary file left behind
    with pytest.raises(InputError, match="symbolic link"):
        check_out_file(out / "a.csv", "--out", force=True)


def test_the_api_refuses_an_occupied_export_directory(tmp_path):
    import solver

    export = tmp_path / "e"
    export.mkdir()
    (export / "s.ep.level1.mps").write_text("earlier")
    path = scenario(tmp_path)
    with pytest.raises(InputError, match="would overwrite"):
        solver.solve(path, architectures=["ep"], export=export)
    with pytest.raises(InputError, match="would overwrite"):
        solver.solve_many([path], architectures=["ep"], export=export, workers=1)
    df = solver.solve(path, architectures=["ep"], export=export, force=True)
    assert df.iloc[0]["status"] == "optimal"
