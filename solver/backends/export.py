"""Write an `IntegerProgram` as `.lp` and `.mps` files for any other solver (Gurobi, CPLEX, ...).

The files come from PuLP's writers (PuLP is the one model-building library every user
has next to afd-solver), with readable names (the program's own variable and constraint names,
made legal and unique). Two details keep the files faithful:

- an objective constant (LP and MPS writers drop it) becomes a variable fixed
  at 1 with the constant as its cost, so every solver reports the same value;
- the MPS file carries an `OBJSENSE` section right after `NAME` (free-MPS
  style, read by HiGHS, Gurobi, CPLEX and SCIP), so a maximisation stays one.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from formulations.program import IntegerProgram

SUFFIXES = (".lp", ".mps")
_ILLEGAL = re.compile(r"[^A-Za-z0-9_.]")


def _legal(names: Iterable[str], prefix: str) -> list[str]:
    """Names with only letters, digits, `_` and `.`, unique, never starting with a digit."""
    out: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(names):
        clean = _ILLEGAL.sub("_", name).strip("_") or f"{prefix}{i}"
        if clean[0].isdigit() or clean[0] == ".":
            clean = f"{prefix}_{clean}"
        clean = clean[:80]
        if clean in seen:
            clean = f"{clean}_{i}"
        seen.add(clean)
        out.append(clean)
    return out


def _with_constant_as_variable(prob: IntegerProgram) -> IntegerProgram:
    if prob.objective_constant == 0:
        return prob
    copy = dataclasses.replace(
        prob,
        variables=list(prob.variables),
        objective=dict(prob.objective),
        objective_constant=0.0,
    )
    index = copy.add_var("objective_constant", 1, 1)
    copy.objective[index] = prob.objective_constant
    return copy


def _objsense_after_name(path: Path) -> None:
    """PuLP writes OBJSENSE before NAME; most readers expect it after NAME."""
    lines = path.read_text().splitlines(keepends=True)
    if len(lines) < 3 or not lines[0].startswith("OBJSENSE"):
        return
    sense, rest = lines[:2], lines[2:]
    at = next((i for i, line in enumerate(rest) if line.startswith("NAME")), None)
    if at is None:
        return
    path.write_text("".join(rest[: at + 1] + sense + rest[at + 1 :]))


def stem(*parts: str) -> str:
    """A file stem from parts such as an instance name and an architecture."""
    return ".".join(_ILLEGAL.sub("-", p).strip("-") or "program" for p in parts)


def _to_pulp(prob: IntegerProgram, var_names: list[str], con_names: list[str]) -> Any:
    """The PuLP model of `prob` with the given names (PuLP is imported only to export)."""
    import pulp

    sense = pulp.LpMaximize if prob.maximize else pulp.LpMinimize
    lp = pulp.LpProblem(prob.name.replace(" ", "_"), sense)  # PuLP warns about spaces
    xs = [
        lp.add_variable(
            var_names[i],
            None if math.isinf(v.lo) else v.lo,
            None if math.isinf(v.hi) else v.hi,
            cat=pulp.LpInteger if v.integer else pulp.LpContinuous,
        )
        for i, v in enumerate(prob.variables)
    ]
    lp.setObjective(
        pulp.LpAffineExpression(
            [(xs[i], c) for i, c in prob.objective.items()], prob.objective_constant
        )
    )
    for k, con in enumerate(prob.constraints):
        expr = pulp.LpAffineExpression([(xs[i], c) for i, c in con.terms.items()])
        name = con_names[k]
        if con.lo == con.hi:
            lp.addConstraint(expr == con.lo, name)
            continue
        if not math.isinf(con.lo):
            lp.addConstraint(expr >= con.lo, f"{name}_lo")
        if not math.isinf(con.hi):
            lp.addConstraint(expr <= con.hi, f"{name}_hi")
    return lp


def write_program(
    prob: IntegerProgram, directory: str | Path, file_stem: str, *, force: bool = True
) -> list[Path]:
    """Write `prob` as `<directory>/<file_stem>.lp` and `.mps`; returns the two paths.

    Args:
        prob: the program to write.
        directory: created if missing.
        file_stem: the files' name without suffix (see `stem`).
        force: overwrite existing files; with False an existing file raises FileExistsError.
    """
    from solver.io.outputs import entry_kind, replacing

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{file_stem}{suffix}" for suffix in SUFFIXES]
    if not force:
        existing = [p for p in paths if entry_kind(p) != "absent"]
        if existing:
            raise FileExistsError(", ".join(str(p) for p in existing))
    full = dataclasses.replace(
        _with_constant_as_variable(prob), name=_ILLEGAL.sub("_", prob.name) or "program"
    )
    var_names = _legal((v.name for v in full.variables), "x")
    con_names = _legal((c.name for c in full.constraints), "c")
    lp = _to_pulp(full, var_names, con_names)
    # Through a temporary file renamed into place: never written through a link.
    with replacing(paths[0]) as tmp:
        lp.writeLP(str(tmp))
    with replacing(paths[1]) as tmp:
        lp.writeMPS(str(tmp), with_objsense=True)
        _objsense_after_name(tmp)
    return paths


def existing_programs(directory: str | Path, file_stem: str) -> list[Path]:
    """Files an export of `file_stem` would replace: `<directory>/<file_stem>.*.lp|.mps`."""
    out = Path(directory)
    if not out.is_dir():
        return []
    return sorted(
        p for p in out.iterdir() if p.name.startswith(f"{file_stem}.") and p.suffix in SUFFIXES
    )


def export_solve_program(
    directory: str | Path, instance: str, architecture: str, prob: IntegerProgram
) -> list[Path]:
    """Write the program that proved an instance's optimum: `<instance>.<architecture>.lp/.mps`.

    For ratio objectives pass the last Dinkelbach step's program (its optimum
    certifies the ratio). `instance` is the instance file's stem or its name.
    """
    name = Path(instance).stem if instance.endswith(".toml") else instance
    return write_program(prob, directory, stem(name, architecture))
