"""CBC, solved by a long-lived worker process that drives the library of the `cbcbox` package.

The stage-level scheme solves many small programs; starting the `cbc` binary for each (PuLP's
command-line route) costs more than the solves. One worker process (`python -m
solver.backends.cbc_library`, started on first use; it never loads OR-Tools, whose copy of the
COIN-OR libraries clashes with cbcbox's) loads libCbc once and solves programs sent as arrays
over its stdin/stdout pipes. If the parent dies the pipe closes and the worker exits; a worker
that stops answering is replaced.
"""

from __future__ import annotations

import atexit
import math
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from typing import Any

from formulations.program import IntegerProgram
from solver.backends.base import Backend, Capabilities, Solution, Status

# Seconds a worker may take beyond a program's own time limit before it is replaced.
GRACE_S = 10.0
_LOCK = threading.Lock()
_WORKER: subprocess.Popen[bytes] | None = None


def _bound(x: float) -> float:
    return 1e30 if x == math.inf else (-1e30 if x == -math.inf else float(x))


def _start() -> subprocess.Popen[bytes]:
    from solver.backends import cbc_library

    cbc_library.find_library()  # a missing cbcbox fails here, in this process, with its message
    return subprocess.Popen(
        [sys.executable, "-m", "solver.backends.cbc_library"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def _stop() -> None:
    global _WORKER
    if _WORKER is not None:
        proc = _WORKER
        _WORKER = None
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


atexit.register(_stop)


def _read(proc: subprocess.Popen[bytes], size: int, deadline: float) -> bytes:
    assert proc.stdout is not None
    chunks, left = [], size
    fd = proc.stdout.fileno()
    while left:
        wait = deadline - time.monotonic()
        if wait <= 0 or not select.select([fd], [], [], wait)[0]:
            raise TimeoutError
        chunk = os.read(fd, left)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _ask(payload: dict[str, Any], wait_s: float) -> dict[str, Any]:
    """Send one program to the worker and wait for its answer (restarting a dead worker)."""
    global _WORKER
    with _LOCK:
        if _WORKER is None or _WORKER.poll() is not None:
            _stop()
            _WORKER = _start()
        proc = _WORKER
        assert proc.stdin is not None
        deadline = time.monotonic() + wait_s
        try:
            data = pickle.dumps(payload)
            proc.stdin.write(len(data).to_bytes(8, "little") + data)
            proc.stdin.flush()
            size = int.from_bytes(_read(proc, 8, deadline), "little")
            return dict(pickle.loads(_read(proc, size, deadline)))
        except TimeoutError:
            reason = f"CBC worker gave no answer within {wait_s:.0f} s"
        except (EOFError, OSError) as exc:
            reason = f"CBC worker failed: {type(exc).__name__}"
        _stop()
        return {"kind": "error", "message": reason}


class CbcBackend(Backend):
    """Exact CBC solve (one thread) in the CBC worker process."""

    name = "cbc"
    capabilities = Capabilities(continuous=True, proves_bound=True, duals=True, relaxation=True)

    @staticmethod
    def _payload(
        prob: IntegerProgram, time_limit_s: float, rel_gap: float, relaxed: bool
    ) -> dict[str, Any]:
        """The program as column-wise arrays (CBC's compressed sparse column input)."""
        n = len(prob.variables)
        cols: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        for r, con in enumerate(prob.constraints):
            for i, c in con.terms.items():
                cols[i].append((r, c))
        start: list[int] = [0]
        index: list[int] = []
        value: list[float] = []
        for col in cols:
            index.extend(r for r, _ in col)
            value.extend(c for _, c in col)
            start.append(len(index))
        cost = [0.0] * n
        for i, c in prob.objective.items():
            cost[i] = c
        return {
            "num_cols": n,
            "num_rows": len(prob.constraints),
            "start": start,
            "index": index,
            "value": value,
            "col_lo": [_bound(v.lo) for v in prob.variables],
            "col_hi": [_bound(v.hi) for v in prob.variables],
            "cost": cost,
            "row_lo": [_bound(c.lo) for c in prob.constraints],
            "row_hi": [_bound(c.hi) for c in prob.constraints],
            "maximize": prob.maximize,
            "integer": [i for i, v in enumerate(prob.variables) if v.integer],
            "relaxed": relaxed,
            "time_limit_s": float(time_limit_s),
            "abs_gap": 0.999 if prob.is_integral() else 1e-9,
            "rel_gap": float(rel_gap),
        }

    def relax(self, prob: IntegerProgram, time_limit_s: float) -> Solution:
        return self.solve(prob, time_limit_s, relaxed=True)

    def solve(
        self, prob: IntegerProgram, time_limit_s: float, rel_gap: float = 0.0, relaxed: bool = False
    ) -> Solution:
        self.check(prob)
        trivial = self.trivial(prob)
        if trivial is not None:
            return trivial
        payload = self._payload(prob, time_limit_s, rel_gap, relaxed)
        out = _ask(payload, max(float(time_limit_s), 1e-3) + GRACE_S)
        elapsed = float(out.get("elapsed", 0.0))
        if out["kind"] == "error":
            return Solution(Status.ERROR, solve_s=elapsed, message=out["message"])
        if out["kind"] == "lp":
            if out["code"] == 2:
                return Solution(Status.INFEASIBLE, solve_s=elapsed)
            if out["code"] != 0:
                message = f"CBC LP status {out['code']}"
                return Solution(Status.ERROR, solve_s=elapsed, message=message)
            values = out["values"]
            objective = prob.objective_value(values)
            return Solution(
                Status.OPTIMAL, values, objective, objective, elapsed, duals=out["duals"]
            )
        if out["infeasible"]:
            return Solution(Status.INFEASIBLE, solve_s=elapsed)
        if not out["has_solution"]:
            status = Status.TIME_LIMIT if out["time_limit"] else Status.ERROR
            return Solution(status, solve_s=elapsed, message="CBC: no incumbent")
        values = out["values"]
        objective = prob.objective_value(values)
        proven = out["proven"]
        bound = objective if proven else out["bound"] + prob.objective_constant
        return Solution(
            Status.OPTIMAL if proven else Status.FEASIBLE,
            values=values,
            objective=objective,
            bound=bound,
            solve_s=elapsed,
        )
