"""References from a scenario to model and hardware files: by name or by path.

A name resolves in an `instances/` folder (the scenario's own, one above it, or the shipped
catalogue); a path is relative to the scenario file. Problems name the field that referred.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from solver.errors import InputError
from solver.io.files import read_toml, shipped_catalogue
from solver.io.schema import short

SHIPPED = shipped_catalogue()


def search_roots(base: Path) -> list[Path]:
    roots = []
    for folder in (base, *base.parents):
        if (
            folder.name == "instances"
            or (folder / "models").is_dir()
            or (folder / "hardware").is_dir()
        ):
            roots.append(folder)
        if (folder / "instances").is_dir():
            roots.append(folder / "instances")
    roots.append(SHIPPED)
    return list(dict.fromkeys(roots))


def is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte, ...
        return False


def _listing(folder: Path) -> tuple[list[str], str | None]:
    """(names of the TOML files in `folder`, or why it cannot be listed); absent: nothing."""
    try:
        with os.scandir(folder) as entries:
            return [Path(e.name).stem for e in entries if e.name.endswith(".toml")], None
    except (FileNotFoundError, NotADirectoryError):
        return [], None
    except OSError as exc:
        return [], exc.strerror or type(exc).__name__


def resolve(kind: str, ref: str, base: Path, origin: str, problems: list[str]) -> Path | None:
    """The `kind` ("models" or "hardware") file `ref` names, or None with a problem appended."""
    field = "model" if kind == "models" else "hardware"
    if ref.endswith(".toml") or "/" in ref:
        candidate = base / ref
        if is_file(candidate):
            return candidate
        problems.append(f"{origin}: {field} = {short(ref)!r}: no file {short(str(candidate))}")
        return None
    known: set[str] = set()
    unreadable: list[str] = []
    for root in search_roots(base):
        path = root / kind / f"{ref}.toml"
        if is_file(path):
            return path
        names, reason = _listing(root / kind)
        if reason is not None:
            unreadable.append(f"{root / kind} ({reason})")
        known.update(names)
    if unreadable:  # the file may be there: say why it could not be looked at
        problems.append(
            f"{origin}: {field} = {short(ref)!r}: cannot read {unreadable[0]}; make the folder "
            f"readable or give a path to the {field} file"
        )
        return None
    problems.append(
        f"{origin}: {field} = {short(ref)!r}: unknown {field}; "
        f"known: {', '.join(sorted(known)) or 'none'} "
        f"(or give a path relative to the instance file)"
    )
    return None


def table_of(
    kind: str, raw: Any, base: Path, origin: str, problems: list[str]
) -> tuple[dict[str, Any], str, str] | None:
    """(table, file it came from, section label) of a model or hardware reference or table."""
    field = "model" if kind == "models" else "hardware"
    if isinstance(raw, str):
        path = resolve(kind, raw, base, origin, problems)
        if path is None:
            return None
        try:
            table = read_toml(path)
        except InputError as exc:
            problems.extend(exc.problems)
            return None
        table.setdefault("name", path.stem)
        return table, str(path), ""
    if isinstance(raw, dict):
        table = dict(raw)
        table.setdefault("name", "inline")
        return table, origin, field
    problems.append(
        f"{origin}: {field} = {short(repr(raw))}: must be a {field} name, a path, or a table"
    )
    return None
