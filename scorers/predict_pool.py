"""fastText `predict` on several cores with one loaded model.

fastText's Python binding holds the GIL for the whole of `predict` (measured: a pure-Python
thread ran at 4% of its speed while predict ran), so threads sharing one model take turns.
Instead, `PredictPool` forks `processes - 1` helpers after the model is loaded: each sees the
parent's model through copy-on-write pages, which predict only reads, so the model is not
copied (a second loaded process would hold a second copy: 2.7 GB more for PreSelect's).
A batch is cut into contiguous slices, the parent predicts the first while the helpers do
the rest, and the slices are joined in input order: the same answers as one call.

>>> pool = PredictPool(model, processes=2)          # doctest: +SKIP
>>> labels, probs = pool.predict(lines, k=-1)      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os

# Models the forked helpers read, by pool: set before the fork, so each helper inherits it.
_MODELS: dict[int, object] = {}
MIN_LINES_PER_PROCESS = 64  # below this a slice costs more to ship than to predict


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _predict(args):
    key, lines, k = args
    labels, probs = _MODELS[key].predict(lines, k=k)
    return list(labels), list(probs)


class PredictPool:
    """`predict(lines, k)` as the model's, run by `processes` processes (1: in this one)."""

    def __init__(self, model, processes: int = 1):
        self.model = model
        # A daemonic process may not have children (a Dask worker under its nanny is one):
        # there predict runs in this process; such runners already give each core a process.
        forkable = "fork" in multiprocessing.get_all_start_methods()
        forkable = forkable and not multiprocessing.current_process().daemon
        self.processes = max(1, processes) if forkable else 1
        self._pool = None

    def predict(self, lines: list[str], k: int = 1):
        n = min(self.processes, len(lines) // MIN_LINES_PER_PROCESS)
        if n <= 1:
            return self.model.predict(lines, k=k)
        if self._pool is None:
            _MODELS[id(self)] = self.model
            self._pool = multiprocessing.get_context("fork").Pool(self.processes - 1)
        step = -(-len(lines) // n)
        slices = [lines[i : i + step] for i in range(0, len(lines), step)]
        pending = self._pool.map_async(_predict, [(id(self), s, k) for s in slices[1:]])
        first = self.model.predict(slices[0], k=k)
        rest = pending.get()
        labels = list(itertools.chain(first[0], *(r[0] for r in rest)))
        probs = list(itertools.chain(first[1], *(r[1] for r in rest)))
        return labels, probs

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
        _MODELS.pop(id(self), None)

    def __del__(self):
        # at interpreter shutdown this may fail: the helpers are daemons and go with it
        with contextlib.suppress(Exception):
            self.close()
