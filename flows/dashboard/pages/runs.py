"""Runs: every run under --out, newest first, and the collections when the catalog has
a `collections` view."""

from __future__ import annotations

COLLECTIONS_LIMIT = 200


def context(store, runs: list) -> dict:
    return {"runs": runs, "collections": collections(store), "refresh": _refresh(runs)}


def collections(store) -> dict | None:
    """Each collection's batches, newest first, with running totals (the catalog's
    `collections` view); None when there is no collection."""
    if not store.has_view("collections"):
        return None
    columns = [
        "collection", "batch", "state", "run_id", "files", "docs_in", "dedup_kept",
        "final_kept", "cumulative_kept", "cumulative_tokens", "committed_at",
    ]  # fmt: skip
    rows = store.rows(
        f"SELECT {', '.join(columns)} FROM collections ORDER BY collection, batch DESC "
        f"LIMIT {COLLECTIONS_LIMIT}"
    )
    if not rows:
        return None
    return {"columns": columns, "rows": [[r[c] for c in columns] for r in rows]}


def _refresh(runs: list) -> int | None:
    """Seconds until the page reloads itself: only while a run is running."""
    return 5 if any(r.status == "running" for r in runs) else None
