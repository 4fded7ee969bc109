"""Output paths: checked before any work starts, never overwritten without `--force`.

`check_out_dir` and `check_out_file` turn every way an output path can be wrong (a
file where a directory is expected, no permission, a name the file system refuses,
an existing result) into one `InputError` line; `replacing` writes a file through a
temporary name in the same directory, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

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
    out = Path(path)
    _writable_dir(out, option)
    existing = [out / name for name in files if (out / name).exists()]
    if existing and not force:
        raise _refuse(existing, option, out)
    for p in existing:
        if p.is_dir():
            raise InputError([f"{option} {p}: is a directory where a file will be written"])
    return out


def check_out_file(path: str | os.PathLike[str], option: str, force: bool) -> Path:
    """A file path that can be written and does not exist yet (unless `force`).

    Raises:
        InputError: one line saying what is wrong with the path.
    """
    out = Path(path)
    try:
        is_dir = out.is_dir()
        exists = out.exists()
        link = out.is_symlink()
        regular = out.is_file()
    except (OSError, ValueError) as exc:
        raise InputError([f"{option} {out}: unusable path ({_reason(exc)})"]) from None
    if link:
        raise InputError([f"{option} {out}: is a symbolic link; give the file's own path"])
    if is_dir:
        raise InputError([f"{option} {out}: is a directory, expected a file name"])
    if exists and not regular:
        raise InputError([f"{option} {out}: not a regular file (a device or a pipe?)"])
    if exists and not force:
        raise _refuse([out], option, out.parent)
    _writable_dir(out.parent if str(out.parent) else Path("."), option)
    return out


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
    """Write to a temporary file next to `path`, then move it into place on success."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual mode
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
