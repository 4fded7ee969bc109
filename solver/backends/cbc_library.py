"""The CBC worker: the C interface of the library the `cbcbox` package installs, driven through
`ctypes` in a process of its own.

CBC is found through the installed package (`cbcbox.cbc_dist_dir()`), never on the PATH. It runs
in a separate process because OR-Tools ships its own build of the same COIN-OR libraries under
the same sonames, and one process can hold only one library per soname. This module imports
nothing of the solver's own (the worker starts fast and stays small): it takes a program as
plain arrays and returns plain values.
"""

from __future__ import annotations

import ctypes
import glob
import math
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

from solver.errors import BackendUnavailable

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
        lookup = _loader(path)
        self._fns = {
            name: ctypes.CFUNCTYPE(res, *args)(lookup(name))
            for name, (args, res) in self.SIGNATURES.items()
        }

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_fns"][name]
        except KeyError:
            raise AttributeError(name) from None


def _loader(path: str) -> Callable[[str], Any]:
    """Symbol lookup in libCbc, loaded normally: this runs in the CBC worker process, which
    never loads OR-Tools (whose own build of the same COIN-OR libraries shares their sonames)."""
    lib = ctypes.CDLL(path)
    return lambda name: ctypes.cast(getattr(lib, name), ctypes.c_void_p).value


def find_library() -> str:
    """The path of libCbc in the installed cbcbox package; BackendUnavailable names the fix."""
    try:
        import cbcbox
    except ImportError as exc:
        raise BackendUnavailable(
            "backend cbc: CBC not found; install it with `pip install 'pulp[cbc]'` "
            "(package cbcbox), or use --backend highs"
        ) from exc
    lib_dir = os.path.join(cbcbox.cbc_dist_dir(), "lib")
    found = sorted(
        glob.glob(os.path.join(lib_dir, "libCbc.so"))
        + glob.glob(os.path.join(lib_dir, "libCbc.*.dylib"))
        + glob.glob(os.path.join(lib_dir, "*Cbc*.dll"))
    )
    if not found:
        raise BackendUnavailable(
            f"backend cbc: CBC library not found in {lib_dir} (package cbcbox); reinstall it "
            "with `pip install --force-reinstall cbcbox`, or use --backend highs"
        )
    return found[0]


def _library() -> _Lib:
    """libCbc, loaded once per (worker) process."""
    global _LIB
    with _LOCK:
        if _LIB is None:
            _LIB = _Lib(find_library())
        return _LIB


def _array(values: Any, kind: type) -> tuple[Any, np.ndarray]:
    data = np.ascontiguousarray(values, dtype=np.float64 if kind is ctypes.c_double else np.int32)
    return data.ctypes.data_as(ctypes.POINTER(kind)), data


def _bound(x: float) -> float:
    return 1e30 if x == math.inf else (-1e30 if x == -math.inf else float(x))


def solve_arrays(p: dict[str, Any]) -> dict[str, Any]:
    """Solve one program given as arrays (see `CbcBackend._payload`); plain values back."""
    lib = _library()
    n, m = p["num_cols"], p["num_rows"]
    keep = []
    args = []
    for data, kind in (
        (p["start"], ctypes.c_int),
        (p["index"], ctypes.c_int),
        (p["value"], ctypes.c_double),
        (p["col_lo"], ctypes.c_double),
        (p["col_hi"], ctypes.c_double),
        (p["cost"], ctypes.c_double),
        (p["row_lo"], ctypes.c_double),
        (p["row_hi"], ctypes.c_double),
    ):
        pointer, array = _array(data, kind)
        args.append(pointer)
        keep.append(array)
    model = lib.Cbc_newModel()
    try:
        lib.Cbc_loadProblem(model, n, m, *args)
        lib.Cbc_setObjSense(model, -1.0 if p["maximize"] else 1.0)
        integer = bool(p["integer"]) and not p["relaxed"]
        if integer:
            for i in p["integer"]:
                lib.Cbc_setInteger(model, int(i))
        lib.Cbc_setLogLevel(model, 0)
        lib.Cbc_setIntParam(model, _INT_PARAM_LOG_LEVEL, 0)
        lib.Cbc_setIntParam(model, _INT_PARAM_THREADS, 1)
        lib.Cbc_setMaximumSeconds(model, max(float(p["time_limit_s"]), 1e-3))
        start = time.perf_counter()
        if not integer:
            code = lib.Cbc_solveLinearProgram(model)
            out: dict[str, Any] = {"kind": "lp", "code": int(code)}
            if code == 0:
                out["values"] = np.ctypeslib.as_array(lib.Cbc_getColSolution(model), (n,)).tolist()
                out["duals"] = (
                    np.ctypeslib.as_array(lib.Cbc_getRowPrice(model), (m,)).tolist() if m else []
                )
        else:
            lib.Cbc_setAllowableGap(model, float(p["abs_gap"]))
            lib.Cbc_setAllowableFractionGap(model, float(p["rel_gap"]))
            lib.Cbc_solve(model)
            proven = bool(lib.Cbc_isProvenOptimal(model))
            out = {
                "kind": "mip",
                "infeasible": bool(lib.Cbc_isProvenInfeasible(model)),
                "proven": proven,
                "has_solution": lib.Cbc_numberSavedSolutions(model) > 0 or proven,
                "time_limit": bool(lib.Cbc_isSecondsLimitReached(model)),
                "bound": float(lib.Cbc_getBestPossibleObjValue(model)),
            }
            if out["has_solution"] and not out["infeasible"]:
                out["values"] = np.ctypeslib.as_array(lib.Cbc_getColSolution(model), (n,)).tolist()
        out["elapsed"] = time.perf_counter() - start
        return out
    finally:
        lib.Cbc_deleteModel(model)
        del keep


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    """The worker's loop: a program in, its result out, until the parent goes away.

    Messages are pickles behind an 8-byte little-endian length, between this process and the
    parent that started it (never anyone else: the pipes are private to the two)."""
    while True:
        head = inp.read(8)
        if len(head) < 8:
            return
        payload = pickle.loads(inp.read(int.from_bytes(head, "little")))
        try:
            result = solve_arrays(payload)
        except Exception as exc:  # report, keep serving
            result = {"kind": "error", "message": f"{type(exc).__name__}: {exc}"}
        data = pickle.dumps(result)
        out.write(len(data).to_bytes(8, "little") + data)
        out.flush()


def main() -> None:
    """`python -m solver.backends.cbc_library`: serve on stdin/stdout. Clp prints to stdout
    whatever its log level, so the messages keep a private copy of the pipe and fd 1 goes to
    /dev/null."""
    out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    serve(sys.stdin.buffer, out)


if __name__ == "__main__":
    main()
