"""Dask clusters for sweeps: connect with a timeout and check the workers before any point runs.

Dask is an optional extra (`pip install 'afd-solver[dask]'`); without it `--scheduler` fails
with that advice. A bad address fails at once, an unreachable scheduler after
`DASK_CONNECT_S`, and a cluster whose workers cannot read the instance file before anything
is written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from solver.errors import InputError
from solver.io import arguments

DASK_CONNECT_S = 10
"""Seconds to reach the scheduler before giving up."""
DASK_WORKERS_S = 30
"""Seconds to wait for the first worker to join."""


def dask_client(scheduler: str) -> Any:
    """A client of the scheduler at a checked address (`arguments.scheduler`)."""
    try:
        arguments.scheduler(scheduler, "--scheduler")
    except InputError as exc:
        raise ConnectionError(str(exc)) from None
    try:
        from distributed import Client
    except ImportError:
        raise ConnectionError(
            "--scheduler needs Dask, an optional extra: pip install 'afd-solver[dask]'"
        ) from None
    try:
        return Client(scheduler, set_as_default=False, timeout=DASK_CONNECT_S)
    except Exception as exc:  # OSError, TimeoutError, ValueError for a bad address, ...
        raise ConnectionError(
            f"cannot reach the Dask scheduler at {scheduler}: {type(exc).__name__}: {exc}"
        ) from None


def check_dask_workers(client: Any, path: str | Sequence[str]) -> int:
    """Threads of the cluster's workers, after checking every worker can read the instance
    file (or each of the files a batch solves)."""
    try:
        client.wait_for_workers(1, timeout=DASK_WORKERS_S)
    except TimeoutError:
        raise ConnectionError(
            f"no Dask worker joined the scheduler within {DASK_WORKERS_S} s"
        ) from None
    for file in [path] if isinstance(path, str) else path:
        seen = client.run(os.path.isfile, file)
        blind = sorted(worker for worker, ok in seen.items() if not ok)
        if blind:
            raise ConnectionError(
                f"{len(blind)} of {len(seen)} Dask workers cannot read {file} (e.g. {blind[0]}): "
                "start them where the instance file (and the files it names) is visible at the "
                "same path"
            )
    return max(1, sum(client.nthreads().values()))


def check_scheduler(scheduler: str, instance_path: str) -> None:
    """Fail fast, before any output is written: a bad address, no Dask, no worker that can
    read the instance.

    Raises:
        ConnectionError: saying which.
    """
    with dask_client(scheduler) as client:
        check_dask_workers(client, os.path.abspath(instance_path))
