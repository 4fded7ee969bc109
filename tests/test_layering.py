"""formulations/ is pure math: it never imports solver/, the CLI, or I/O modules."""

from __future__ import annotations

import ast

from conftest import ROOT

FORBIDDEN = ("solver", "pulp", "ortools", "highspy", "pandas", "tomllib", "subprocess", "sqlite3")


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_formulations_import_no_solver_backend_or_io():
    offenders = []
    for path in sorted((ROOT / "formulations").glob("*.py")):
        for name in _imports(path):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.name}: {name}")
    assert not offenders, offenders


def test_formulations_do_not_open_files():
    offenders = []
    for path in sorted((ROOT / "formulations").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("open", "print"):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders
