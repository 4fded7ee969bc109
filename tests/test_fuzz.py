"""Fuzzing (issues 9 and 17), in-process with a fixed seed: mutated instance, model, hardware
and fleet files, malformed command lines, output paths that lead elsewhere (links, devices,
empty paths) and API calls with a wrong argument (tests/fuzzing.py has the generator and the
rules; benchmarks/fuzz_campaign.py runs thousands)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fuzz_shapes import Fuzzer
from fuzzing import check_solve_rows

SEED = int(os.environ.get("AFD_FUZZ_SEED", "20261130"))


def test_fuzzed_files_and_command_lines_fail_cleanly(tmp_path: Path) -> None:
    totals = Fuzzer(tmp_path, SEED).run(files=250, commands=80, outputs=40, api=60, fleets=10)
    print(totals.summary())
    assert (totals.cases, totals.commands, totals.outputs, totals.api, totals.fleets) == (
        250,
        80,
        40,
        60,
        10,
    )
    assert totals.validated_ok >= 25  # the generator also produces valid, extreme instances
    assert totals.outcomes["api refused"] == 60  # every wrong argument refused
    for bad in ("traceback", "hang", "write outside", "unsafe path accepted", "api accepted"):
        assert totals.outcomes[bad] == 0, bad
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
