"""CBC in process, through the C interface of the library the `cbcbox` package installs.

The stage-level scheme solves many small programs; starting a CBC process for each (PuLP's
command-line route) costs more than the solves. The library is found through the installed
package (`cbcbox.cbc_dist_dir()`), never on the PATH; the binding is a few `ctypes` calls.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from formulations.program import IntegerProgram
from solver.backends.base import Backend, Capabilities, Solution, Status

_INT_PARAM_THREADS = 9
_INT_PARAM_LOG_LEVEL = 11
_LOCK = threading.Lock()
_LIB: _Lib | None = None


class _Lib:
    """The C functions of libCbc used here, as ctypes callables."""

    SIGNATURES: dict[str, tuple[list[Any], Any]] = {
        "Cbc_newModel": ([], ctypes.c_void_p),
        "Cbc_deleteModel": ([ctypes.c_void_p], None),
        "Cbc_loadProblem": (
            [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
            + [ctypes.POINTER(ctypes.c_int)] * 2  # type: ignore[list-item]
            + [ctypes.POINTER(ctypes.c_double)] * 6,
            None,
        ),
        "Cbc_setObjSense": ([ctypes.c_void_p, ctypes.c_double], None),
        "Cbc_setInteger": ([ctypes.c_void_p, ctypes.c_int], None),
        "Cbc_setLogLevel": ([ctypes.c_void_p, ctypes.c_int], None),
        "Cbc_setMaximumSeconds": ([ctypes.c_void_p, ctypes.c_double], None),
        "Cbc_setAllowableGap": ([ctypes.c_void_p, ctypes.c_double], None),
        "Cbc_setAllowableFractionGap": ([ctypes.c_void_p, ctypes.c_double], None),
        "Cbc_setIntParam": ([ctypes.c_void_p, ctypes.c_int, ctypes.c_int], None),
        "Cbc_solve": ([ctypes.c_void_p], ctypes.c_int),
        "Cbc_solveLinearProgram": ([ctypes.c_void_p], ctypes.c_int),
        "Cbc_isProvenOptimal": ([ctypes.c_void_p], ctypes.c_int),
        "Cbc_isProvenInfeasible": ([ctypes.c_void_p], ctypes.c_int),
        "Cbc_isSecondsLimitReached": ([ctypes.c_void_p], ctypes.c_int),
        "Cbc_numberSavedSolutions": ([ctypes.c_void_p], ctypes.c_int),
        "Cbc_getColSolution": ([ctypes.c_void_p], ctypes.POINTER(ctypes.c_double)),
        "Cbc_getRowPrice": ([ctypes.c_void_p], ctypes.POINTER(ctypes.c_double)),
        "Cbc_getObjValue": ([ctypes.c_void_p], ctypes.c_double),
        "Cbc_getBestPossibleObjValue": ([ctypes.c_void_p], ctypes.c_double),
    }

    def __init__(self, path: str) -> None:
        lookup = _isolated(path)
        self._fns = {
            name: ctypes.CFUNCTYPE(res, *args)(lookup(name))
            for name, (args, res) in self.SIGNATURES.items()
        }

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_fns"][name]
        except KeyError:
            raise AttributeError(name) from None


def _isolated(path: str) -> Callable[[str], Any]:
    """Load `path` in a link-map namespace of its own where the platform allows (glibc's
    dlmopen): OR-Tools ships its own build of the same COIN-OR libraries under the same
    sonames, and one process can hold only one library per soname otherwise."""
    libc = ctypes.CDLL(None)
    if hasattr(libc, "dlmopen"):
        libc.dlmopen.restype = ctypes.c_void_p
        libc.dlmopen.argtypes = [ctypes.c_long, ctypes.c_char_p, ctypes.c_int]
        libc.dlsym.restype = ctypes.c_void_p
        libc.dlsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        libc.dlerror.restype = ctypes.c_char_p
        handle = libc.dlmopen(-1, path.encode(), os.RTLD_NOW)  # -1: LM_ID_NEWLM
        if not handle:
            raise RuntimeError(f"cannot load CBC from {path}: {libc.dlerror()!r}")

        def lookup(name: str) -> int:
            address = libc.dlsym(handle, name.encode())
            if not address:
                raise RuntimeError(f"CBC library {path} lacks {name}")
            return int(address)

        return lookup
    lib = ctypes.CDLL(path)
    return lambda name: ctypes.cast(getattr(lib, name), ctypes.c_void_p).value


def _library() -> _Lib:
    """libCbc from the installed cbcbox package (loaded once per process)."""
    global _LIB
    with _LOCK:
        if _LIB is None:
            try:
                import cbcbox
            except ImportError as exc:
                raise RuntimeError(
                    "CBC not found: install it with `pip install 'pulp[cbc]'` (package cbcbox)"
                ) from exc
            lib_dir = os.path.join(cbcbox.cbc_dist_dir(), "lib")
            found = sorted(
                glob.glob(os.path.join(lib_dir, "libCbc.so"))
                + glob.glob(os.path.join(lib_dir, "libCbc.*.dylib"))
                + glob.glob(os.path.join(lib_dir, "*Cbc*.dll"))
            )
            if not found:
                raise RuntimeError(f"CBC library not found in {lib_dir} (package cbcbox)")
            _LIB = _Lib(found[0])
        return _LIB


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Clp's LP solve prints to stdout whatever the log level: send fd 1 to /dev/null."""
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def _array(values: Any, kind: type) -> tuple[Any, np.ndarray]:
    data = np.ascontiguousarray(values, dtype=np.float64 if kind is ctypes.c_double else np.int32)
    return data.ctypes.data_as(ctypes.POINTER(kind)), data


def _bound(x: float) -> float:
    return 1e30 if x == math.inf else (-1e30 if x == -math.inf else float(x))


class CbcBackend(Backend):
    """Exact CBC solve in this process (one thread)."""

    name = "cbc"
    capabilities = Capabilities(continuous=True, proves_bound=True, duals=True, relaxation=True)

    def __init__(self) -> None:
        self.lib = _library()

    def _load(self, prob: IntegerProgram, relaxed: bool) -> tuple[int, list]:
        lib = self.lib
        n = len(prob.variables)
        cols: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        for r, con in enumerate(prob.constraints):
            for i, c in con.terms.items():
                cols[i].append((r, c))
        start, index, value = [0], [], []
        for col in cols:
            for r, c in col:
                index.append(r)
                value.append(c)
            start.append(len(index))
        cost = np.zeros(n)
        for i, c in prob.objective.items():
            cost[i] = c
        keep = []
        args = []
        for data, kind in (
            (start, ctypes.c_int),
            (index, ctypes.c_int),
            (value, ctypes.c_double),
            ([_bound(v.lo) for v in prob.variables], ctypes.c_double),
            ([_bound(v.hi) for v in prob.variables], ctypes.c_double),
            (cost, ctypes.c_double),
            ([_bound(c.lo) for c in prob.constraints], ctypes.c_double),
            ([_bound(c.hi) for c in prob.constraints], ctypes.c_double),
        ):
            pointer, array = _array(data, kind)
            args.append(pointer)
            keep.append(array)
        model = lib.Cbc_newModel()
        lib.Cbc_loadProblem(model, n, len(prob.constraints), *args)
        lib.Cbc_setObjSense(model, -1.0 if prob.maximize else 1.0)
        if not relaxed:
            for i, v in enumerate(prob.variables):
                if v.integer:
                    lib.Cbc_setInteger(model, i)
        lib.Cbc_setLogLevel(model, 0)
        lib.Cbc_setIntParam(model, _INT_PARAM_LOG_LEVEL, 0)
        lib.Cbc_setIntParam(model, _INT_PARAM_THREADS, 1)
        return model, keep

    def relax(self, prob: IntegerProgram, time_limit_s: float) -> Solution:
        return self.solve(prob, time_limit_s, relaxed=True)

    def solve(
        self, prob: IntegerProgram, time_limit_s: float, rel_gap: float = 0.0, relaxed: bool = False
    ) -> Solution:
        self.check(prob)
        lib = self.lib
        n = len(prob.variables)
        integer = not relaxed and any(v.integer for v in prob.variables)
        model, keep = self._load(prob, relaxed or not integer)
        try:
            lib.Cbc_setMaximumSeconds(model, max(float(time_limit_s), 1e-3))
            start = time.perf_counter()
            if not integer:
                with _quiet():
                    code = lib.Cbc_solveLinearProgram(model)
                elapsed = time.perf_counter() - start
                if code == 2:
                    return Solution(Status.INFEASIBLE, solve_s=elapsed)
                if code != 0:
                    return Solution(Status.ERROR, solve_s=elapsed, message=f"CBC LP status {code}")
                values = list(np.ctypeslib.as_array(lib.Cbc_getColSolution(model), (n,)))
                m = len(prob.constraints)
                prices: list[float] = []
                if m:
                    prices = list(np.ctypeslib.as_array(lib.Cbc_getRowPrice(model), (m,)))
                objective = prob.objective_value(values)
                return Solution(Status.OPTIMAL, values, objective, objective, elapsed, duals=prices)
            lib.Cbc_setAllowableGap(model, 0.999 if prob.is_integral() else 1e-9)
            lib.Cbc_setAllowableFractionGap(model, float(rel_gap))
            with _quiet():
                lib.Cbc_solve(model)
            elapsed = time.perf_counter() - start
            if lib.Cbc_isProvenInfeasible(model):
                return Solution(Status.INFEASIBLE, solve_s=elapsed)
            proven = bool(lib.Cbc_isProvenOptimal(model))
            has_solution = lib.Cbc_numberSavedSolutions(model) > 0 or proven
            if not has_solution:
                status = Status.TIME_LIMIT if lib.Cbc_isSecondsLimitReached(model) else Status.ERROR
                return Solution(status, solve_s=elapsed, message="CBC: no incumbent")
            values = list(np.ctypeslib.as_array(lib.Cbc_getColSolution(model), (n,)))
            objective = prob.objective_value(values)
            bound = objective
            if not proven:
                bound = float(lib.Cbc_getBestPossibleObjValue(model)) + prob.objective_constant
            return Solution(
                Status.OPTIMAL if proven else Status.FEASIBLE,
                values=values,
                objective=objective,
                bound=bound,
                solve_s=elapsed,
            )
        finally:
            lib.Cbc_deleteModel(model)
            del keep
