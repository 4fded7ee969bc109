"""Sweep engine: spec parsing, the result store, local/Dask execution, crashes, resume."""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.analysis.engine import SweepInterrupted, run_points, start_method
from solver.analysis.store import ResultStore
from solver.analysis.sweep_spec import build_points, parse_key, parse_spec, parse_vary, point_key

REPO = Path(__file__).resolve().parents[1]

# ---- toy point functions (module level so worker processes can import them) ----


def toy_point(instance_path: str, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """Deterministic rows from the overrides; `search.mode` asks for failures."""
    scale = float(Path(instance_path).read_text().split("=")[1])
    tpot_ms = float(overrides["workload.tpot_ms"])
    gbps = float(overrides.get("hardware.scaleout_gbps", 100.0))
    mode = overrides.get("search.mode")
    if overrides.get("search.sleep_s"):
        time.sleep(float(overrides["search.sleep_s"]))
    if overrides.get("search.wait_for"):  # hold until the test releases it (at most 60 s)
        release, until = Path(overrides["search.wait_for"]), time.monotonic() + 60
        while not release.exists() and time.monotonic() < until:
            time.sleep(0.01)
    if mode == "fail":
        raise ValueError(f"no plan for tpot {tpot_ms}")
    # Only ever exit inside a pool worker: in process it would kill pytest itself.
    if mode == "crash" and multiprocessing.parent_process() is not None:
        os._exit(1)
    if mode == "infeasible":
        return [{"architecture": "afd", "status": "infeasible", "tokens_per_s_per_gpu": math.nan}]
    return [
        {
            "architecture": "afd",
            "status": "optimal",
            "tokens_per_s_per_gpu": scale * tpot_ms * gbps / 7.0,
        },
        {
            "architecture": "ep",
            "status": "time_limit",
            "tokens_per_s_per_gpu": scale * tpot_ms + gbps / 3.0,
            "gpus": int(tpot_ms) % 5,
        },
    ]


_CALLS = {"n": 0, "interrupt_after": -1}


def interrupting_point(instance_path: str, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """toy_point that raises KeyboardInterrupt on call number `interrupt_after` (in process)."""
    if _CALLS["n"] == _CALLS["interrupt_after"]:
        _CALLS["n"] += 1
        raise KeyboardInterrupt
    _CALLS["n"] += 1
    return toy_point(instance_path, overrides)


def expected_table(instance: Path, points: list[dict[str, Any]]) -> pd.DataFrame:
    """The tidy table built from a plain loop over `toy_point`."""
    records = []
    for point in points:
        try:
            rows = toy_point(str(instance), point)
        except Exception as exc:
            rows = [{"status": "error", "reason": f"{type(exc).__name__}: {exc}"}]
        records += [{**point, **row} for row in rows]
    return pd.DataFrame(records)


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert set(actual.columns) == set(expected.columns)
    pd.testing.assert_frame_equal(
        actual.reset_index(drop=True),
        expected[list(actual.columns)].reset_index(drop=True),
        check_dtype=False,
    )


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    path = tmp_path / "instance.toml"
    path.write_text("scale = 3\n")
    return path


def grid(n_tpot: int = 6, n_gbps: int = 4) -> list[dict[str, Any]]:
    return build_points(
        [
            ("workload.tpot_ms", [float(20 + 5 * i) for i in range(n_tpot)]),
            ("hardware.scaleout_gbps", [100 * (j + 1) for j in range(n_gbps)]),
        ],
        grid=True,
    )


# ---- sweep_spec ----------------------------------------------------------------


def test_spec_lists_keep_types() -> None:
    assert parse_spec("25,50,100") == [25, 50, 100]
    assert parse_spec("25, 50.5 ,1e2") == [25, 50.5, 100.0]
    assert parse_vary("search.backend=highs,cbc") == ("search.backend", ["highs", "cbc"])
    assert parse_spec("7") == [7]


def test_spec_ranges() -> None:
    assert parse_spec("20:200:10") == list(range(20, 201, 10))
    assert parse_spec("20:205:10")[-1] == 200
    assert parse_spec("100:20:-40") == [100, 60, 20]
    floats = parse_spec("0.1:0.5:0.1")
    assert floats == [0.1, 0.2, 0.3, 0.4, 0.5]  # no 0.30000000000000004, stop included
    assert all(isinstance(v, float) for v in floats)
    assert parse_spec("1:2:0.25") == [1.0, 1.25, 1.5, 1.75, 2.0]


def test_spec_log_ranges() -> None:
    values = [float(v) for v in parse_spec("log:10:1000:12")]
    assert len(values) == 12 and values[0] == 10 and values[-1] == 1000
    ratios = [b / a for a, b in zip(values, values[1:], strict=False)]
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-9)
    assert parse_spec("log:1:1024:11") == [float(2**i) for i in range(11)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "expected a list"),
        ("1,,2", "empty item"),
        ("1,2,1", "appears twice"),
        ("1:10", "START:STOP:STEP"),
        ("1:10:0", "must not be zero"),
        ("10:1:1", "never reaches"),
        ("a:10:1", "not a number"),
        ("0:1e9:1", "exceeds the limit"),
        ("log:0:10:5", "START > 0"),
        ("log:1:10:1", "at least 2"),
        ("log:1:10:2.5", "must be an integer"),
        ("log:1:10", "log:START:STOP:COUNT"),
    ],
)
def test_spec_rejects_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_spec(spec)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tpot_ms=1,2", "dotted field name"),
        ("workload..tpot=1", "dotted field name"),
        ("workload.2x=1", "dotted field name"),
        ("cluster.gpus=8", "not one of model, hardware, workload, search"),
        ("workload.tpot_ms", "expected KEY=SPEC"),
    ],
)
def test_vary_rejects_bad_keys(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_vary(text)


@settings(max_examples=60, deadline=None)
@given(st.integers(-50, 50), st.integers(0, 40), st.integers(1, 9))
def test_int_ranges_match_python_range(start: int, length: int, step: int) -> None:
    stop = start + length
    assert parse_spec(f"{start}:{stop}:{step}") == list(range(start, stop + 1, step))


def test_build_points_orders_grid_and_zip() -> None:
    assert build_points([("workload.tpot_ms", [1, 2])], grid=True) == [
        {"workload.tpot_ms": 1},
        {"workload.tpot_ms": 2},
    ]
    pts = build_points([("model.a", [1, 2]), ("model.b", ["x", "y", "z"])], grid=True)
    assert [(p["model.a"], p["model.b"]) for p in pts] == [
        (1, "x"),
        (1, "y"),
        (1, "z"),
        (2, "x"),
        (2, "y"),
        (2, "z"),
    ]
    assert build_points([("model.a", [1, 2]), ("model.b", [3, 4])], grid=False) == [
        {"model.a": 1, "model.b": 3},
        {"model.a": 2, "model.b": 4},
    ]
    with pytest.raises(ValueError, match="equal lengths"):
        build_points([("model.a", [1, 2]), ("model.b", [3])], grid=False)
    with pytest.raises(ValueError, match="more than once"):
        build_points([("model.a", [1]), ("model.a", [2])], grid=True)


def test_point_key_is_canonical() -> None:
    assert point_key({"b": 0.1, "a": 2}) == point_key({"a": 2, "b": 0.1}) == '{"a":2,"b":0.1}'
    assert point_key({"a": 50}) != point_key({"a": 50.0})
    assert parse_key(" workload.tpot_ms ") == "workload.tpot_ms"
    with pytest.raises(ValueError, match="NaN"):
        point_key({"a": math.nan})


# ---- store and engine ------------------------------------------------------------


def test_in_process_matches_plain_loop(instance: Path, tmp_path: Path) -> None:
    points = grid()
    points[3]["search.mode"] = "fail"
    points[5]["search.mode"] = "infeasible"
    table = run_points(instance, points, toy_point, tmp_path / "out", workers=1)
    assert_same(table, expected_table(instance, points))
    assert list(table.columns[:3]) == ["workload.tpot_ms", "hardware.scaleout_gbps", "search.mode"]
    assert_same(pd.read_csv(tmp_path / "out" / "results.csv"), table)
    with ResultStore(tmp_path / "out") as store:
        records = store.records()
    assert [r["status"] for r in records].count("error") == 1
    assert records[3]["reason"] == "ValueError: no plan for tpot 20.0"


@pytest.mark.parametrize("method", ["fork", "forkserver", None])
def test_pool_matches_plain_loop_with_failures(
    instance: Path, tmp_path: Path, method: str | None
) -> None:
    points = grid(10, 6)  # 60 points: enough for chunks of several points per task
    points[7]["search.mode"] = "fail"
    table = run_points(instance, points, toy_point, tmp_path / "out", workers=2, mp_context=method)
    assert_same(table, expected_table(instance, points))


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_worker_crash_restarts_pool_and_keeps_points(
    instance: Path, tmp_path: Path, method: str
) -> None:
    points = grid(8, 5)
    points[11]["search.mode"] = "crash"
    table = run_points(instance, points, toy_point, tmp_path / "out", workers=2, mp_context=method)
    crashed = table[table["search.mode"] == "crash"]
    assert len(crashed) == 1 and crashed["status"].iloc[0] == "error"
    assert "worker process died" in crashed["reason"].iloc[0]
    # Every other point was evaluated exactly once, as in a plain loop.
    others = [p for p in points if p.get("search.mode") != "crash"]
    rest = table[table["search.mode"] != "crash"].drop(columns=["search.mode", "reason"])
    assert_same(rest, expected_table(instance, others))


def test_start_method_avoids_fork_with_threads() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert start_method() in ("forkserver", "spawn")
    finally:
        stop.set()
        thread.join()
    assert start_method("spawn") == "spawn"
    with pytest.raises(ValueError, match="is not one of"):
        start_method("teleport")


def test_refuses_to_overwrite_without_resume(instance: Path, tmp_path: Path) -> None:
    points = grid(2, 2)
    run_points(instance, points, toy_point, tmp_path / "out", workers=1)
    with pytest.raises(ValueError, match="--resume.*another --out"):
        run_points(instance, points, toy_point, tmp_path / "out", workers=1)
    instance.write_text("scale = 4\n")
    with pytest.raises(ValueError, match="changed"):
        run_points(instance, points, toy_point, tmp_path / "out", workers=1, resume=True)


def test_keyboard_interrupt_then_resume(
    instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = grid()
    monkeypatch.setitem(_CALLS, "n", 0)
    monkeypatch.setitem(_CALLS, "interrupt_after", 9)
    out = tmp_path / "out"
    with pytest.raises(SweepInterrupted, match="9 of 24 points stored") as info:
        run_points(instance, points, interrupting_point, out, workers=1)
    assert info.value.n_stored == 9 and isinstance(info.value, KeyboardInterrupt)
    with ResultStore(out) as store:
        assert store.count() == 9
    table = run_points(instance, points, interrupting_point, out, workers=1, resume=True)
    assert _CALLS["n"] == 25  # 9 + the interrupted call + the 15 missing points
    assert_same(table, expected_table(instance, points))


def test_resume_keeps_new_point_order(instance: Path, tmp_path: Path) -> None:
    points = grid(3, 2)
    run_points(instance, points[::2], toy_point, tmp_path / "out", workers=1)
    table = run_points(instance, points, toy_point, tmp_path / "out", workers=1, resume=True)
    assert_same(table, expected_table(instance, points))


_CHILD = """
import sys
sys.path[:0] = [{repo!r}, {tests!r}]
from test_engine import toy_point, grid, killable_points
from solver.analysis.engine import SweepInterrupted, run_points, start_method
points = killable_points({out!r})
try:
    run_points({instance!r}, points, toy_point, {out!r}, workers=2)
except SweepInterrupted as exc:
    print(exc, file=sys.stderr)
    sys.exit(130)
"""


def killable_points(out: str) -> list[dict[str, Any]]:
    """40 points; the first 8 run at once, the rest wait for `out/release`: however loaded the
    machine, the test kills the sweep with 4 to 8 points stored, never all 40."""
    points = grid(10, 4)
    for i, p in enumerate(points):
        p["search.sleep_s"] = 0.05
        if i >= 8:
            p["search.wait_for"] = str(Path(out) / "release")
    return points


def _start_child(instance: Path, out: Path) -> subprocess.Popen[bytes]:
    code = _CHILD.format(
        repo=str(REPO), tests=str(REPO / "tests"), instance=str(instance), out=str(out)
    )
    # Own session: the test can signal the child and its workers as one group.
    return subprocess.Popen(
        [sys.executable, "-c", code], start_new_session=True, stderr=subprocess.PIPE
    )


def _stored(out: Path) -> int:
    try:
        with sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM points").fetchone()[0])
    except sqlite3.Error:
        return 0  # not created yet


def _wait_for_points(child: subprocess.Popen[bytes], out: Path, n: int) -> None:
    deadline = time.monotonic() + 30
    while _stored(out) < n:
        assert child.poll() is None, "sweep child ended early"
        assert time.monotonic() < deadline, "sweep child stored nothing in 30 s"
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_sweep_resumes_to_the_same_table(
    instance: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "out"
    child = _start_child(instance, out)
    try:
        _wait_for_points(child, out, 4)
        os.killpg(child.pid, sig)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    n_stored = _stored(out)
    assert 4 <= n_stored <= 8
    if sig == signal.SIGINT:
        assert child.returncode == 130
        assert f"interrupted: {n_stored} of 40 points stored" in stderr.decode()
    points = killable_points(str(out))
    (out / "release").touch()
    table = run_points(instance, points, toy_point, out, workers=2, resume=True)
    assert_same(table, expected_table(instance, points))
    with ResultStore(out) as store:
        assert store.count() == 40


def test_dask_cluster_matches_local_pool(instance: Path, tmp_path: Path) -> None:
    from distributed import LocalCluster

    points = grid(6, 5)
    points[4]["search.mode"] = "fail"
    local = run_points(instance, points, toy_point, tmp_path / "local", workers=2)
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
    ) as cluster:
        remote = run_points(
            instance, points, toy_point, tmp_path / "dask", scheduler=cluster.scheduler_address
        )
    pd.testing.assert_frame_equal(remote, local)


def test_progress_bar_when_asked(
    instance: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_points(instance, grid(2, 2), toy_point, tmp_path / "quiet", workers=1)
    assert capsys.readouterr().err == ""  # stderr is not a TTY under pytest
    run_points(instance, grid(2, 2), toy_point, tmp_path / "loud", workers=1, progress=True)
    assert "4/4" in capsys.readouterr().err


def not_rows(instance_path: str, overrides: dict[str, Any]) -> Any:
    return {"architecture": "afd"}


def test_bad_point_functions(instance: Path, tmp_path: Path) -> None:
    table = run_points(instance, grid(1, 2), not_rows, tmp_path / "rows", workers=1)
    assert list(table["status"]) == ["error", "error"]
    assert "not a list of dicts" in table["reason"].iloc[0]
    with pytest.raises(TypeError, match="cannot be sent to worker processes"):
        run_points(instance, grid(1, 2), lambda path, o: [], tmp_path / "lambda", workers=2)
    with pytest.raises(ValueError, match="no sweep points"):
        run_points(instance, [], toy_point, tmp_path / "none", workers=1)
    with pytest.raises(ValueError, match="duplicate sweep points"):
        run_points(instance, grid(1, 2) * 2, toy_point, tmp_path / "dupes", workers=1)


def test_chunk_size_targets_task_length(tmp_path: Path) -> None:
    from solver.analysis.engine import _Recorder

    class Bar:
        def update(self, n: int) -> None: ...
        def set_postfix(self, **kw: Any) -> None: ...

    with ResultStore(tmp_path) as store:
        rec = _Recorder(store, ["a", "b"], [{"x": 1}, {"x": 2}], Bar())
        assert rec.chunk_size(2000, 2) == 1  # nothing timed yet
        rec.record((0, "ok", None, [], 0.005))
        assert rec.chunk_size(2000, 2) == 20  # 20 x 5 ms = one 0.1 s task
        assert rec.chunk_size(40, 2) == 5  # keep 4 tasks per worker for the tail
        rec.record((1, "ok", None, [], 20.0))
        assert rec.chunk_size(2000, 2) == 1  # slow points go one per task


_DYING_WORKERS = """
import os, sys
if __name__ == "__mp_main__":
    os._exit(3)  # every worker process dies while starting up
sys.path[:0] = [{repo!r}, {tests!r}]
from test_engine import toy_point, grid
from solver.analysis.engine import run_points
# forkserver re-imports the main module in each worker (fork would not).
run_points({instance!r}, grid(4, 4), toy_point, {out!r}, workers=2, mp_context="forkserver")
"""


def test_workers_that_cannot_start_abort_the_sweep(instance: Path, tmp_path: Path) -> None:
    script = tmp_path / "dying.py"
    script.write_text(
        _DYING_WORKERS.format(
            repo=str(REPO),
            tests=str(REPO / "tests"),
            instance=str(instance),
            out=str(tmp_path / "out"),
        )
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=60, text=True)
    assert proc.returncode == 1
    assert "RuntimeError: sweep worker processes die at start-up" in proc.stderr
