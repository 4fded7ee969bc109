"""Output paths: checked before any work starts, never overwritten without `--force`, never
followed elsewhere.

`check_out_dir` and `check_out_file` turn every way an output path can be wrong (a
file where a directory is expected, no permission, a name the file system refuses,
an existing result, a symbolic link, a device or a pipe) into one `InputError` line;
`replacing` writes a file through a temporary name in the same directory and renames it
into place, so a reader never sees half a file and a link planted at the target's name is
replaced, never written through. Only a regular file (or nothing) may stand where an output
goes; links are refused even with `--force` (give the file's own path).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from solver.errors import InputError

MAX_LISTED = 5
"""Existing files named in a refusal before '... and N more'."""


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _writable_dir(path: Path, option: str) -> None:
    """Create `path` (and parents) if needed and prove a file can be written in it."""
    try:
        if path.exists() and not path.is_dir():
            raise InputError([f"{option} {path}: is a file, expected a directory"])
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".afd-solver-write-test-")
        os.close(fd)
        os.unlink(probe)
    except InputError:
        raise
    except (OSError, ValueError) as exc:
        raise InputError([f"{option} {path}: cannot write there ({_reason(exc)})"]) from None


def entry_kind(path: Path) -> str:
    """What stands at `path`, without following a link: absent, file, link, directory, other."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "absent"
    except (OSError, ValueError):
        return "other"
    if stat.S_ISLNK(info.st_mode):
        return "link"
    if stat.S_ISDIR(info.st_mode):
        return "directory"
    return "file" if stat.S_ISREG(info.st_mode) else "other"


_NOT_A_FILE = {
    "link": "is a symbolic link; outputs are never written through links (give the file's "
    "own path, or remove the link)",
    "directory": "is a directory where a file will be written",
    "other": "not a regular file (a device, a pipe or a socket); choose another path",
}


def refuse_unsafe(path: Path, option: str) -> None:
    """InputError unless `path` is absent or a regular file (links and devices refused)."""
    kind = entry_kind(path)
    if kind in _NOT_A_FILE:
        raise InputError([f"{option} {path}: {_NOT_A_FILE[kind]}"])


def _refuse(existing: list[Path], option: str, where: Path) -> InputError:
    names = ", ".join(p.name for p in existing[:MAX_LISTED])
    more = f" and {len(existing) - MAX_LISTED} more" if len(existing) > MAX_LISTED else ""
    return InputError(
        [
            f"{option} {where}: would overwrite {names}{more}; pass --force to replace "
            "them, or choose another path"
        ]
    )


def check_out_dir(
    path: str | os.PathLike[str], option: str, files: Iterable[str], force: bool
) -> Path:
    """A writable output directory in which none of `files` exists (unless `force`).

    Raises:
        InputError: one line saying what is wrong with the path.
    """
    out = given_path(path, option)
    _writable_dir(out, option)
    names = list(files)
    for name in names:  # links, devices, directories: refused whatever --force says
        refuse_unsafe(out / name, option)
    existing = [out / name for name in names if entry_kind(out / name) == "file"]
    if existing and not force:
        raise _refuse(existing, option, out)
    return out


def check_out_file(path: str | os.PathLike[str], option: str, force: bool) -> Path:
    """A file path that can be written and does not exist yet (unless `force`).

    Raises:
        InputError: one line saying what is wrong with the path.
    """
    out = given_path(path, option)
    try:
        out.is_dir()
    except (OSError, ValueError) as exc:
        raise InputError([f"{option} {out}: unusable path ({_reason(exc)})"]) from None
    kind = entry_kind(out)
    if kind == "directory":
        raise InputError([f"{option} {out}: is a directory, expected a file name"])
    refuse_unsafe(out, option)
    if kind == "file" and not force:
        raise _refuse([out], option, out.parent)
    _writable_dir(out.parent if str(out.parent) else Path("."), option)
    return out


def given_path(path: str | os.PathLike[str], option: str) -> Path:
    """The path as a Path; an empty one is refused (it would mean the current directory)."""
    if not str(path).strip():
        raise InputError([f"{option} {str(path)!r}: empty path; give a file or directory name"])
    if "\0" in str(path):
        raise InputError([f"{option} {str(path)!r}: a path may not hold a NUL character"])
    return Path(path)


def remove_outputs(out: Path, files: Iterable[str]) -> None:
    """Delete earlier outputs before a `--force` rerun (missing files are fine)."""
    for name in files:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Write to a temporary file next to `path`, then rename it into place on success.

    The target must be absent or a regular file, checked again at write time (a link or a
    device planted after the command's checks is refused; the rename replaces a name, it never
    writes through one). The temporary name keeps the target's suffix, for writers that choose
    the format by it (matplotlib, PuLP, HiGHS).
    """
    target = Path(path)
    refuse_unsafe(target, "output")
    fd, tmp = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=f".tmp{target.suffix}"
    )
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual mode
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_figure(fig: object, path: Any, **options: object) -> Any:
    """`fig.savefig` through `replacing` (the format from the target's suffix); a file object
    (an in-memory buffer) is written directly, as PNG."""
    if not isinstance(path, str | os.PathLike):
        fig.savefig(path, format="png", **options)  # type: ignore[attr-defined]
        return path
    target = Path(path)
    with replacing(target) as tmp:
        fmt = target.suffix.lstrip(".") or "png"
        fig.savefig(tmp, format=fmt, **options)  # type: ignore[attr-defined]
    return target
