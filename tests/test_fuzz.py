"""Fuzzing (issue 9): 300 mutated instance/model/hardware files and 100 malformed command lines
per run, in-process, with a fixed seed (tests/fuzzing.py has the generator and the rules)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fuzzing import Fuzzer, check_solve_rows

SEED = int(os.environ.get("AFD_FUZZ_SEED", "20261130"))


def test_fuzzed_files_and_command_lines_fail_cleanly(tmp_path: Path) -> None:
    totals = Fuzzer(tmp_path, SEED).run(files=300, commands=100)
    print(totals.summary())
    assert totals.cases == 300 and totals.commands == 100
    assert totals.validated_ok >= 30  # the generator also produces valid, extreme instances
    assert not totals.failures, "\n".join(totals.failures[:20])


@pytest.mark.parametrize(
    "rows, code, problem",
    [
        ([{"architecture": "ep", "status": "infeasible"}], 0, "exit 0 without a deployment"),
        ([{"architecture": "ep", "status": "optimal", "objective": 5.0}], 1, "exit 1 with a"),
        (
            [{"architecture": "ep", "status": "optimal", "objective": 1.0, "tpot_ms": -1.0}],
            0,
            "tpot_ms = -1.0",
        ),
        (
            [{"architecture": "afd", "status": "infeasible", "binding": "takes inf us"}],
            1,
            "reason says",
        ),
    ],
)
def test_the_fuzzer_catches_insane_answers(rows, code, problem) -> None:
    found = check_solve_rows(rows, code)
    assert found is not None and problem in found
