"""The dashboard's one DuckDB connection: the catalog's locked-down connection
(`flows.catalog.connect`), reopened when a run appears or a stage finishes.

The catalog registers its JSON-backed tables (`runs`, `stage_stats`) on the connection
itself, and DuckDB cursors do not see such registrations, so requests share the one
connection under a lock; DuckDB still runs each query on every core.
"""

from __future__ import annotations

import threading
from pathlib import Path

from thresher.flows import catalog
from thresher.scorers.errors import InputError


class Store:
    """Read-only queries over the catalog of `out`; `rows()` returns dicts."""

    def __init__(self, out: str | Path):
        self.root = Path(out).resolve()
        self._lock = threading.Lock()
        self._con = None
        self._signature: tuple = ()
        self.views: set[str] = set()

    def check(self) -> None:
        """Fail with one line unless `out` exists (a misspelt path). It may hold no run
        yet: a service's dashboard starts before the first scheduled run, and shows runs as
        they appear."""
        if not self.root.is_dir():
            raise InputError(
                f"--out {self.root} does not exist: pass the directory `thresher run --out` wrote"
            )

    def run_dirs(self) -> list[Path]:
        return sorted(p.parent for p in self.root.glob("runs/*/run.json"))

    def _current_signature(self) -> tuple:
        # Stages publish their outputs before their stats file, and run.json changes at
        # every stage, so these files' times say when the views may have changed.
        files = [*self.root.glob("runs/*/run.json"), *self.root.glob("runs/*/stats/*.json")]
        files += self.root.glob("mixtures/*/mixture.parquet")
        stamps = []
        for f in sorted(files):
            try:
                stamps.append((str(f), f.stat().st_mtime_ns))
            except OSError:  # replaced while we looked: the next request sees it
                continue
        return tuple(stamps)

    def _connection(self):
        signature = self._current_signature()
        if self._con is None or signature != self._signature:
            if self._con is not None:
                self._con.close()
            self._con = catalog.connect(self.root)
            self._signature = signature
            self.views = {
                r[0]
                for r in self._con.execute(
                    "SELECT view_name FROM duckdb_views() WHERE NOT internal"
                ).fetchall()
            }
        return self._con

    def rows(self, sql: str, params: list | tuple = ()) -> list[dict]:
        """Rows of one parameterised SELECT written in this package (never user SQL)."""
        with self._lock:
            cur = self._connection().execute(sql, list(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def one(self, sql: str, params: list | tuple = ()) -> dict | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def has_view(self, name: str) -> bool:
        with self._lock:
            self._connection()
            return name in self.views

    def columns(self, view: str) -> list[str]:
        with self._lock:
            cur = self._connection().execute(f'SELECT * FROM "{view}" LIMIT 0')
            return [d[0] for d in cur.description]
