"""fastText `predict` on several cores with one loaded model.

fastText's Python binding holds the GIL for the whole of `predict` (measured: a pure-Python
thread ran at 4% of its speed while predict ran), so threads sharing one model take turns.
Instead, `PredictPool` forks `processes - 1` helpers after the model is loaded: each sees the
parent's model through copy-on-write pages, which predict only reads, so the model is not
copied (a second loaded process would hold a second copy: 2.7 GB more for PreSelect's).
A batch is cut into contiguous slices, the parent predicts the first while the helpers do
the rest, and the slices are joined in input order: the same answers as one call.

Each helper gets its slice through its own pipe, written by the calling thread *before* the
parent's own predict starts. (A `multiprocessing.Pool` sends work from a background thread,
which cannot run while predict holds the GIL: the helpers then started only after the
parent's slice was done, and two processes measured 1.0x one.)

>>> pool = PredictPool(model, processes=2)          # doctest: +SKIP
>>> labels, probs = pool.predict(lines, k=-1)      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os

MIN_LINES_PER_PROCESS = 64  # below this a slice costs more to ship than to predict


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _serve(model, conn) -> None:
    """A helper's loop: (lines, k) in, predict's (labels, probs) out, until None or EOF."""
    with contextlib.suppress(EOFError, KeyboardInterrupt):
        while (job := conn.recv()) is not None:
            lines, k = job
            labels, probs = model.predict(lines, k=k)
            conn.send((list(labels), list(probs)))


class PredictPool:
    """`predict(lines, k)` as the model's, run by `processes` processes (1: in this one)."""

    def __init__(self, model, processes: int = 1):
        self.model = model
        # A daemonic process may not have children (a Dask worker under its nanny is one):
        # there predict runs in this process; such runners already give each core a process.
        forkable = "fork" in multiprocessing.get_all_start_methods()
        forkable = forkable and not multiprocessing.current_process().daemon
        self.processes = max(1, processes) if forkable else 1
        self._helpers: list[tuple[multiprocessing.Process, object]] = []

    def _start(self) -> None:
        context = multiprocessing.get_context("fork")
        for _ in range(self.processes - 1):
            ours, theirs = context.Pipe()
            # forked after the model is loaded: the helper reads it through shared pages
            helper = context.Process(target=_serve, args=(self.model, theirs), daemon=True)
            helper.start()
            theirs.close()
            self._helpers.append((helper, ours))

    def predict(self, lines: list[str], k: int = 1):
        n = min(self.processes, len(lines) // MIN_LINES_PER_PROCESS)
        if n <= 1:
            return self.model.predict(lines, k=k)
        if not self._helpers:
            self._start()
        step = -(-len(lines) // n)
        slices = [lines[i : i + step] for i in range(0, len(lines), step)]
        busy = self._helpers[: len(slices) - 1]
        for (_, conn), piece in zip(busy, slices[1:], strict=True):
            conn.send((piece, k))  # returns once the helper has read it: it is working now
        labels, probs = self.model.predict(slices[0], k=k)
        labels, probs = list(labels), list(probs)
        for _, conn in busy:
            more_labels, more_probs = conn.recv()
            labels += more_labels
            probs += more_probs
        return labels, probs

    def close(self) -> None:
        for helper, conn in self._helpers:
            with contextlib.suppress(OSError):
                conn.send(None)
            conn.close()
            helper.join(timeout=5)
            if helper.is_alive():
                helper.kill()
                helper.join()
        self._helpers = []

    def __del__(self):
        # at interpreter shutdown this may fail: the helpers are daemons and go with it
        with contextlib.suppress(Exception):
            self.close()
