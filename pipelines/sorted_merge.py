"""Merge runs sorted by the same key into one sorted stream, holding about one batch per run.

This is how a stage's per-partition outputs become one sorted file (e.g.
dedup/clusters.parquet) without gathering them in one worker's memory. Keys must be
unique across all runs (they are: a document id is in one cluster of one partition).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa


def _key(table: pa.Table, keys: list[str], row: int) -> tuple:
    return tuple(table[k][row].as_py() for k in keys)


def _prefix_through(table: pa.Table, keys: list[str], bound: tuple) -> int:
    """Rows of a sorted table whose key is <= bound (binary search: a run's buffer is sorted)."""
    lo, hi = 0, table.num_rows
    while lo < hi:
        mid = (lo + hi) // 2
        if _key(table, keys, mid) <= bound:
            lo = mid + 1
        else:
            hi = mid
    return lo


def merge_sorted(runs: Iterable[Iterator[pa.Table]], keys: list[str]) -> Iterator[pa.Table]:
    """Tables whose concatenation is every run's rows sorted by `keys`.

    Each step reads one more batch for every run whose buffer is empty, takes the
    smallest "last key" among the buffers as a watermark, and emits every buffered row up
    to it: no run can still hold a smaller key, since each is sorted.
    """
    runs = [iter(r) for r in runs]
    buffers: list[pa.Table | None] = [None] * len(runs)
    live = set(range(len(runs)))
    while True:
        for i in sorted(live):
            while buffers[i] is None or buffers[i].num_rows == 0:
                batch = next(runs[i], None)
                if batch is None:
                    live.discard(i)
                    break
                buffers[i] = batch
        if not live:
            break
        mark = min(_key(buffers[i], keys, buffers[i].num_rows - 1) for i in live)
        out = []
        for i in live:
            n = _prefix_through(buffers[i], keys, mark)
            if n:
                out.append(buffers[i].slice(0, n))
                buffers[i] = buffers[i].slice(n)
        yield pa.concat_tables(out).sort_by([(k, "ascending") for k in keys])
