"""Shared by the hardening and output tests: a small valid scenario and a CLI runner."""

from __future__ import annotations

from pathlib import Path

from conftest import INSTANCES

from solver.cli import main

GOOD = INSTANCES / "deepseek-v3-h800.toml"
SMALL = """
[search]
attention_nodes = { min = 1, max = 8 }
ffn_nodes = { min = 1, max = 4 }
nodes = { min = 1, max = 16 }
"""
SWEEP = ["--vary", "workload.tpot_ms=40,50", "--workers", "1", "--arch", "ep"]
HEAD = 'model = "deepseek-v3"\nhardware = "h800"\nhardware_profile = "paper"\n'
WORKLOAD = (
    "[workload]\ntpot_ms = 50\nmtp_acceptance = 1.7\ncontext_tokens = 4096\nstep_gap_ms = 15\n"
)


def run(capsys, *argv):
    """(exit code, stdout, stderr) of `afd-solver argv...` run in this process."""
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def scenario(tmp_path: Path, text: str = HEAD + WORKLOAD + SMALL, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def assert_clean(err: str, lines: int | None = None) -> None:
    """Every stderr line is one `error:` line, no traceback (and `lines` of them if given)."""
    assert "Traceback" not in err
    assert all(line.startswith("error: ") for line in err.splitlines()), err
    if lines is not None:
        assert len(err.splitlines()) == lines, err
