"""Run sweep points in parallel and store each result the moment it finishes.

`run_points` evaluates `point_fn(instance_path, overrides)` for every point, in
process (one worker), on a local process pool, or on a Dask cluster, writing each
finished point to `DIR/results.sqlite` from the parent process only. A sweep that
is killed or interrupted can be resumed; a crashing point is isolated and recorded
as an error instead of taking the sweep down.

Over 400 lines on purpose: the in-process loop, the local pool and the Dask runner share one
chunk queue, one recorder and one crash-isolation protocol; split up, that protocol would be
spread over modules that each need the others' private parts.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import pickle
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any

from solver.analysis.dask_pool import check_dask_workers, dask_client
from solver.analysis.store import ResultStore, file_sha256
from solver.analysis.sweep_spec import point_key
from solver.analysis.workers import worker_init
from solver.io.outputs import replacing

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

PointFn = Callable[[str, dict[str, Any]], list[dict[str, Any]]]
Item = tuple[int, dict[str, Any]]  # (index in the sweep, overrides)
# (index, status, reason, rows, elapsed_s): a tuple keeps the IPC payload small.
PointResult = tuple[int, str, str | None, list[dict[str, Any]], float]

RESULTS_CSV = "results.csv"
# Points per task are chosen so a task lasts about this long: long enough that
# per-task IPC (~0.1-0.5 ms) is noise, short enough for smooth progress and a
# small loss when a worker crashes.
TARGET_TASK_S = 0.1
MAX_CHUNK = 256
# Tasks in flight per worker: one running, one queued, so workers never idle.
TASKS_PER_WORKER = 2


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep, raised after everything finished was stored.

    Attributes:
        n_stored: points of this sweep now in the store.
        n_total: points in this sweep.
        out_dir: the sweep's output directory.
    """

    def __init__(self, n_stored: int, n_total: int, out_dir: str) -> None:
        super().__init__(
            f"interrupted: {n_stored} of {n_total} points stored in {out_dir}; rerun with --resume"
        )
        self.n_stored = n_stored
        self.n_total = n_total
        self.out_dir = out_dir


# ---- worker side (top-level so that it pickles by reference) ----------------


def _run_point(point_fn: PointFn, instance_path: str, item: Item) -> PointResult:
    index, overrides = item
    start_s = time.perf_counter()
    try:
        rows = point_fn(instance_path, dict(overrides))
        if not isinstance(rows, list | tuple) or not all(isinstance(r, dict) for r in rows):
            raise TypeError(f"point function returned {type(rows).__name__}, not a list of dicts")
        return index, "ok", None, list(rows), time.perf_counter() - start_s
    except Exception as exc:  # any failure of one point is data, not a sweep failure
        return index, "error", f"{type(exc).__name__}: {exc}", [], time.perf_counter() - start_s


def _run_chunk(point_fn: PointFn, instance_path: str, items: list[Item]) -> list[PointResult]:
    return [_run_point(point_fn, instance_path, item) for item in items]


# ---- parent side -------------------------------------------------------------


class _Recorder:
    """Writes results to the store, drives the progress bar, sizes chunks."""

    def __init__(
        self, store: ResultStore, keys: list[str], points: Sequence[dict[str, Any]], bar: Any
    ) -> None:
        self.store = store
        self.keys = keys
        self.points = points
        self.bar = bar
        self.n_errors = 0
        self._n_timed = 0
        self._total_s = 0.0

    def record(self, result: PointResult) -> None:
        index, status, reason, rows, elapsed_s = result
        key, overrides = self.keys[index], self.points[index]
        try:
            self.store.put(key, overrides, rows, status, reason, elapsed_s, index=index)
        except (TypeError, ValueError) as exc:
            status, reason = "error", f"rows are not JSON-serialisable: {exc}"
            self.store.put(key, overrides, [], status, reason, elapsed_s, index=index)
        if elapsed_s > 0:  # points that never ran (crashes) say nothing about speed
            self._n_timed += 1
            self._total_s += elapsed_s
        if status == "error":
            self.n_errors += 1
            self.bar.set_postfix(errors=self.n_errors, refresh=False)
        self.bar.update(1)

    def record_all(self, results: Iterable[PointResult]) -> None:
        for result in results:
            self.record(result)

    def fail(self, item: Item, reason: str) -> None:
        self.record((item[0], "error", reason, [], 0.0))

    def chunk_size(self, remaining: int, workers: int) -> int:
        """Points per task: about TARGET_TASK_S of work, at least 4 tasks per worker left."""
        if self._n_timed == 0:
            return 1  # no timing yet: measure on single points first
        mean_s = max(self._total_s / self._n_timed, 1e-6)
        size = math.ceil(TARGET_TASK_S / mean_s)
        return max(1, min(size, remaining // (4 * workers), MAX_CHUNK))


def _next_chunk(queue: deque[Item], solo: deque[Item], rec: _Recorder, workers: int) -> list[Item]:
    if solo:  # points from a failed chunk are retried one per task to find the culprit
        return [solo.popleft()]
    size = min(rec.chunk_size(len(queue), workers), len(queue))
    return [queue.popleft() for _ in range(size)]


def _chunk_failed(items: list[Item], exc: BaseException, solo: deque[Item], rec: _Recorder) -> None:
    """A task failed outside the point function (e.g. unpicklable rows): isolate or record."""
    if len(items) > 1:
        solo.extend(items)
    else:
        rec.fail(items[0], f"{type(exc).__name__}: {exc}")


def _abort_pool(pool: ProcessPoolExecutor) -> None:
    # No public API stops running workers before Python 3.14 (terminate_workers);
    # without this, Ctrl-C would wait for every running point to finish.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.join(timeout=5)


def _drive_pool(
    pool: ProcessPoolExecutor,
    queue: deque[Item],
    fn: PointFn,
    path: str,
    rec: _Recorder,
    workers: int,
) -> list[Item]:
    """Run queued points until done or the pool breaks; returns the points lost in a break."""
    inflight: dict[Future[list[PointResult]], list[Item]] = {}
    solo: deque[Item] = deque()
    lost: list[Item] = []
    broken = False
    while not broken and (queue or solo or inflight):
        while not broken and (queue or solo) and len(inflight) < TASKS_PER_WORKER * workers:
            items = _next_chunk(queue, solo, rec, workers)
            try:
                inflight[pool.submit(_run_chunk, fn, path, items)] = items
            except BrokenProcessPool:  # broke since the last wait
                lost.extend(items)
                broken = True
        done = wait(inflight, return_when=FIRST_COMPLETED).done
        if broken or any(isinstance(f.exception(), BrokenProcessPool) for f in done):
            # A broken pool fails every other future promptly; keep what finished.
            broken = True
            done = wait(inflight).done
        for fut in done:
            items = inflight.pop(fut)
            exc = fut.exception()
            if exc is None:
                rec.record_all(fut.result())
            elif isinstance(exc, BrokenProcessPool):
                lost.extend(items)
            else:
                _chunk_failed(items, exc, solo, rec)
    lost.extend(solo)
    return sorted(lost, key=lambda item: item[0])


def _ping() -> bool:
    return True


def _alone(ctx: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """One call in a fresh one-process pool; BrokenProcessPool if that process dies."""
    pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=worker_init, initargs=(os.getpid(),))
    try:
        return pool.submit(fn, *args).result()
    except BaseException:
        _abort_pool(pool)
        raise
    finally:
        pool.shutdown(wait=True)


def _isolate(items: list[Item], fn: PointFn, path: str, rec: _Recorder, ctx: Any) -> None:
    """Rerun points lost in a pool crash one at a time, so a crash names its point.

    Raises:
        RuntimeError: if worker processes die even without running a point.
    """
    checked = False
    for item in items:
        try:
            rec.record_all(_alone(ctx, _run_chunk, fn, path, [item]))
        except BrokenProcessPool as exc:
            # Blaming every point for workers that cannot even start would turn the
            # whole sweep into errors, one pool start at a time.
            if not checked:
                try:
                    _alone(ctx, _ping)
                except BrokenProcessPool:
                    raise RuntimeError(
                        "sweep worker processes die at start-up; is point_fn importable "
                        "and the main module guarded by `if __name__ == '__main__':`?"
                    ) from exc
                checked = True
            rec.fail(item, f"worker process died while evaluating this point ({exc})")
        except Exception as exc:
            rec.fail(item, f"{type(exc).__name__}: {exc}")


def start_method(requested: str | None = None) -> str:
    """The multiprocessing start method for the local pool.

    Default: `fork` on Linux with Python < 3.12 while this process runs no other
    Python thread (workers start in ~10 ms and inherit loaded modules); otherwise
    `forkserver` (or `spawn`), because forking a threaded process can deadlock the
    child and Python >= 3.12 warns about it. Workers started either way must give
    the same results: the point function may only depend on its arguments.
    """
    methods = multiprocessing.get_all_start_methods()
    if requested is not None:
        if requested not in methods:
            raise ValueError(f"start method {requested!r} is not one of {', '.join(methods)}")
        return requested
    if sys.platform == "linux" and sys.version_info < (3, 12) and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _pool_context(method: str, fn: PointFn) -> Any:
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        # Workers fork from a server that has already imported the point function's
        # module (often heavy solver libraries), instead of importing it each.
        # Only effective before the server's first start; harmless afterwards.
        module = getattr(getattr(fn, "func", fn), "__module__", None)  # unwrap partial
        modules = ["solver.analysis.engine"] + (
            [module] if module not in (None, "__main__") else []
        )
        ctx.set_forkserver_preload(modules)
    return ctx


def _run_local_pool(
    todo: list[Item], fn: PointFn, path: str, rec: _Recorder, workers: int, mp_context: str | None
) -> None:
    try:
        pickle.dumps(fn)
    except Exception as exc:
        raise TypeError(
            f"point_fn {fn!r} cannot be sent to worker processes ({exc}); pass a top-level "
            "function of an importable module, or use workers=1"
        ) from exc
    ctx = _pool_context(start_method(mp_context), fn)
    queue = deque(todo)
    while queue:
        n_procs = min(workers, len(queue))
        pool = ProcessPoolExecutor(
            n_procs, mp_context=ctx, initializer=worker_init, initargs=(os.getpid(),)
        )
        try:
            lost = _drive_pool(pool, queue, fn, path, rec, n_procs)
        except BaseException:
            _abort_pool(pool)
            raise
        pool.shutdown(wait=True)
        if lost:
            log.warning(
                "a worker process died; rerunning %d unfinished points one by one", len(lost)
            )
            _isolate(lost, fn, path, rec, ctx)


def _run_dask(
    todo: list[Item],
    fn: PointFn,
    path: str,
    rec: _Recorder,
    scheduler: str,
    files: Sequence[str] | None = None,
) -> None:
    from distributed import as_completed

    client = dask_client(scheduler)
    with client:
        workers = check_dask_workers(client, [path] if files is None else files)
        queue = deque(todo)
        solo: deque[Item] = deque()
        inflight: dict[Any, tuple[Any, list[Item]]] = {}  # by task key
        futures = as_completed(loop=client.loop)  # not the default client: we never set one

        def fill() -> None:
            while (queue or solo) and len(inflight) < TASKS_PER_WORKER * workers:
                items = _next_chunk(queue, solo, rec, workers)
                fut = client.submit(_run_chunk, fn, path, items, pure=False)
                inflight[fut.key] = (fut, items)
                futures.add(fut)

        try:
            fill()
            for fut in futures:
                items = inflight.pop(fut.key)[1]
                try:
                    results = fut.result()
                except Exception as exc:  # e.g. KilledWorker: the task, not the point, failed
                    _chunk_failed(items, exc, solo, rec)
                else:
                    rec.record_all(results)
                fut.release()
                fill()
        except BaseException:
            client.cancel([f for f, _ in inflight.values()])
            raise


def _progress_bar(progress: bool | None, total: int, initial: int) -> Any:
    from tqdm import tqdm

    class Bar(tqdm):
        monitor_interval = 0  # no monitor thread: keep the process fork-safe

    enabled = sys.stderr.isatty() if progress is None else progress
    return Bar(
        total=total,
        initial=initial,
        unit="pt",
        desc="sweep",
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
        smoothing=0.05,
    )


def run_points(
    instance_path: str | os.PathLike[str],
    points: Sequence[dict[str, Any]],
    point_fn: PointFn,
    out_dir: str | os.PathLike[str],
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool | None = None,
    *,
    mp_context: str | None = None,
    worker_files: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Evaluate every point, store each result as it finishes, return the tidy table.

    Args:
        instance_path: the instance file every point overrides.
        points: dotted overrides, one dict per point (see `sweep_spec.build_points`).
        point_fn: picklable top-level `point_fn(instance_path, overrides) -> rows`.
        out_dir: output directory for `results.sqlite` and `results.csv`.
        workers: local worker processes (default `os.cpu_count()`); 1 runs in process.
        scheduler: `tcp://HOST:PORT` of a Dask scheduler; overrides `workers`.
        resume: skip points already stored in `out_dir` instead of refusing to start.
        progress: show a progress bar; None shows it only when stderr is a TTY.
        mp_context: start method of the local pool; default see `start_method`.
        worker_files: the files every Dask worker must read (default: the instance file;
            a batch of files passes them, with an empty `instance_path`).

    Returns:
        All stored results (one row per point and architecture), also written to
        `out_dir/results.csv`.

    Raises:
        ValueError: on no or duplicate points, bad `workers`, or an existing store
            without `resume` (or one made from a different instance file).
        SweepInterrupted: on Ctrl-C, after everything finished is stored.
    """
    # Absolute: a Dask worker (or a process in another directory) resolves it the same way.
    path = os.path.abspath(str(instance_path))
    if not points:
        raise ValueError("no sweep points: give at least one --vary KEY=SPEC")
    keys = [point_key(p) for p in points]
    if len(set(keys)) != len(keys):
        dupes = sorted(k for k, n in Counter(keys).items() if n > 1)
        raise ValueError(f"duplicate sweep points: {', '.join(dupes[:5])}")
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    out = Path(out_dir)
    with ResultStore(out) as store:
        digest = file_sha256(path)
        if store.count() and not resume:
            raise ValueError(
                f"{store.path} already holds {store.count()} results; pass --resume to "
                "continue that sweep, or pick another --out directory"
            )
        stored_digest = store.get_meta("instance_sha256")
        if resume and stored_digest and digest and stored_digest != digest:
            raise ValueError(
                f"{path} changed since the results in {store.path} were computed; "
                "pick another --out directory"
            )
        if digest:
            store.set_meta("instance_sha256", digest)
        store.set_meta("instance_path", os.path.abspath(path))

        done = store.done_keys() if resume else set()
        # Keep the table in this run's point order even if a resumed run reorders.
        store.reindex({k: i for i, k in enumerate(keys) if k in done})
        todo = [(i, dict(points[i])) for i, k in enumerate(keys) if k not in done]
        bar = _progress_bar(progress, len(points), len(points) - len(todo))
        rec = _Recorder(store, keys, points, bar)
        try:
            if todo and scheduler:
                _run_dask(todo, point_fn, path, rec, scheduler, worker_files)
            elif todo and workers == 1:
                rec.record_all(_run_point(point_fn, path, item) for item in todo)
            elif todo:
                _run_local_pool(todo, point_fn, path, rec, workers, mp_context)
        except KeyboardInterrupt as exc:
            n_stored = len(store.done_keys().intersection(keys))
            raise SweepInterrupted(n_stored, len(points), str(out)) from exc
        finally:
            bar.close()
        table = store.load_rows()
    with replacing(out / RESULTS_CSV) as tmp_csv:  # readers never see a half-written CSV
        table.to_csv(tmp_csv, index=False)
    return table
