"""Outputs, processes and packaging (issue 9): outputs are never overwritten without --force,
wrong output paths are one line, a resumed sweep must be the same sweep, a sweep's workers die
with it (SIGKILL included), Dask gets absolute paths, the catalogue travels in the wheel."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import pytest
from cli_helpers import HEAD, SMALL, SWEEP, WORKLOAD, assert_clean, run, scenario
from conftest import INSTANCES, ROOT

# ---- outputs ---------------------------------------------------------------------------------


def test_sweep_never_overwrites_without_force(tmp_path, capsys):
    path, out = scenario(tmp_path), tmp_path / "out"
    assert run(capsys, "sweep", path, *SWEEP, "--out", out)[0] == 0
    before = (out / "results.csv").read_bytes()
    code, _, err = run(capsys, "sweep", path, *SWEEP, "--out", out)
    assert code == 2 and "--resume" in err and "--force" in err
    assert (out / "results.csv").read_bytes() == before
    # Another sweep's files in the directory, but no store: still refused.
    (out / "results.sqlite").unlink()
    code, _, err = run(capsys, "sweep", path, *SWEEP, "--out", out)
    assert code == 2 and "would overwrite" in err and "results.csv" in err
    code, _, err = run(capsys, "sweep", path, *SWEEP, "--out", out, "--force", "--resume")
    assert code == 2 and "give one" in err
    assert run(capsys, "sweep", path, *SWEEP, "--out", out, "--force")[0] == 0


def test_place_and_reproduce_never_overwrite_without_force(tmp_path, capsys):
    target = tmp_path / "placement.csv"
    target.write_text("precious\n")
    argv = [
        "place",
        scenario(tmp_path),
        "--loads",
        "zipf:layers=1",
        "--workers",
        "1",
        "--out",
        target,
    ]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "would overwrite placement.csv" in err and "--force" in err
    assert target.read_text() == "precious\n"
    assert run(capsys, *argv, "--force")[0] == 0
    assert target.read_text().startswith("layer,rank,expert,replica_share")
    out = tmp_path / "reproduced"
    out.mkdir()
    (out / "ffn_regimes.csv").write_text("precious\n")
    code, _, err = run(capsys, "reproduce", "--only", "ffn_regimes", "--out", out)
    assert code == 2 and "would overwrite ffn_regimes.csv" in err
    assert (out / "ffn_regimes.csv").read_text() == "precious\n"
    assert run(capsys, "reproduce", "--only", "ffn_regimes", "--out", out, "--force")[0] == 0
    assert (out / "ffn_regimes.csv").read_text().startswith("ffn_nodes,")


def test_wrong_out_paths_are_one_line(tmp_path, capsys, monkeypatch):
    path = scenario(tmp_path)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        (["sweep", path, *SWEEP, "--out", a_file], "is a file, expected a directory"),
        (["sweep", path, *SWEEP, "--out", a_file / "sub"], "cannot write there"),
        (["reproduce", "--only", "ffn_regimes", "--out", a_file], "is a file"),
        (["place", path, "--loads", "zipf:layers=1", "--out", tmp_path], "is a directory"),
    ]
    for argv, fragment in cases:
        code, _, err = run(capsys, *argv)
        assert code == 2 and fragment in err, (argv, err)
        assert_clean(err, lines=1)
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "results.sqlite").write_bytes(b"not a database" * 100)
    code, _, err = run(capsys, "sweep", path, *SWEEP, "--out", garbage, "--resume")
    assert code == 2 and "results.sqlite" in err
    assert_clean(err, lines=1)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("solver.io.outputs.tempfile.mkstemp", denied)
    code, _, err = run(capsys, "sweep", path, *SWEEP, "--out", tmp_path / "locked")
    assert code == 2 and "cannot write there (Permission denied)" in err
    assert_clean(err, lines=1)


@pytest.mark.parametrize(
    "change, fragment",
    [
        (["--vary", "workload.tpot_ms=40,60"], "other --vary values"),
        (["--set", "workload.step_gap_ms=10"], "other --set"),
        (["--one-at-a-time"], "--one-at-a-time"),
        ("instance", "the instance (or a file it names) changed"),
    ],
)
def test_resume_refuses_a_store_of_other_parameters(tmp_path, capsys, change, fragment):
    path, out = scenario(tmp_path), tmp_path / "out"
    base = ["sweep", path, "--workers", "1", "--arch", "ep", "--out", out]
    assert run(capsys, *base, "--vary", "workload.tpot_ms=40,50")[0] == 0
    if change == "instance":
        path.write_text(path.read_text().replace("step_gap_ms = 15", "step_gap_ms = 14"))
        extra = ["--vary", "workload.tpot_ms=40,50"]
    else:
        extra = (
            list(change) if "--vary" in change else ["--vary", "workload.tpot_ms=40,50", *change]
        )
    code, _, err = run(capsys, *base, *extra, "--resume")
    assert code == 2 and fragment in err and "--force" in err, err
    assert run(capsys, *base, "--vary", "workload.tpot_ms=40,50", "--resume")[0] == (
        2 if change == "instance" else 0
    )


# ---- processes -------------------------------------------------------------------------------


DRIVER = """
import sys
from solver.analysis.engine import run_points
from slowpoint import point

if __name__ == "__main__":
    points = [{{"workload.tpot_ms": float(i)}} for i in range(8)]
    run_points(sys.argv[1], points, point, sys.argv[2], workers=2, mp_context="{method}",
               progress=False)
"""


def _children(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            kids.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        for child in kids.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_sigkilled_sweep_leaves_no_live_worker(tmp_path, method):
    (tmp_path / "slowpoint.py").write_text(
        "import os, pathlib, time\n\n"
        "def point(path, overrides):\n"
        "    (pathlib.Path(path).parent / f'running-{os.getpid()}').touch()\n"
        "    time.sleep(60)\n"
        "    return []\n"
    )
    (tmp_path / "driver.py").write_text(DRIVER.format(method=method))
    (tmp_path / "instance.toml").write_text("x = 1\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    parent = subprocess.Popen(
        [
            sys.executable,
            str(tmp_path / "driver.py"),
            str(tmp_path / "instance.toml"),
            str(tmp_path / "out"),
        ],
        env=env,
        start_new_session=True,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2:  # wait for both pool workers
            assert parent.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
            workers = _children(parent.pid)
        time.sleep(1.5)  # the points are running (sleeping) now
        workers = _children(parent.pid)
        parent.send_signal(signal.SIGKILL)  # the parent only, no clean-up
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in workers if _alive(p)], "workers outlived their sweep"
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_dask_workers_in_another_directory_get_the_absolute_path(tmp_path, monkeypatch, capsys):
    distributed = pytest.importorskip("distributed")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # workers start (and stay) here
    with distributed.LocalCluster(
        n_workers=1, processes=True, threads_per_worker=1, dashboard_address=":0"
    ) as cluster:
        monkeypatch.chdir(tmp_path)
        scenario(tmp_path)
        code, out, err = run(
            capsys,
            "sweep",
            "s.toml",
            *SWEEP[:2],
            "--arch",
            "ep",
            "--scheduler",
            cluster.scheduler_address,
            "--out",
            "out",
        )
    assert code == 0, err
    assert "2 points" in out and "0 failed" in out


def test_scheduler_needs_the_dask_extra_and_a_url(tmp_path, capsys, monkeypatch):
    path = scenario(tmp_path)
    start = time.monotonic()
    code, _, err = run(
        capsys, "sweep", path, *SWEEP, "--scheduler", "not a url", "--out", tmp_path / "o"
    )
    assert code == 2 and "expected tcp://HOST:PORT" in err
    assert time.monotonic() - start < 10 and not (tmp_path / "o").exists()
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra is missing
    code, _, err = run(
        capsys,
        "sweep",
        path,
        *SWEEP,
        "--scheduler",
        "tcp://127.0.0.1:8786",
        "--out",
        tmp_path / "o",
    )
    assert code == 2 and "pip install 'afd-solver[dask]'" in err


# ---- packaging -------------------------------------------------------------------------------


def test_pyproject_lists_every_package_and_the_catalogue():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("solver", "formulations")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk <= listed, sorted(on_disk - listed)
    assert config["tool"]["setuptools"]["package-dir"]["solver.instances"] == "instances"
    assert "dask" in config["project"]["optional-dependencies"]
    assert not any("dask" in d for d in config["project"]["dependencies"])


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = next(
        line for line in readme.splitlines() if line.startswith("pip install -e '.[test]'")
    )
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci
    assert "ruff format --check solver formulations tests" in command
    assert any('afd-solver" reproduce --only ffn_regimes' in line for line in ci)


def test_catalogue_is_found_from_any_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    scenario(tmp_path, HEAD + WORKLOAD + SMALL, "mine.toml")
    code, out, err = run(capsys, "validate", "mine.toml")
    assert code == 0, err
    script = textwrap.dedent(
        """
        from solver.io.files import shipped_catalogue
        print(shipped_catalogue())
        """
    )
    found = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert Path(found.stdout.strip()) == INSTANCES
