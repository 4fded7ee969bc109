"""Crash-safe SQLite store of sweep results, one committed transaction per point.

The parent process of a sweep is the only writer. WAL mode plus one transaction per
finished point means a kill at any moment leaves either the whole point or nothing.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

STORE_NAME = "results.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    point_key   TEXT PRIMARY KEY,
    idx         INTEGER NOT NULL,
    overrides   TEXT NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT,
    rows        TEXT NOT NULL,
    elapsed_s   REAL,
    finished_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS points_idx ON points (idx);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def _plain(value: Any) -> Any:
    # numpy scalars and arrays (rows often carry them) become plain JSON values.
    for attr in ("item", "tolist"):
        fn = getattr(value, attr, None)
        if callable(fn):
            try:
                return fn()
            except (TypeError, ValueError):
                continue
    raise TypeError(f"value {value!r} of type {type(value).__name__} is not JSON-able")


def to_json(value: Any) -> str:
    """JSON text of a value, converting numpy scalars; NaN is kept (as `NaN`)."""
    return json.dumps(value, default=_plain)


def file_sha256(path: str | os.PathLike[str]) -> str | None:
    """Hex digest of a file's bytes, or None if it is not a readable file."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


class ResultStore:
    """Sweep results in `DIR/results.sqlite`, keyed by `sweep_spec.point_key`.

    Args:
        path: the SQLite file, or a directory (then `DIR/results.sqlite` is used;
            the directory is created).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        p = Path(path)
        if p.suffix != ".sqlite":
            p.mkdir(parents=True, exist_ok=True)
            p = p / STORE_NAME
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
        self.path = p
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per point.
        self._conn = sqlite3.connect(p, isolation_level=None, timeout=30.0)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is safe against a killed process in WAL mode (only an OS crash or
            # power loss can drop the last commits) and avoids an fsync per point.
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error:
            self._conn.close()  # e.g. "file is not a database": the caller reports it
            raise

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def count(self) -> int:
        """Number of stored points."""
        return int(self._conn.execute("SELECT COUNT(*) FROM points").fetchone()[0])

    def done_keys(self) -> set[str]:
        """Keys of all stored points, whatever their status."""
        return {row[0] for row in self._conn.execute("SELECT point_key FROM points")}

    def next_index(self) -> int:
        """One past the largest stored point index (0 for an empty store)."""
        row = self._conn.execute("SELECT MAX(idx) FROM points").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def put(
        self,
        point_key: str,
        overrides: dict[str, Any],
        rows: list[dict[str, Any]],
        status: str,
        reason: str | None,
        elapsed_s: float | None,
        *,
        index: int | None = None,
    ) -> None:
        """Store one finished point in its own transaction (replacing any earlier one).

        Args:
            point_key: the point's canonical key.
            overrides: the point's dotted overrides.
            rows: the point function's rows (one per architecture).
            status: `ok` or `error` for the point as a whole.
            reason: why it failed, if it did.
            elapsed_s: wall time of the point function.
            index: position in the sweep's point order; default after the last one.

        Raises:
            TypeError: if overrides or rows are not JSON-serialisable.
        """
        # Serialise before opening the transaction so a bad row never leaves it open.
        overrides_json = to_json(overrides)
        rows_json = to_json(rows)
        finished_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        with self._transaction():
            idx = self.next_index() if index is None else index
            self._conn.execute(
                "INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (point_key, idx, overrides_json, status, reason, rows_json, elapsed_s, finished_at),
            )

    def reindex(self, indices: dict[str, int]) -> None:
        """Set the order index of stored points (keys not stored are ignored)."""
        with self._transaction():
            self._conn.executemany(
                "UPDATE points SET idx = ? WHERE point_key = ?",
                [(i, k) for k, i in indices.items()],
            )

    def get_meta(self, key: str) -> str | None:
        """A stored run property (e.g. the instance file's digest), or None."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a run property."""
        with self._transaction():
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    def records(self) -> list[dict[str, Any]]:
        """All stored points in sweep order, with overrides and rows decoded."""
        cur = self._conn.execute(
            "SELECT point_key, idx, overrides, status, reason, rows, elapsed_s, finished_at "
            "FROM points ORDER BY idx, point_key"
        )
        names = [d[0] for d in cur.description]
        out = []
        for values in cur:
            rec = dict(zip(names, values, strict=True))
            rec["overrides"] = json.loads(rec["overrides"])
            rec["rows"] = json.loads(rec["rows"])
            out.append(rec)
        return out

    def load_rows(self) -> pd.DataFrame:
        """Tidy table: one row per point and architecture, in sweep order.

        Columns are the override keys first, then the row columns in first-seen
        order. A point without rows (e.g. one whose function raised) appears once,
        with its point `status` and `reason`. A row column that clashes with an
        override key is kept as `<key>_result`.
        """
        import pandas as pd  # lazily: sweep worker processes import this module too

        records = self.records()
        override_cols: dict[str, None] = {}
        row_cols: dict[str, None] = {}
        table: list[dict[str, Any]] = []
        for rec in records:
            overrides = rec["overrides"]
            override_cols.update(dict.fromkeys(overrides))
            rows = rec["rows"] or [{"status": rec["status"], "reason": rec["reason"]}]
            for row in rows:
                flat = dict(overrides)
                for k, v in row.items():
                    col = f"{k}_result" if k in overrides else k
                    row_cols.setdefault(col, None)
                    flat[col] = v
                table.append(flat)
        columns = list(override_cols) + [c for c in row_cols if c not in override_cols]
        return pd.DataFrame(table, columns=columns)


class _Transaction:
    """`BEGIN IMMEDIATE` ... `COMMIT`, rolled back on any exception (even Ctrl-C)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        else:
            self._conn.execute("ROLLBACK")
