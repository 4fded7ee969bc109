"""Arguments of the Python API and options of the command line: one check each, one wording.

Every function takes a value and the name its caller knows it by (`--workers` on the command
line, `workers` in Python), and returns the value normalised or raises `InputError` with one
line `<name> <value>: <what is allowed>`, the same words whichever way the value came in.
`solver.cli.options` checks the options with these, the public functions of `solver` their
arguments, so a value refused by one is refused by the other.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from formulations.types import ARCHITECTURES, BACKENDS
from solver.errors import InputError
from solver.io import limits, numbers
from solver.io.checks import check_time_limit
from solver.io.numbers import show

PathLike = str | os.PathLike[str]


def _fail(name: str, value: Any, rule: str) -> InputError:
    return InputError([f"{name} {show(value)}: {rule}"])


def time_limit(value: Any, name: str = "time_limit_s") -> float | None:
    """Seconds, finite, > 0 and at most search.time_limit_s's bound (None: not given)."""
    problems = check_time_limit(value, name)
    if problems:
        raise InputError(problems)
    return None if value is None else float(value)


def count(value: Any, name: str, lo: int, hi: int) -> int | None:
    """An integer in [lo, hi] (None: not given)."""
    if value is None:
        return None
    number, problem = numbers.convert(
        value, name, integer=True, bounds=numbers.Bounds(ge=lo, le=hi)
    )
    if problem:
        raise _fail(name, value, f"must be in [{lo:,}, {hi:,}]")
    return int(number)


def workers(value: Any, name: str = "workers") -> int | None:
    """Local worker processes: an integer in [1, MAX_WORKERS] (None: all cores)."""
    return count(value, name, 1, limits.MAX_WORKERS)


def architectures(value: Any, name: str = "architectures") -> list[str] | None:
    """A subset of the architectures, each once, as a list or tuple of names (a text such as
    "ep" is refused: it is not a list of one name). None: the instance's."""
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise _fail(name, value, f"a list of names among {', '.join(ARCHITECTURES)}, e.g. ['ep']")
    return _architectures(list(value), name, value)


def architectures_text(text: str | None, name: str = "--arch") -> list[str] | None:
    """--arch afd,ep: the same check on comma-separated names."""
    if text is None:
        return None
    return _architectures([a for a in text.split(",") if a.strip()], name, text)


def _architectures(items: list[Any], name: str, value: Any) -> list[str]:
    names = [a.strip().lower() if isinstance(a, str) else a for a in items]
    if not names or any(a not in ARCHITECTURES for a in names):
        raise _fail(name, value, f"choose from {', '.join(ARCHITECTURES)}")
    dupes = sorted({a for a in names if names.count(a) > 1})
    if dupes:
        raise _fail(name, value, f"{', '.join(dupes)} given more than once")
    return names


def backend(value: Any, name: str = "backend", allowed: Sequence[str] = BACKENDS) -> str | None:
    """A backend name among `allowed` (None: the instance's)."""
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise _fail(name, value, f"choose from {', '.join(allowed)}")
    return value


def flag(value: Any, name: str) -> bool:
    """True or False, nothing that merely converts to one."""
    if not isinstance(value, bool):
        raise _fail(name, value, "must be True or False")
    return value


def optional_flag(value: Any, name: str) -> bool | None:
    return None if value is None else flag(value, name)


def callback(value: Any, name: str) -> Callable[..., Any] | None:
    if value is not None and not callable(value):
        raise _fail(name, value, "must be a function (or None)")
    return value


def solve_options(
    archs: Any,
    backend_name: Any,
    time_limit_s: Any,
    shadow_prices: Any,
    breakdown: Any,
    export: Any,
    force: Any,
) -> tuple[list[str] | None, str | None, float | None, PathLike | None]:
    """What `solve` of one instance and of many files share, checked as above: (architectures,
    backend, time limit, export directory); the three flags must be True or False."""
    checked = (architectures(archs), backend(backend_name), time_limit(time_limit_s))
    for name, value in (
        ("shadow_prices", shadow_prices),
        ("breakdown", breakdown),
        ("force", force),
    ):
        flag(value, name)
    return (*checked, optional_path(export, "export"))


def path(value: Any, name: str, what: str = "a file path") -> PathLike:
    """A non-empty str or os.PathLike."""
    if not isinstance(value, str | os.PathLike) or not str(value).strip():
        raise _fail(name, value, f"must be {what}")
    if "\0" in str(value):
        raise _fail(name, value, f"must be {what} (no NUL character)")
    return value


def optional_path(value: Any, name: str, what: str = "a directory path") -> PathLike | None:
    return None if value is None else path(value, name, what)


def paths(value: Any, name: str = "paths") -> list[PathLike]:
    """A non-empty list or tuple of paths (a single path is not a list of its characters)."""
    if not isinstance(value, list | tuple) or not value:
        raise _fail(name, value, "must be a non-empty list of instance file paths")
    return [path(p, f"{name}[{i}]", "an instance file path") for i, p in enumerate(value)]


SCHEDULER_ADDRESS = re.compile(r"(tcp|tls|ucx|ws|wss|inproc)://[^\s/]+(:\d+)?/?|[\w.-]+:\d+")
"""What --scheduler accepts: PROTOCOL://HOST[:PORT] or HOST:PORT."""


def scheduler(value: Any, name: str = "scheduler") -> str | None:
    """A Dask scheduler address, checked before any client is made (a client made from a bad
    address stalls 20 s when it is collected)."""
    if value is None:
        return None
    if not isinstance(value, str) or not SCHEDULER_ADDRESS.fullmatch(value):
        raise _fail(name, value, "expected tcp://HOST:PORT (or tls://, ucx://, HOST:PORT)")
    return value


def overrides(value: Any, name: str = "overrides") -> dict[str, Any] | None:
    """Dotted field overrides {"workload.tpot_ms": 30, ...} (what --set takes)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail(name, value, "must be a dict of dotted fields, e.g. {'workload.tpot_ms': 30}")
    bad = [
        k
        for k in value
        if not isinstance(k, str) or not k or not all(p.isidentifier() for p in k.split("."))
    ]
    if bad:
        raise _fail(f"{name} key", bad[0], "expected a dotted field name, e.g. 'workload.tpot_ms'")
    return dict(value)
