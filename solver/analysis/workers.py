"""Set-up of sweep worker processes: they ignore Ctrl-C and end when the sweep's process dies.

A parent killed outright (even by SIGKILL, which runs no clean-up) must not leave workers
behind: on Linux the kernel sends SIGKILL to a worker whose parent exits (PR_SET_PDEATHSIG),
and on every platform a watchdog thread ends the worker once it is re-parented or the sweep's
process is gone (with forkserver the worker's parent is the fork server, which exits as soon
as the sweep's process does).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

WATCHDOG_S = 0.5
"""How often a worker checks that the sweep's parent is still alive."""
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def worker_init(parent_pid: int | None = None) -> None:
    """Set up a pool worker: ignore Ctrl-C, and end when the sweep's parent dies.

    Ctrl-C reaches the whole process group; only the parent should react, so it can
    store what finished and stop the workers itself. A parent killed outright (even
    by SIGKILL, which runs no clean-up) must not leave workers behind: on Linux the
    kernel sends SIGKILL to a worker whose parent exits (PR_SET_PDEATHSIG), and on
    every platform a watchdog thread ends the worker once it is re-parented or the
    sweep's process is gone (with forkserver the worker's parent is the fork server,
    which exits as soon as the sweep's process does).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    watched = os.getppid()
    thread = threading.Thread(
        target=_watch_parent, args=(watched, parent_pid), name="parent-watchdog", daemon=True
    )
    thread.start()


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the watchdog still covers it
        pass


def _parent_gone(watched: int, parent_pid: int | None) -> bool:
    if os.getppid() != watched:
        return True
    if parent_pid is None or parent_pid == watched:
        return False
    try:
        os.kill(parent_pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _watch_parent(watched: int, parent_pid: int | None) -> None:
    while not _parent_gone(watched, parent_pid):
        time.sleep(WATCHDOG_S)
    os._exit(1)
