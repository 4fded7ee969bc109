"""Reading input text safely: TOML files, `--set` values, and where the shipped catalogue lives.

Every read is bounded: a file must be a regular file (not a directory, a FIFO or
/dev/zero) of at most `limits.MAX_TOML_BYTES`, nested at most `limits.MAX_TOML_DEPTH`
levels, and any failure is an `InputError` naming the file, never a traceback.
"""

from __future__ import annotations

import importlib.resources
import re
import stat
import sys
import tomllib
from pathlib import Path
from typing import Any

from solver.errors import InputError
from solver.io import limits


def shipped_catalogue() -> Path:
    """The shipped `instances/` folder: the repository's in a checkout, else the package's.

    A checkout (editable install or PYTHONPATH) keeps the catalogue next to `solver/`;
    a wheel carries it as package data `solver/instances` (see pyproject.toml).
    """
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "instances").is_dir():
        return root / "instances"
    return Path(str(importlib.resources.files("solver") / "instances"))


def depth(value: Any) -> int:
    """Nesting depth of tables and lists (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if level > limits.MAX_TOML_DEPTH:
            return level  # deep enough to refuse; no need to walk further
        stack.extend((child, level + 1) for child in children)
    return deepest


def _too_deep(where: str) -> InputError:
    return InputError(
        [f"{where}: nested more than {limits.MAX_TOML_DEPTH} levels deep (tables and arrays)"]
    )


def read_text(path: str | Path, max_bytes: int, what: str) -> str:
    """The UTF-8 text of a regular file of at most `max_bytes` (a BOM dropped); InputError for
    anything else: missing, a directory, a device or pipe, too large, binary, not UTF-8.

    Args:
        what: the kind of file expected, for the messages ("a TOML file").
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError([f"{path}: file not found"]) from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError([f"{path}: cannot read ({reason})"]) from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError([f"{path}: is a directory, expected {what}"])
    if not stat.S_ISREG(info.st_mode):
        raise InputError([f"{path}: not a regular file, expected {what}"])
    if info.st_size > max_bytes:
        raise InputError(
            [f"{path}: {info.st_size:,} bytes; an input file may have at most {max_bytes:,} bytes"]
        )
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise InputError([f"{path}: cannot read ({exc.strerror or exc})"]) from None
    if b"\0" in data:
        raise InputError([f"{path}: binary data, expected {what}"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError([f"{path}: not a UTF-8 text file"]) from None


_MAX_DIGITS = sys.get_int_max_str_digits() or 4300
_LONG_INTEGER = re.compile(
    rf"(?<![0-9_.eE])([+-]?)[0-9](?:_?[0-9]){{{_MAX_DIGITS - 1},}}(?![0-9_.eE])"
)
_STAND_IN = "1" + "0" * (_MAX_DIGITS - 1)
"""10^4299: the largest power of ten Python converts; `numbers.show` says "4,300 or more"."""


def _loads(text: str) -> dict[str, Any]:
    """`tomllib.loads`, with integers of more digits than Python converts (4,300) read as
    10^4299: out of range for every field, so the schema names the field that holds one."""
    try:
        return tomllib.loads(text)
    except ValueError as exc:
        if isinstance(exc, tomllib.TOMLDecodeError) or not _LONG_INTEGER.search(text):
            raise
    return tomllib.loads(_LONG_INTEGER.sub(lambda m: m.group(1) + _STAND_IN, text))


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; InputError for anything but a readable, small, well-formed file."""
    text = read_text(path, limits.MAX_TOML_BYTES, "a TOML file")
    try:
        raw = _loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError([f"{path}: malformed TOML: {exc}"]) from None
    except ValueError as exc:  # pragma: no cover - _loads reads every integer
        raise InputError([f"{path}: unreadable number ({exc})"]) from None
    except RecursionError:
        raise _too_deep(str(path)) from None
    if depth(raw) > limits.MAX_TOML_DEPTH:
        raise _too_deep(str(path))
    return raw


def parse_value(text: str, where: str = "--set") -> Any:
    """A `--set` value: a TOML value (number, bool, string, list, table), else a bare string."""
    try:
        table = _loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        return text
    except ValueError as exc:  # pragma: no cover - _loads reads every integer
        raise InputError([f"{where}: unreadable number ({exc})"]) from None
    except RecursionError:
        raise _too_deep(where) from None
    if set(table) != {"v"}:  # "1\nb = 2": a second line would be dropped silently
        raise InputError([f"{where}: one value per --set; give each field its own --set"])
    value = table["v"]
    if depth(value) > limits.MAX_TOML_DEPTH:
        raise _too_deep(where)
    return value


def short_text(text: str) -> str:
    """A user's text for an error line: at most 60 characters."""
    return text if len(text) <= 60 else f"{text[:55]}... ({len(text):,} chars)"


def parse_assignments(items: list[str], option: str = "--set") -> dict[str, Any]:
    """["workload.tpot_ms=30", ...] -> {"workload.tpot_ms": 30.0, ...}; a key given twice fails."""
    out: dict[str, Any] = {}
    problems = []
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if "\n" in item or "\r" in item:  # a second line would be dropped or merged silently
            problems.append(
                f"{option} {short_text(item)!r}: spans several lines; give each field its own "
                f"{option} key=value"
            )
            continue
        if not sep or not key or any(not part.isidentifier() for part in key.split(".")):
            problems.append(
                f"{option} {short_text(item)!r}: expected dotted.key=value, "
                "e.g. workload.tpot_ms=30"
            )
            continue
        if key in out:
            problems.append(f"{option} {key}: given more than once; keep one")
            continue
        try:
            out[key] = parse_value(value.strip(), f"{option} {key}")
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    return out
