"""`afd-solver reproduce`: the FFN regimes and the HFU ceiling table of the analysis."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from solver import cli
from solver.analysis.reproduce import (
    FFN_REGIME_COLUMNS,
    HARDWARE,
    HFU_CEILING_COLUMNS,
    MODELS,
    STEPS,
    reproduce,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[Path]]]:
    """Run every step once for the whole module."""
    out = tmp_path_factory.mktemp("reproduce")
    return out, reproduce(out)


def header(path: Path) -> list[str]:
    with path.open(newline="") as fh:
        return next(csv.reader(fh))


def test_every_step_writes_its_files(reproduced: tuple[Path, dict[str, list[Path]]]) -> None:
    out, written = reproduced
    assert list(written) == [s.name for s in STEPS]
    for paths in written.values():
        for path in paths:
            assert path.parent == out and path.stat().st_size > 0
            if path.suffix == ".png":
                assert path.read_bytes().startswith(PNG_MAGIC)


def test_ffn_regimes_match_model_md(reproduced: tuple[Path, dict[str, list[Path]]]) -> None:
    out, _ = reproduced
    path = out / "ffn_regimes.csv"
    assert header(path) == list(FFN_REGIME_COLUMNS)
    df = pd.read_csv(path)
    assert list(df["ffn_nodes"]) == list(range(1, 65))
    regime = dict(zip(df["ffn_nodes"], df["regime"], strict=True))
    expected = {n: "scale-up" for n in (1, 2)}
    expected.update({n: "stable" for n in range(3, 8)})
    expected.update({n: "dead-zone" for n in range(8, 32)})
    expected.update({n: "max-intensity" for n in range(32, 65)})
    assert regime == expected
    # The scale-up regime sits at the 33.1 % ceiling; the dead zone's HFU is flat.
    assert df.loc[df["ffn_nodes"] <= 2, "hfu"].tolist() == pytest.approx([0.331, 0.331], abs=5e-4)
    assert df.loc[df["regime"] == "dead-zone", "hfu"].nunique() == 1
    assert (df["intensity_discrete"] <= df["intensity_continuous"] * (1 + 1e-9)).all()


def test_hfu_ceiling_table(reproduced: tuple[Path, dict[str, list[Path]]]) -> None:
    out, _ = reproduced
    path = out / "hfu_ceiling.csv"
    assert header(path) == list(HFU_CEILING_COLUMNS)
    df = pd.read_csv(path)
    assert len(df) == len(MODELS) * len(HARDWARE)
    assert set(zip(df["model"], df["hardware"], strict=True)) == {
        (m, h) for m in MODELS for h in HARDWARE
    }
    assert set(df["limited_by"]) <= {"HBM-limited", "scale-up", "scale-out"}
    hfu = df.set_index(["model", "hardware"])["hfu"]
    assert hfu["deepseek-v3", "h800"] == pytest.approx(0.331, abs=5e-4)
    assert hfu["deepseek-v3", "gb200-nvl72"] == pytest.approx(0.655, abs=5e-4)
    assert ((df["hfu"] >= 0) & (df["hfu"] <= 1)).all()


def test_cli_lists_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli.main(["reproduce", "--out", str(tmp_path), "--only", "ffn_regimes", "--format", "json"])
        == 0
    )
    written = json.loads(capsys.readouterr().out)
    assert written == {
        "ffn_regimes": [str(tmp_path / "ffn_regimes.csv"), str(tmp_path / "ffn_regimes.png")]
    }


def test_unknown_step_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["reproduce", "--out", str(tmp_path), "--only", "nope"]) == 2
    assert "unknown step" in capsys.readouterr().err
